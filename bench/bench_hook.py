"""Hook latency per tool call, measured as a whole process, as an agent runs it.

    .venv/bin/python bench/bench_hook.py [--calls 60] [--cold 3]

Each variant is a new process per call, fed one Claude Code ``PreToolUse`` payload on
stdin (Bash, Write and Read calls in turn), in the same run and interleaved:

* ``python -c pass`` — the floor: starting an interpreter at all;
* ``charter hook claude-code`` — the direct hook (imports, verifies, decides, records);
* ``charter-hook claude-code`` — the client as its console script, against a warm
  daemon (the steady state);
* the client's first call — spawning the daemon and loading the gate (``--cold`` times).

Reported: median and p99 wall time, median CPU of the process, and the daemon's peak
RSS. Every call of the direct hook and of the client must answer the same verdict.
Target (issue 12): client median ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import charter
from charter.actions.constitution import sign_text
from charter.trust import keys

TARGET_MS = 50.0
FLOOR = "python -c pass"
DIRECT = "charter hook claude-code (direct)"
WARM = "charter-hook claude-code (warm daemon)"
COLD = "charter-hook, first call (starts daemon)"
#: The ``charter-hook`` console script as pip writes it (``[project.scripts]``).
CONSOLE_SCRIPT = """#!{python}
import sys
from charter.hookd.client import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""


def payloads(cwd: str) -> list[bytes]:
    calls = [
        ("Bash", {"command": "git status && git diff --stat", "description": "status"}),
        ("Bash", {"command": "rm -rf / --no-preserve-root", "description": "oops"}),
        ("Bash", {"command": "npm test", "description": "tests"}),
        ("Write", {"file_path": f"{cwd}/notes.md", "content": "# notes\n"}),
        ("Read", {"file_path": f"{cwd}/README.md"}),
    ]
    return [
        json.dumps(
            {
                "session_id": "0b4f3c58-7f1e-4b9e-9a51-4a1d7c1f2e11",
                "transcript_path": f"{cwd}/transcript.jsonl",
                "cwd": cwd,
                "permission_mode": "default",
                "hook_event_name": "PreToolUse",
                "tool_name": tool,
                "tool_input": tool_input,
            }
        ).encode()
        for tool, tool_input in calls
    ]


def signed_constitution(directory: Path) -> tuple[Path, Path]:
    key = keys.generate()
    pub = directory / "signing.pub"
    pub.write_bytes(keys.public_pem(key.public_key()))
    text = resources.files("charter.defaults").joinpath("constitution.toml").read_text()
    path = directory / "constitution.toml"
    path.write_text(sign_text(text, key))
    return path, pub


def timed(
    argv: Sequence[str], stdin: bytes, env: dict[str, str], cwd: str
) -> tuple[float, float, str]:
    """(wall ms, CPU ms, verdict or exit code) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, env=env, cwd=cwd, check=False)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    if done.stdout.strip():
        verdict = json.loads(done.stdout)["hookSpecificOutput"]["permissionDecision"]
    else:
        verdict = f"exit {done.returncode}: {done.stderr.decode(errors='replace').strip()}"
    return wall, cpu, verdict


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def daemon_peak_rss_kib(directory: Path) -> int | None:
    """VmHWM of the ``charter hook serve`` process whose socket is in ``directory``."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if b"serve" in cmdline and any(str(directory).encode() in a for a in cmdline):
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=60, help="calls per variant")
    parser.add_argument("--cold", type=int, default=3, help="cold starts of the daemon")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="keep $PYTHONDONTWRITEBYTECODE as it is (every process compiles Charter's "
        "sources); by default Charter is byte-compiled first, as an installation is",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hook-") as tmp:
        root = Path(tmp)
        work = root / "work"
        work.mkdir()
        constitution, pub = signed_constitution(root)
        env = {
            **os.environ,
            "CHARTER_AUDIT": str(root / "audit.db"),
            "CHARTER_BUDGET": str(root / "budget.json"),
            "CHARTER_STATE_DIR": str(root / "state"),
            "CHARTER_HOOKD_DIR": str(root / "run"),
        }
        if not args.no_bytecode:  # as installed: pip writes the bytecode at install time
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
            source = str(Path(charter.__file__).parent)
            subprocess.run([sys.executable, "-m", "compileall", "-q", source], env=env, check=True)
        options = ["claude-code", "--constitution", str(constitution), "--key", str(pub)]
        script = root / "bin" / "charter-hook"
        script.parent.mkdir()
        script.write_text(CONSOLE_SCRIPT.format(python=sys.executable))
        script.chmod(0o755)
        variants = {
            FLOOR: [sys.executable, "-c", "pass"],
            DIRECT: [sys.executable, "-m", "charter", "hook", *options],
            WARM: [str(script), *options],
        }
        bodies = payloads(str(work))
        cold: list[float] = []
        for i in range(args.cold):  # each with its own runtime dir: a new daemon each time
            cold_env = {**env, "CHARTER_HOOKD_DIR": str(root / f"cold-{i}")}
            cold.append(timed(variants[WARM], bodies[0], cold_env, str(work))[0])
        walls: dict[str, list[float]] = {name: [] for name in variants}
        cpus: dict[str, list[float]] = {name: [] for name in variants}
        answers: dict[str, list[str]] = {name: [] for name in variants}
        timed(variants[WARM], bodies[0], env, str(work))  # warm up
        for i in range(args.calls):
            body = bodies[i % len(bodies)]
            for name, argv in variants.items():
                wall, cpu, verdict = timed(argv, body, env, str(work))
                walls[name].append(wall)
                cpus[name].append(cpu)
                answers[name].append(verdict)
        how = (
            "every process compiles Charter's sources"
            if args.no_bytecode and os.environ.get("PYTHONDONTWRITEBYTECODE")
            else "Charter byte-compiled first, as installed"
        )
        report(how, args.calls, walls, cpus, cold, daemon_peak_rss_kib(root / "run"))
        same = answers[DIRECT] == answers[WARM]
        print(f"direct and daemon answers identical: {same} ({sorted(set(answers[WARM]))})")
        return 0 if same else 1


def report(
    how: str,
    calls: int,
    walls: dict[str, list[float]],
    cpus: dict[str, list[float]],
    cold: list[float],
    rss: int | None,
) -> None:
    print(f"{calls} calls per variant, interleaved; payloads: Bash×3, Write, Read; {how}")
    print(f"{'variant':42} {'median ms':>10} {'p99 ms':>9} {'CPU ms':>8}")
    for name in walls:
        median, tail, cpu = (
            statistics.median(walls[name]),
            p99(walls[name]),
            statistics.median(cpus[name]),
        )
        print(f"{name:42} {median:10.1f} {tail:9.1f} {cpu:8.1f}")
    print(f"{COLD:42} {statistics.median(cold):10.1f} {max(cold):9.1f}")
    if rss is not None:
        print(f"daemon peak RSS: {rss / 1024:.1f} MiB")
    median = statistics.median(walls[WARM])
    floor = statistics.median(walls[FLOOR])
    verdict = "met" if median <= TARGET_MS else "NOT met"
    print(
        f"target ≤ {TARGET_MS:.0f} ms median: {verdict} ({median:.1f} ms; "
        f"{median - floor:+.1f} ms over python -c pass)"
    )


if __name__ == "__main__":
    sys.exit(main())
