"""Gate latency and throughput with a 1,000-pattern constitution.

Compares, on the same single simple commands:

* Charter's gate (tree-sitter parse + indexed token matching + directory checks),
* a naive loop of ``fnmatch`` over the raw command string, and
* cedarpy (Cedar's Python binding) evaluating an equivalent policy set whose
  1,000 policies use ``like`` patterns on ``resource.command``.

Every command is unique (a counter is appended), so no parse or match cache helps
Charter. Run: ``.venv/bin/python bench/bench_gate.py [--n 5000]``.

``--baseline SRC`` compares Charter's gate with another source tree (a worktree of the
base revision: ``SRC`` is its ``src`` directory) in the same run: both are measured in
child processes, alternately, ``--rounds`` times each, and the medians of their p50s are
reported, as wall-clock time and as the thread's CPU time (which other processes on a
shared machine disturb less). ``--program-by-path`` names each program by its full path
(``/usr/bin/git status``), as found on ``PATH``: the gate then checks, for the
auto-allowed ones, that the file is the program a ``PATH`` search finds.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cedarpy

from charter.actions.constitution import parse_text
from charter.actions.gate import Gate

PROGRAMS = [f"tool{i}" for i in range(180)] + [
    "git", "rm", "curl", "docker", "kubectl", "npm", "pip", "make", "ls", "cat", "sudo",
    "chmod", "dd", "terraform", "helm", "aws", "gcloud", "ssh", "scp", "tar",
]  # fmt: skip
SUBS = ["push", "pull", "delete", "apply", "run", "build", "install", "status", "list", "get"]


def make_patterns(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    forbidden = ["rm -rf /", "sudo rm *", "dd * of=/dev/*", "git push --force * main"]
    approval = ["git push *", "rm -rf *", "sudo *"]
    auto = ["git status", "ls *", "cat *", "git diff *"]
    total = 1000 - len(forbidden) - len(approval) - len(auto)
    for i in range(total):
        prog = rng.choice(PROGRAMS)
        sub = rng.choice(SUBS)
        kind = i % 3
        pattern = f"{prog} {sub} --opt{i % 17} *" if i % 2 else f"{prog} {sub}{i} *"
        (forbidden, approval, auto)[kind].append(pattern)
    return forbidden, approval, auto


def toml(forbidden: list[str], approval: list[str], auto: list[str]) -> str:
    return (
        '[identity]\nversion = "1.0.0"\n[boundaries]\n'
        f"forbidden = {json.dumps(forbidden)}\n"
        f"requires_approval = {json.dumps(approval)}\n"
        f"auto_allowed = {json.dumps(auto)}\n"
    )


def cedar_policies(forbidden: list[str], approval: list[str], auto: list[str]) -> str:
    def like(p: str) -> str:
        return p.replace("\\", "\\\\").replace('"', '\\"')

    rule = 'when {{ resource.command like "{}" }};'
    out = [f'forbid(principal, action == Action::"run", resource) {rule.format(like(p))}'
           for p in (*forbidden, *approval)]  # fmt: skip
    out += [f'permit(principal, action == Action::"run", resource) {rule.format(like(p))}'
            for p in auto]  # fmt: skip
    return "\n".join(out)


def commands(rng: random.Random, n: int, by_path: bool = False) -> list[str]:
    base = ["git status", "ls -la src", "git push origin feature", "rm -rf build",
            "cat README.md", "docker run --rm alpine", "kubectl get pods", "make test",
            "tool7 apply --opt3 x", "tool42 status1 y", "curl https://example.com",
            "npm install left-pad", "git diff HEAD~1"]  # fmt: skip
    if by_path:  # each program by the file a PATH search finds for it, when there is one
        base = [
            " ".join([shutil.which(c.split()[0]) or c.split()[0], *c.split()[1:]]) for c in base
        ]
    return [f"{rng.choice(base)} arg{i}" for i in range(n)]


def measure(fn: Callable[[str], object], cmds: list[str]) -> tuple[list[float], float]:
    for c in cmds[:200]:
        fn(c + " warm")
    lat: list[float] = []
    start = time.perf_counter()
    for c in cmds:
        t0 = time.perf_counter()
        fn(c)
        lat.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    return lat, len(cmds) / total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6


def charter_only(n: int, by_path: bool = False) -> dict[str, float]:
    """Charter's gate alone: p50/p99 of wall-clock and thread CPU time per command (µs)."""
    rng = random.Random(4)
    forbidden, approval, auto = make_patterns(rng)
    gate = Gate(parse_text(toml(forbidden, approval, auto)))
    cmds = commands(rng, n, by_path)
    for c in cmds[:200]:
        gate.decide_command(c + " warm", "/work/project")
    wall: list[float] = []
    cpu: list[float] = []
    for c in cmds:
        t0, c0 = time.perf_counter(), time.thread_time()
        gate.decide_command(c, "/work/project")
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "p50": pct(wall, 0.5),
        "p99": pct(wall, 0.99),
        "cpu_p50": pct(cpu, 0.5),
        "peak_mib": peak,
    }


