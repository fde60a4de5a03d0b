"""Gate latency and throughput with a 1,000-pattern constitution.

Compares, on the same single simple commands:

* Charter's gate (tree-sitter parse + indexed token matching + directory checks),
* a naive loop of ``fnmatch`` over the raw command string, and
* cedarpy (Cedar's Python binding) evaluating an equivalent policy set whose
  1,000 policies use ``like`` patterns on ``resource.command``.

Every command is unique (a counter is appended), so no parse or match cache helps
Charter. Run: ``.venv/bin/python bench/bench_gate.py [--n 5000]``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import statistics
import time
from collections.abc import Callable

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


def commands(rng: random.Random, n: int) -> list[str]:
    base = ["git status", "ls -la src", "git push origin feature", "rm -rf build",
            "cat README.md", "docker run --rm alpine", "kubectl get pods", "make test",
            "tool7 apply --opt3 x", "tool42 status1 y", "curl https://example.com",
            "npm install left-pad", "git diff HEAD~1"]  # fmt: skip
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="commands per engine")
    args = parser.parse_args()
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
