"""Runner throughput and latency vs a bare FastAPI endpoint, and the audit write rate.

    .venv/bin/python bench/bench_runner.py [--requests 4000] [--concurrency 32] [--rounds 5]
                                           [--baseline OTHER_CHECKOUT/src]
                                           [--store sqlite|postgres|both] [--pg URL]
                                           [--asks]

With ``--baseline``, a second runner runs the code at that ``src`` (e.g. main's)
under the same settings, measured in the same interleaved rounds: before/after
in one run.

Both servers run as separate processes under the same uvicorn settings (one
worker, loopback, access log off); the client keeps N keep-alive connections
busy with a minimal HTTP/1.1 client, cheap enough that the servers, not the
client, are measured ("server CPU" shows how busy each server was). The
runner writes every decision to its audit store before answering: SQLite (WAL,
synchronous=FULL) by default, or with ``--store postgres`` the PostgreSQL at
``--pg`` (default ``postgresql://postgres@127.0.0.1:5432/test``; a throw-away
schema, dropped afterwards; ``synchronous_commit=on``), which then also holds
the pending approvals; ``--store both`` runs one runner on each, measured in the
same interleaved rounds (on a machine shared with other work, the fair way to
compare the stores). The action is one the shipped agent-runtime constitution
allows; with ``--asks`` also one it asks about, so every decision is also stored
as a pending approval (an unanswered ask per request: not the common case, but
the approvals store's write rate). Loopback only; request counts are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from charter.actions import constitution as constitution_mod
from charter.audit import chain, stores
from charter.policy.stack import shipped_constitution_path
from charter.trust import keys

SECRET = "bench-agent-secret"  # noqa: S105 - a throw-away bench token
PROPOSAL = {
    "kind": "pull_request",
    "repository": "acme/platform",
    "base": "main",
    "head": "feature/cm-42",
    "author": {"id": "agent-7", "type": "agent"},
    "title": "Bench",
    "body": "```charter\nrules: [PROC-PR-REVIEW-001]\nblast_radius: none\nrollback: revert\n```\n",
    "files": [{"path": "src/app.py", "status": "modified", "patch": "+x = 1"}],
}
#: Allowed by the shipped agent-runtime constitution (``git status*``, ``cat *``, ``wc *``).
ACTION = {"kind": "command", "command": "git status && cat src/app.py | wc -l", "cwd": "/tmp"}
#: An ask (``ls -la src`` matches no auto_allowed pattern: ``ls*`` takes no arguments): each
#: one is also stored as a pending approval for every replica before it is answered.
ASK_ACTION = {"kind": "command", "command": "git status && ls -la src", "cwd": "/tmp"}
UVICORN = "log_level='warning', access_log=False, lifespan='off'"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit("server did not start")


def start_bare(port: int) -> subprocess.Popen[bytes]:
    code = (
        "import uvicorn\nfrom fastapi import FastAPI\napp = FastAPI()\n"
        "@app.post('/v1/decisions/action')\ndef constant(body: dict) -> dict:\n"
        "    return {'verdict': 'allow'}\n"
        "@app.get('/healthz')\nasync def h() -> dict:\n    return {}\n"
        f"uvicorn.run(app, host='127.0.0.1', port={port}, {UVICORN})\n"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def start_runner(
    work: Path,
    port: int,
    src: Path | None = None,
    *,
    store: str | None = None,
    extra_top: str = "",
    cpus: str | None = None,
) -> subprocess.Popen[bytes]:
    """A ``charter runner`` on ``port``, auditing to ``store`` (default: SQLite in
    ``work``); ``extra_top`` adds top-level keys to its config; ``cpus`` pins it
    (taskset)."""
    work.mkdir(parents=True, exist_ok=True)
    key = keys.generate()
    (work / "a.pub").write_bytes(keys.public_pem(key.public_key()))
    text = resources.files("charter").joinpath("defaults/constitution.toml").read_text()
    (work / "a.toml").write_text(constitution_mod.sign_text(text, key))
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    config = work / "runner.toml"
    config.write_text(
        f'listen = "127.0.0.1:{port}"\nstate_dir = "{work / "state"}"\n{extra_top}'
        f'refresh_interval = "1h"\n[stack]\nconstitution = "{shipped_constitution_path()}"\n'
        f'[actions]\nconstitution = "{work / "a.toml"}"\nkey = "{work / "a.pub"}"\n'
        f'[audit]\nstore = "{store or work / "audit.db"}"\n'
        f'[[tokens]]\nname = "bench"\nrole = "agent"\nsha256 = "{digest}"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(src)} if src is not None else None
    pin = ["taskset", "-c", cpus] if cpus else []
    return subprocess.Popen(
        [*pin, sys.executable, "-m", "charter", "runner", "--config", str(config)],
        stderr=subprocess.DEVNULL,
        env=env,
    )


def pg_schema_url(base: str) -> str:
    """A store URL on ``base`` with a fresh schema (see :func:`drop_pg_schema`)."""
    return f"{base}?schema=charter_bench_{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """A store URL on ``base`` with a fresh schema, dropped on the way out (SIGTERM too)."""
    url = pg_schema_url(base)
    try:
        yield url
    finally:
        drop_pg_schema(url)


def drop_pg_schema(url: str) -> None:
    import psycopg  # the charter[postgres] extra; only --store postgres needs it
    from psycopg import sql

    from charter.audit.postgres import split_url

    dsn, schema = split_url(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection sending the same request back to back.

    A load generator must cost far less than the servers it measures: httpx
    spends ~2-3 ms of CPU per request, so on a small machine it, not the
    server, sets the pace. This one parses only the status line and
    Content-Length (~40 µs per request), so the servers are the bottleneck.
    """

    def __init__(self, request: bytes, state: dict[str, Any], done: asyncio.Future[None]) -> None:
        self.request, self.state, self.done = request, state, done
        self.buffer = b""
        self.need: int | None = None
        self.started = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        if self.state["left"] <= 0:
            self.transport.close()
            return
        self.state["left"] -= 1
        self.started = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].decode("latin-1").lower().split("\r\n")
                if head[0][9:12] != "200":
                    self.state["errors"] += 1
                length = [h for h in head if h.startswith("content-length:")]
                if not length:
                    raise SystemExit("a response without Content-Length: not supported here")
                self.need = end + 4 + int(length[0].split(":", 1)[1])
            if len(self.buffer) < self.need:
                return
            self.buffer, self.need = self.buffer[self.need :], None
            self.state["latencies"].append(time.perf_counter() - self.started)
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def load(
    port: int | list[int], path: str, body: Any, total: int, concurrency: int
) -> dict[str, Any]:
    """``total`` requests over ``concurrency`` keep-alive connections, spread round-robin
    over ``port`` (one or several: what a load balancer does)."""
    ports = [port] if isinstance(port, int) else port
    payload = json.dumps(body).encode()
    loop = asyncio.get_running_loop()
    state: dict[str, Any] = {"left": total, "latencies": [], "errors": 0}
    done: list[asyncio.Future[None]] = []
    start = time.perf_counter()
    client_cpu = time.process_time()
    for i in range(concurrency):
        target = ports[i % len(ports)]
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{target}\r\n"
            f"Authorization: Bearer {SECRET}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        future: asyncio.Future[None] = loop.create_future()
        done.append(future)
        await loop.create_connection(
            partial(_Connection, request, state, future), "127.0.0.1", target
        )
    await asyncio.gather(*done)
    elapsed = time.perf_counter() - start
    latencies = sorted(state["latencies"])
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "errors": state["errors"] + total - len(latencies),
        "answered": len(latencies) - state["errors"],
        "seconds": elapsed,
        "client_cpu": (time.process_time() - client_cpu) / elapsed * 100,
    }


