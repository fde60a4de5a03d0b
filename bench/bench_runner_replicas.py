"""Two runner replicas on one PostgreSQL vs one: audited decisions per second.

    .venv/bin/python bench/bench_runner_replicas.py [--requests 3000] [--concurrency 32]
        [--rounds 3] [--kind action|ask|proposal] [--pg URL] [--pin]

Two real ``charter runner`` processes share one audit chain and one approvals
store in a throw-away schema of the PostgreSQL at ``--pg`` (default
``postgresql://postgres@127.0.0.1:5432/test``; dropped afterwards). In
interleaved rounds the same load (``--concurrency`` keep-alive connections,
``--requests`` decisions, bench_runner's cheap HTTP/1.1 client) goes

- to replica A only (``one replica``; B idles), then
- split evenly across A and B (``two replicas``: what a load balancer does).

``action`` is a command the shipped constitution allows, ``ask`` one it asks
about (each also stored as a pending approval, which every replica shares), and
``proposal`` bench_runner's small pull request (evaluator processes).

Every decision is recorded in the one chain before it is answered; afterwards
the chain is verified and its length checked against the decisions answered.

Reported per setup: decisions/s (median over rounds), p50/p99, the CPU used by
each replica (with its evaluator processes), by PostgreSQL's processes and by
the load generator itself, as a share of one core, and decisions per CPU-second
of replicas + PostgreSQL. On a small machine these show why two replicas cannot
simply double the rate: the replicas, PostgreSQL and the client compete for the
same cores. On a machine shared with other work (see the load averages printed)
a process gets only a share of a core, and two processes get about twice the
share of one: decisions/s then overstate the gain, and decisions per CPU-second
(equal if a second replica adds no contention on the shared chain) are the
fairer comparison.

``--pin`` pins replica A to CPU 0 and replica B to CPU 1 (``taskset``), and the
client to the last CPU, so each replica has a core of its own in the two-replica
setup (and A still only one core in the one-replica setup): a fairer test of
"a second replica adds a core's worth of decisions" on a machine where
otherwise the scheduler spreads the single replica's threads over both cores.

``--cpu-limit CPUS`` gives each replica (with its evaluator processes) a CPU
quota of its own, as ``resources.limits.cpu`` does for each pod of
``deploy/kubernetes/`` (a CFS quota in a cgroup per replica; cgroup v2 or v1's
``cpu`` controller, root only). One replica then has ``CPUS`` and two have twice
that, whatever else the machine runs, as long as the machine has that much to
spare besides PostgreSQL and the client: the figure a team scaling out replicas
of a fixed size sees. The quota each replica got is printed (throttled time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_runner import (  # noqa: E402
    ACTION,
    ASK_ACTION,
    PG_URL,
    PROPOSAL,
    cpu_seconds,
    exit_on_sigterm,
    free_port,
    load,
    pg_schema,
    proc_stats,
    start_runner,
    wait_ready,
)

from charter.audit import chain, stores  # noqa: E402

PATHS = {
    "ask": ("/v1/decisions/action", ASK_ACTION),
    "action": ("/v1/decisions/action", ACTION),
    "proposal": ("/v1/decisions/proposal", PROPOSAL),
}


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (their CPU is reported)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                name = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("postgres"):
                found.append(int(entry))
    return found


def _ticks(pids: list[int]) -> float:
    """User + system CPU seconds of the processes ``pids`` (not their children)."""
    tick = os.sysconf("SC_CLK_TCK")
    wanted = set(pids)
    return sum(
        (int(fields[11]) + int(fields[12])) / tick for pid, fields in proc_stats() if pid in wanted
    )


class CpuLimit:
    """A cgroup with a CFS quota of ``cpus`` CPUs (cgroup v2's ``cpu.max`` or v1's ``cpu``)."""

    PERIOD_US = 100_000

    def __init__(self, name: str, cpus: float) -> None:
        quota = max(1000, int(cpus * self.PERIOD_US))
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        if v2.is_file() and "cpu" in v2.read_text().split():
            self.path = Path("/sys/fs/cgroup") / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
        else:
            self.path = Path("/sys/fs/cgroup/cpu") / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def add_tree(self, pid: int) -> None:
        """``pid`` and every process below it (children started later inherit the group)."""
        parents = _parents()  # one reading of /proc for the whole tree
        pending = [pid]
        while pending:
            current = pending.pop()
            (self.path / "cgroup.procs").write_text(str(current))
            pending.extend(child for child, ppid in parents.items() if ppid == current)

    def throttled_seconds(self) -> float:
        for line in (self.path / "cpu.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "throttled_usec":
                return int(value) / 1e6
            if name == "throttled_time":
                return int(value) / 1e9
        return 0.0

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()


def _parents() -> dict[int, int]:
    """pid → parent pid of every process."""
    return {pid: int(fields[1]) for pid, fields in proc_stats()}


def measure(
    replicas: list[tuple[int, int]], ports: list[int], kind: str, n: int, c: int
) -> dict[str, Any]:
    """One run against ``ports``; CPU of every replica (pid, port) and of PostgreSQL."""
    path, body = PATHS[kind]
    asyncio.run(load(ports, path, body, min(200, n), c))  # warm-up: engines, connections
    pg = postgres_pids()
    before = [cpu_seconds(pid) for pid, _ in replicas]
    pg_before = _ticks(pg)
    result = asyncio.run(load(ports, path, body, n, c))
    seconds = result["seconds"]
    result["replica_cpu"] = [
        (cpu_seconds(pid) - b) / seconds * 100 for (pid, _), b in zip(replicas, before, strict=True)
    ]
    result["pg_cpu"] = (_ticks(pg) - pg_before) / seconds * 100
    return result


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kind", choices=tuple(PATHS), default="action")
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--pin", action="store_true", help="taskset: A on CPU 0, B on CPU 1")
    parser.add_argument(
        "--cpu-limit",
        type=float,
        help="each replica's CPU quota in CPUs (e.g. 0.5, as limits.cpu: 500m); root only",
    )
    args = parser.parse_args()
    n, c = min(args.requests, 20000), min(args.concurrency, 256)
    rounds = max(1, min(args.rounds, 10))
    cpus = os.cpu_count() or 1
    pin = args.pin and cpus >= 2
    if pin:
        os.sched_setaffinity(0, {cpus - 1})
    load_before = os.getloadavg()[0]
    # Actions only need the gate: no evaluator processes then (proposals get the default).
    extra = "evaluator_processes = 0\n" if args.kind != "proposal" else ""
    runs: dict[str, list[dict[str, Any]]] = {"one replica": [], "two replicas": []}
    with pg_schema(args.pg) as url, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ports = [free_port(), free_port()]
        procs = [
            start_runner(
                work / name, port, store=url, extra_top=extra, cpus=str(i) if pin else None
            )
            for i, (name, port) in enumerate(zip("AB", ports, strict=True))
        ]
        limits: list[CpuLimit] = []
        throttled: list[float] = []
        try:
            for proc, port in zip(procs, ports, strict=True):
                wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
            if args.cpu_limit:
                tag = f"charter-bench-{os.getpid()}"
                limits = [CpuLimit(f"{tag}-{n}", args.cpu_limit) for n in "AB"]
                for limit, proc in zip(limits, procs, strict=True):
                    limit.add_tree(proc.pid)
            replicas = [(p.pid, port) for p, port in zip(procs, ports, strict=True)]
            for _ in range(rounds):
                runs["one replica"].append(measure(replicas, ports[:1], args.kind, n, c))
                runs["two replicas"].append(measure(replicas, ports, args.kind, n, c))
            throttled = [limit.throttled_seconds() for limit in limits]
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=20)
            for limit in limits:
                limit.remove()
        store = stores.open_store(url, read_only=True)
        report = chain.verify(store)
        length = store.count()
        store.close()
    answered = sum(r["answered"] for rs in runs.values() for r in rs)
    warmups = 2 * rounds * min(200, n)
    print(
        f"kind={args.kind} requests={n} concurrency={c} rounds={rounds} cpus={cpus} "
        f"pinned={'A:0 B:1 client:' + str(cpus - 1) if pin else 'no'} "
        f"cpu-limit={f'{args.cpu_limit:g} CPU per replica' if args.cpu_limit else 'none'} "
        "(medians; PostgreSQL "
        "audit + approvals, one schema, synchronous_commit=on)"
    )
    print(
        f"{'setup':<14}{'dec/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'A CPU':>8}{'B CPU':>8}"
        f"{'PG CPU':>8}{'client':>8}{'dec/CPU-s':>11}{'errors':>8}"
    )
    medians = {}
    for name, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms",
               "pg_cpu", "client_cpu")}  # fmt: skip
        med["a"] = statistics.median(r["replica_cpu"][0] for r in rs)
        med["b"] = statistics.median(r["replica_cpu"][1] for r in rs)
        medians[name] = med
        errors = sum(r["errors"] for r in rs)
        per_cpu = med["rps"] / max(0.01, (med["a"] + med["b"] + med["pg_cpu"]) / 100)
        print(
            f"{name:<14}{med['rps']:>8.0f}{med['p50_ms']:>9.1f}{med['p99_ms']:>9.1f}"
            f"{med['a']:>7.0f}%{med['b']:>7.0f}%{med['pg_cpu']:>7.0f}%{med['client_cpu']:>7.0f}%"
            f"{per_cpu:>11.0f}{errors:>8}"
        )
    ratio = medians["two replicas"]["rps"] / medians["one replica"]["rps"]
    spread = {k: (min(r["rps"] for r in v), max(r["rps"] for r in v)) for k, v in runs.items()}
    print(
        "dec/s range over rounds: "
        + ", ".join(f"{k} {lo:.0f}-{hi:.0f}" for k, (lo, hi) in spread.items())
    )
    print(f"two replicas / one replica: {ratio:.2f}x (target 1.6x)")
    if args.cpu_limit:
        print(
            "time throttled by the quota (s, whole run): "
            + ", ".join(f"{n} {t:.1f}" for n, t in zip("AB", throttled, strict=True))
        )
    print(
        f"machine load average (1 min) before / after: {load_before:.1f} / "
        f"{os.getloadavg()[0]:.1f} on {cpus} CPUs"
    )
    print(
        f"audit chain: {'verifies' if report.ok else 'DOES NOT VERIFY'}, {length} records for "
        f"{answered} answered decisions + {warmups} warm-up requests"
    )


if __name__ == "__main__":
    main()
