"""Runner throughput and latency vs a bare FastAPI endpoint, and the audit write rate.

    .venv/bin/python bench/bench_runner.py [--requests 2000] [--concurrency 32]

Both servers run as separate processes under the same uvicorn settings (one
worker, loopback, access log off); the client is httpx with N concurrent
requests. The runner writes every decision to a SQLite audit store (WAL,
synchronous=FULL) before answering. Loopback only; request counts are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from charter import audit, keys
from charter import constitution as constitution_mod
from charter.stack import shipped_constitution_path

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
ACTION = {"kind": "command", "command": "git status && ls -la src", "cwd": "/tmp"}
UVICORN = "log_level='warning', access_log=False, lifespan='off'"


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


def start_runner(work: Path, port: int) -> subprocess.Popen[bytes]:
    key = keys.generate()
    (work / "a.pub").write_bytes(keys.public_pem(key.public_key()))
    text = resources.files("charter").joinpath("defaults/constitution.toml").read_text()
    (work / "a.toml").write_text(constitution_mod.sign_text(text, key))
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    config = work / "runner.toml"
    config.write_text(
        f'listen = "127.0.0.1:{port}"\nstate_dir = "{work / "state"}"\n'
        f'refresh_interval = "1h"\n[stack]\nconstitution = "{shipped_constitution_path()}"\n'
        f'[actions]\nconstitution = "{work / "a.toml"}"\nkey = "{work / "a.pub"}"\n'
        f'[audit]\nstore = "{work / "audit.db"}"\n'
        f'[[tokens]]\nname = "bench"\nrole = "agent"\nsha256 = "{digest}"\n'
    )
    return subprocess.Popen(
        [sys.executable, "-m", "charter", "runner", "--config", str(config)],
        stderr=subprocess.DEVNULL,
    )


async def load(url: str, body: Any, total: int, concurrency: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {SECRET}"}
    latencies: list[float] = []
    errors = 0
    remaining = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for _ in range(min(50, total)):  # warm-up (per-thread engines, connections)
            await client.post(url, json=body, headers=headers)

        async def worker() -> None:
            nonlocal errors
            for _ in remaining:
                t0 = time.perf_counter()
                r = await client.post(url, json=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": total / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def audit_rate(work: Path, n: int) -> tuple[float, float]:
    record = {
        "decision_id": "x",
        "verdict": "allow",
        "reasons": [],
        "stack": [],
        "input_digest": "sha256:0",
    }
    store = audit.open_store(work / "rate.db")
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
    assert audit.verify(store).ok
    store.close()
    return serial, concurrent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    n, c = min(args.requests, 20000), min(args.concurrency, 256)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bare_port, runner_port = free_port(), free_port()
        bare, runner = start_bare(bare_port), start_runner(work, runner_port)
        try:
            wait_ready(f"http://127.0.0.1:{bare_port}/healthz", bare)
            wait_ready(f"http://127.0.0.1:{runner_port}/readyz", runner)
            base = asyncio.run(
                load(f"http://127.0.0.1:{bare_port}/v1/decisions/action", ACTION, n, c)
            )
            act = asyncio.run(
                load(f"http://127.0.0.1:{runner_port}/v1/decisions/action", ACTION, n, c)
            )
            prop = asyncio.run(
                load(f"http://127.0.0.1:{runner_port}/v1/decisions/proposal", PROPOSAL, n, c)
            )
        finally:
            for proc in (bare, runner):
                proc.terminate()
                proc.wait(timeout=20)
        serial, concurrent = audit_rate(work, max(320, n // 2))
    print(f"requests={n} concurrency={c} cpus={os.cpu_count()} (one uvicorn worker each)")
    print(f"{'endpoint':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'vs bare':>10}{'errors':>8}")
    for name, r in (("bare FastAPI constant", base), ("runner action (audited)", act),
                    ("runner proposal (audited)", prop)):  # fmt: skip
        ratio = r["rps"] / base["rps"] * 100
        print(
            f"{name:<28}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
            f"{ratio:>9.0f}%{int(r['errors']):>8}"
        )
    print(f"audit store (SQLite WAL, synchronous=FULL): {serial:.0f} appends/s serial, "
          f"{concurrent:.0f} appends/s from 32 threads (group commit)")  # fmt: skip


if __name__ == "__main__":
    main()