def proc_stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/PID/stat after the command name) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        yield int(entry), fields


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the runner's evaluators)."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum(
        (int(fields[11]) + int(fields[12])) / tick
        for proc, fields in proc_stats()
        if proc == pid or int(fields[1]) == pid
    )


def measure(pid: int, port: int, path: str, body: Any, n: int, c: int) -> dict[str, float]:
    asyncio.run(load(port, path, body, min(300, n), c))  # warm-up: engines, connections
    before = cpu_seconds(pid)
    result = asyncio.run(load(port, path, body, n, c))
    result["cpu_pct"] = (cpu_seconds(pid) - before) / result["seconds"] * 100
    return result


def audit_rate(location: str | Path, n: int) -> tuple[float, float]:
    record = {
        "decision_id": "x",
        "verdict": "allow",
        "reasons": [],
        "stack": [],
        "input_digest": "sha256:0",
    }
    store = stores.open_store(location)
    t0 = time.perf_counter()
    for i in range(n):
        store.append({**record, "decision_id": str(i)}, source="bench")
    serial = n / (time.perf_counter() - t0)

    def worker(k: int) -> None:
        for i in range(n // 32):
            store.append({**record, "decision_id": f"{k}-{i}"}, source="bench")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(32)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    concurrent = (n // 32) * 32 / (time.perf_counter() - t0)
    assert chain.verify(store).ok
    store.close()
    return serial, concurrent


BARE_PATH = "/v1/decisions/action"


def median_run(results: list[dict[str, float]]) -> dict[str, float]:
    """Per-measure medians over rounds (errors are summed: any error shows)."""
    out = {k: statistics.median(r[k] for r in results) for k in results[0]}
    out["errors"] = sum(r["errors"] for r in results)
    return out


STORE_NAMES = {
    "sqlite": "SQLite WAL, synchronous=FULL",
    "postgres": "PostgreSQL, synchronous_commit=on",
}


def exit_on_sigterm() -> None:
    """Let ``timeout``/``kill`` run the cleanup (servers stopped, schemas dropped)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main() -> None:
    exit_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, default=None, help="src of the code to compare")
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgres", "both"),
        default="sqlite",
        help="the runner's audit (and approvals) store; both: one runner on each, same rounds",
    )
    parser.add_argument("--pg", default=PG_URL, help="the PostgreSQL of --store postgres")
    parser.add_argument(
        "--asks", action="store_true", help="also actions that ask (each stored as an approval)"
    )
    args = parser.parse_args()
    n, c = min(args.requests, 20000), min(args.concurrency, 256)
    rounds = max(1, min(args.rounds, 20))
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]

    def location(kind: str, work: Path, name: str) -> str:
        if kind == "sqlite":
            return str(work / f"{name}.db")
        return cleanup.enter_context(pg_schema(args.pg))

    with contextlib.ExitStack() as cleanup, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bare_port = free_port()
        bare = start_bare(bare_port)
        runners: list[tuple[str, subprocess.Popen[bytes], int]] = []
        try:
            for kind in kinds:
                label = f"{kind} " if len(kinds) > 1 else ""
                port = free_port()
                store = location(kind, work, f"audit-{kind}")
                runners.append((label, start_runner(work / kind, port, store=store), port))
            if args.baseline:
                port = free_port()
                store = location(kinds[0], work, "audit-baseline")
                old = start_runner(work / "baseline", port, args.baseline, store=store)
                runners.append(("baseline ", old, port))
            wait_ready(f"http://127.0.0.1:{bare_port}/healthz", bare)
            for _, proc, port in runners:
                wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
            # Interleaved rounds, so that drift in the machine's speed (other
            # tenants, thermal, page cache) hits every endpoint alike; medians.
            runs: dict[str, list[dict[str, float]]] = {"bare": []}
            for _ in range(rounds):
                runs["bare"].append(measure(bare.pid, bare_port, BARE_PATH, ACTION, n, c))
                for label, proc, port in runners:
                    runs.setdefault(label + "action", []).append(
                        measure(proc.pid, port, BARE_PATH, ACTION, n, c)
                    )
                    if args.asks:
                        runs.setdefault(label + "ask", []).append(
                            measure(proc.pid, port, BARE_PATH, ASK_ACTION, n, c)
                        )
                    runs.setdefault(label + "proposal", []).append(
                        measure(proc.pid, port, "/v1/decisions/proposal", PROPOSAL, n, c)
                    )
            medians = {k: median_run(v) for k, v in runs.items()}
            base = medians["bare"]
        finally:
            for proc in (bare, *(r[1] for r in runners)):
                proc.terminate()
                proc.wait(timeout=20)
        rates = {k: audit_rate(location(k, work, "rate"), max(320, n // 2)) for k in kinds}
    print(
        f"requests={n} concurrency={c} cpus={os.cpu_count()} rounds={rounds} load average "
        f"{os.getloadavg()[0]:.1f} (medians; one uvicorn worker each; the runner at its "
        f"defaults: evaluator processes; audit: {', '.join(kinds)})"
    )
    print(
        f"{'endpoint':<37}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'vs bare':>9}"
        f"{'server CPU':>12}{'errors':>8}"
    )
    names = {"bare": "bare FastAPI constant"}
    for label, _, _ in runners:
        names[label + "action"] = f"{label}runner action (audited)"
        if args.asks:
            names[label + "ask"] = f"{label}runner ask (+ approval)"
        names[label + "proposal"] = f"{label}runner proposal (audited)"
    for key, name in names.items():
        r = medians[key]
        ratio = r["rps"] / base["rps"] * 100
        print(
            f"{name:<37}{r['rps']:>8.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{ratio:>8.0f}%"
            f"{r['cpu_pct']:>11.0f}%{int(r['errors']):>8}"
        )
    spread = {k: (min(r["rps"] for r in v), max(r["rps"] for r in v)) for k, v in runs.items()}
    print(
        "req/s range over rounds: "
        + ", ".join(f"{k} {lo:.0f}-{hi:.0f}" for k, (lo, hi) in spread.items())
    )
    for kind, (serial, concurrent) in rates.items():
        print(f"audit store ({STORE_NAMES[kind]}): {serial:.0f} appends/s serial, "
              f"{concurrent:.0f} appends/s from 32 threads (group commit)")  # fmt: skip


if __name__ == "__main__":
    main()
