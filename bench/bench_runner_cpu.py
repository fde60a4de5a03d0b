"""Where the runner's CPU goes per request: each thread and evaluator process, vs bare FastAPI.

    .venv/bin/python bench/bench_runner_cpu.py [--requests 3000] [--concurrency 32]
                                               [--src OTHER_CHECKOUT/src]

Starts the same servers as ``bench_runner.py`` (a bare FastAPI endpoint and a
``charter runner``, SQLite audit), drives each with its client, and prints the
user and system CPU each thread (and each evaluator process) spent per request,
read from ``/proc/PID/task/TID/stat`` before and after the load. The runner's
threads: the event loop (``main``), the two action deciders, the audit group
commit, the proposal dispatchers; its children: the evaluator processes. This
says which side of the runner to make cheaper when ``bench_runner.py`` falls
below its target; it measures no target itself. Loopback only; bounded counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runner as bench  # noqa: E402 - the sibling script's servers and client

#: (process id, thread id) → (user, system) CPU seconds
Times = dict[tuple[int, int], tuple[float, float]]


def _children(pid: int) -> list[int]:
    return [proc for proc, fields in bench.proc_stats() if int(fields[1]) == pid]


def thread_times(pid: int) -> Times:
    """User and system CPU of every thread of ``pid`` and of its children."""
    tick = os.sysconf("SC_CLK_TCK")
    out: Times = {}
    for proc in (pid, *_children(pid)):
        with_tasks = Path(f"/proc/{proc}/task")
        for task in os.listdir(with_tasks) if with_tasks.exists() else ():
            try:
                fields = (with_tasks / task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[(proc, int(task))] = (int(fields[11]) / tick, int(fields[12]) / tick)
    return out


def split(pid: int, port: int, path: str, body: object, n: int, c: int) -> list[str]:
    """One line per busy thread (ms of CPU per request), then the total."""
    asyncio.run(bench.load(port, path, body, min(500, n), c))  # warm-up
    before = thread_times(pid)
    started = time.perf_counter()
    result = asyncio.run(bench.load(port, path, body, n, c))
    elapsed = time.perf_counter() - started
    after = thread_times(pid)
    lines, user, system = [], 0.0, 0.0
    for (proc, tid), (u1, s1) in sorted(after.items()):
        u0, s0 = before.get((proc, tid), (0.0, 0.0))
        du, ds = u1 - u0, s1 - s0
        user, system = user + du, system + ds
        if du + ds > 0:
            where = "main" if tid == pid else ("thread" if proc == pid else "evaluator")
            lines.append(
                f"    {where:<10}{tid:>8}  user {du / n * 1e3:6.3f}  sys {ds / n * 1e3:6.3f} ms/req"
            )
    lines.append(
        f"  total: user {user / n * 1e3:.3f} sys {system / n * 1e3:.3f} = "
        f"{(user + system) / n * 1e3:.3f} ms/req at {n / elapsed:.0f} req/s, "
        f"{int(result['errors'])} errors"
    )
    return lines


def main() -> None:
    bench.exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--src", type=Path, default=None, help="src of the runner to measure")
    args = parser.parse_args()
    n, c = min(args.requests, 20000), min(args.concurrency, 256)
    with tempfile.TemporaryDirectory() as tmp:
        bare_port, port = bench.free_port(), bench.free_port()
        bare = bench.start_bare(bare_port)
        runner = bench.start_runner(Path(tmp), port, args.src)
        try:
            bench.wait_ready(f"http://127.0.0.1:{bare_port}/healthz", bare)
            bench.wait_ready(f"http://127.0.0.1:{port}/readyz", runner)
            runs = (
                ("bare FastAPI constant", bare.pid, bare_port, bench.BARE_PATH, bench.ACTION),
                ("runner action", runner.pid, port, bench.BARE_PATH, bench.ACTION),
                ("runner proposal", runner.pid, port, "/v1/decisions/proposal", bench.PROPOSAL),
            )
            for name, pid, at, path, body in runs:
                print(name)
                print("\n".join(split(pid, at, path, body, n, c)))
        finally:
            for proc in (bare, runner):
                proc.terminate()
                proc.wait(timeout=20)
    print(f"load average {os.getloadavg()[0]:.1f}, cpus {os.cpu_count()}")


if __name__ == "__main__":
    main()