def compare(baseline: str, n: int, rounds: int, by_path: bool = False) -> None:
    """This tree against ``baseline`` (a ``src`` directory), alternately, in child runs."""
    here = str(Path(__file__).resolve().parent.parent / "src")
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "this tree": []}
    for _ in range(rounds):
        for name, src in (("baseline", baseline), ("this tree", here)):
            env = {**os.environ, "PYTHONPATH": src}
            out = subprocess.run(  # noqa: S603 - this script, another source tree
                [sys.executable, __file__, "--charter-only", "--n", str(n),
                 *(["--program-by-path"] if by_path else [])],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            runs[name].append(json.loads(out.stdout))
    named = ", programs by path" if by_path else ""
    print(f"1,000 patterns, {n} unique single commands per run{named}, ", end="")
    print(f"{rounds} runs each, alternating")
    print(f"{'tree':10} {'p50 µs':>9} {'p99 µs':>9} {'CPU p50 µs':>11} {'peak MiB':>9}")
    for name, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(
            f"{name:10} {med['p50']:9.1f} {med['p99']:9.1f} {med['cpu_p50']:11.1f}"
            f" {med['peak_mib']:9.1f}"
        )
    this = statistics.median(r["p50"] for r in runs["this tree"])
    print(f"target p50 <= 100 µs (this tree): {'met' if this <= 100 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="commands per engine")
    parser.add_argument("--baseline", help="compare with this source tree (its src/ directory)")
    parser.add_argument("--rounds", type=int, default=5, help="runs per tree with --baseline")
    parser.add_argument("--charter-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--program-by-path", action="store_true", help="name each program by its full path"
    )
    args = parser.parse_args()
    if args.charter_only:
        print(json.dumps(charter_only(args.n, args.program_by_path)))
        return
    if args.baseline:
        compare(args.baseline, args.n, args.rounds, args.program_by_path)
        return
    rng = random.Random(4)
    forbidden, approval, auto = make_patterns(rng)
    assert len(forbidden) + len(approval) + len(auto) == 1000
    gate = Gate(parse_text(toml(forbidden, approval, auto)))
    cmds = commands(rng, args.n)

    def charter(c: str) -> object:
        return gate.decide_command(c, "/work/project").verdict

    ordered = [*forbidden, *approval, *auto]

    def naive(c: str) -> object:
        for p in ordered:
            if fnmatch.fnmatchcase(c, p):
                return p
        return None

    policies = cedarpy.PolicySet.from_str(cedar_policies(forbidden, approval, auto))
    entities = cedarpy.Entities.from_json_str("[]")

    def request(c: str) -> dict[str, object]:
        return {
            "principal": 'Agent::"a"',
            "action": 'Action::"run"',
            "resource": {"type": "Cmd", "id": "c"},
            "context": {},
        }

    def cedar(c: str) -> object:
        req = {
            "principal": 'Agent::"a"',
            "action": 'Action::"run"',
            "resource": 'Cmd::"c"',
            "context": {},
        }
        ents = [{"uid": {"type": "Cmd", "id": "c"}, "attrs": {"command": c}, "parents": []}]
        return cedarpy.is_authorized(req, policies, ents).decision

    del request, entities
    rows = []
    for name, fn in (("charter gate", charter), ("naive fnmatch", naive), ("cedarpy", cedar)):
        lat, tput = measure(fn, cmds)
        rows.append((name, pct(lat, 0.5), pct(lat, 0.99), statistics.mean(lat) * 1e6, tput))
    print(f"1,000 patterns, {args.n} unique single commands each")
    print(f"{'engine':15} {'p50 µs':>9} {'p99 µs':>9} {'mean µs':>9} {'cmds/s':>10}")
    for name, p50, p99, mean, tput in rows:
        print(f"{name:15} {p50:9.1f} {p99:9.1f} {mean:9.1f} {tput:10.0f}")
    charter_row, cedar_row = rows[0], rows[2]
    print(
        f"targets: p50 <= 100 µs: {'met' if charter_row[1] <= 100 else 'MISSED'}; "
        f"throughput >= cedarpy: {'met' if charter_row[4] >= cedar_row[4] else 'MISSED'}"
    )
    compound = "git status && ls -la | grep py; sudo rm -rf /var"
    lat, _ = measure(
        lambda c: gate.decide_command(c, "/w").verdict, [f"{compound} {i}" for i in range(2000)]
    )
    print(
        f"compound command ({compound!r}): p50 {pct(lat, 0.5):.1f} µs, p99 {pct(lat, 0.99):.1f} µs"
    )


if __name__ == "__main__":
    main()
