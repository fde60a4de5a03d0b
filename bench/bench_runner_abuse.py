"""Small-decision latency while other clients abuse the runner (issue 13), before vs after.

    .venv/bin/python bench/bench_runner_abuse.py [--seconds 8] [--baseline /work/main/src]

Runners, each a real ``charter runner`` process on loopback with its defaults
(evaluator processes, SQLite audit):

- ``before``: the code at ``--baseline`` (a checkout's ``src``, e.g. main), no limits;
- ``after``: this tree with the default ``[limits]`` (abusive requests are refused);
- ``after, limits raised``: this tree with the limits raised so that every abusive
  request is accepted and decided: what the fair lanes alone achieve.

Scenarios, each for ``--seconds``, one victim client measuring closed-loop latency:

- ``none``: small proposals and ``git status`` actions, nobody else;
- ``proposals``: 2 clients (own tokens) sending 100k-file proposals back to back;
  the victim's small-proposal p99;
- ``commands``: 4 clients (own tokens) sending distinct 64 KiB commands; the
  victim's ``git status`` p99;
- ``token flood``: 8 connections each sending a random token every 10 ms (scrypt
  configured); the p50 of ``/healthz``.

Abusers run in their own processes, so the victim's timings are not distorted by
the load generator. The runner's resident memory (runner + evaluator processes)
is reported after each scenario. Target (issue 13): small-decision p99 ≤ 100 ms
under abuse.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from charter.actions import constitution as constitution_mod
from charter.policy.stack import shipped_constitution_path
from charter.trust import keys

HERE = Path(__file__).resolve().parent
TREE = HERE.parent / "src"
VICTIM = "victim-secret-0123456789"  # noqa: S105 - throw-away bench tokens
ABUSERS = [f"abuser-secret-{i}-0123456789" for i in range(4)]
SCRYPT_SECRET = "scrypt-secret-0123456789"  # noqa: S105
SMALL_PROPOSAL = {
    "kind": "pull_request",
    "repository": "acme/platform",
    "author": {"id": "agent-7", "type": "agent"},
    "title": "small",
    "body": "```charter\nrules: [PROC-PR-REVIEW-001]\nblast_radius: none\nrollback: revert\n```\n",
    "files": [{"path": "src/app.py", "status": "modified", "patch": "+x = 1"}],
}
GIT_STATUS = {"kind": "command", "command": "git status", "cwd": "/tmp"}
RAISED = (
    "[limits]\nmax_body_bytes = 67108864\nmax_files = 1000000\nmax_command_length = 65536\n"
    "auth_failures_per_minute = 1000000\n"
)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrypt_entry(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "$".join(["scrypt", str(2**14), "8", "1", base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])  # fmt: skip


def write_config(work: Path, port: int, extra: str) -> Path:
    key = keys.generate()
    (work / "a.pub").write_bytes(keys.public_pem(key.public_key()))
    text = resources.files("charter").joinpath("defaults/constitution.toml").read_text()
    (work / "a.toml").write_text(constitution_mod.sign_text(text, key))
    tokens = [("victim", VICTIM)] + [(f"abuser-{i}", s) for i, s in enumerate(ABUSERS)]
    lines = [
        f'listen = "127.0.0.1:{port}"',
        f'state_dir = "{work / "state"}"',
        'refresh_interval = "1h"',
        extra,
        f'[stack]\nconstitution = "{shipped_constitution_path()}"',
        f'[actions]\nconstitution = "{work / "a.toml"}"\nkey = "{work / "a.pub"}"',
        f'[audit]\nstore = "{work / "audit.db"}"',
    ]
    for name, secret in tokens:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        lines.append(f'[[tokens]]\nname = "{name}"\nrole = "agent"\nsha256 = "{digest}"')
    entry = scrypt_entry(SCRYPT_SECRET)
    lines.append(f'[[tokens]]\nname = "scrypt-agent"\nrole = "agent"\nscrypt = "{entry}"')
    config = work / "runner.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def start_runner(config: Path, src: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.Popen(
        [sys.executable, "-m", "charter", "runner", "--config", str(config)],
        stderr=subprocess.DEVNULL,
        env=env,
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(1200):
        if proc.poll() is not None:
            raise SystemExit(f"runner exited with {proc.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit("runner did not start")


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the evaluator processes), in MB."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(entry) != pid and int(stat[1]) != pid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# ------------------------------------------------------------------ abusers
def abuse(kind: str, url: str, secret: str, seconds: float) -> None:
    """One abusive client (run in its own process): back to back until time is up."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    end = time.monotonic() + seconds
    codes: dict[int, int] = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        if kind == "proposals":
            files = [
                {"path": f"src/pkg{i // 100}/f{i}.py", "status": "added"} for i in range(100_000)
            ]
            body = json.dumps({**SMALL_PROPOSAL, "files": files}).encode()
        words = " ".join(secrets.token_hex(4) for _ in range(7300))
        i = 0
        while time.monotonic() < end:
            i += 1
            try:
                if kind == "proposals":
                    r = client.post("/v1/decisions/proposal", content=body, headers=headers)
                elif kind == "commands":
                    command = f"echo {i} {words}"[:65536]  # distinct every time
                    doc = {"kind": "command", "command": command, "cwd": "/tmp"}
                    r = client.post("/v1/decisions/action", json=doc, headers=headers)
                else:  # random tokens, each connection every 10 ms (the same offered load
                    # whatever the answers: 429s come back faster than scrypt's 401s)
                    time.sleep(0.01)
                    bad = {"Authorization": f"Bearer {secrets.token_hex(16)}"}
                    r = client.post("/v1/decisions/action", json=GIT_STATUS, headers=bad)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
            except httpx.HTTPError:
                codes[0] = codes.get(0, 0) + 1
    print(json.dumps(codes))


def spawn_abusers(kind: str, url: str, count: int, seconds: float) -> list[subprocess.Popen[str]]:
    procs = []
    for i in range(count):
        secret = ABUSERS[i % len(ABUSERS)]
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--abuser",
                    kind,
                    "--url",
                    url,
                    "--secret",
                    secret,
                    "--seconds",
                    str(seconds),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
    return procs


def collect(procs: list[subprocess.Popen[str]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        for code, n in json.loads(out.strip().splitlines()[-1] or "{}").items():
            total[code] = total.get(code, 0) + n
    return total


# ------------------------------------------------------------------- victim
def victim(
    url: str, path: str, body: Any, seconds: float, secret: str = VICTIM
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {secret}"}
    latencies: list[float] = []
    errors = 0
    end = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=120) as client:
        while time.monotonic() < end:
            started = time.perf_counter()
            if body is None:
                r = client.get(path)
            else:
                r = client.post(path, json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            errors += r.status_code != 200
            time.sleep(0.01)  # a client asking ~100 times a second at most
    latencies.sort()
    return {
        "n": len(latencies),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "max": latencies[-1] * 1000,
        "errors": errors,
    }


def scenario(url: str, pid: int, name: str, seconds: float) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    if name == "none":
        rows.append(
            ("small proposal", victim(url, "/v1/decisions/proposal", SMALL_PROPOSAL, seconds))
        )
        rows.append(("git status action", victim(url, "/v1/decisions/action", GIT_STATUS, seconds)))
        rows.append(("/healthz", victim(url, "/healthz", None, seconds)))
        return rows
    kind, count, path, body, label = {
        "proposals": ("proposals", 2, "/v1/decisions/proposal", SMALL_PROPOSAL, "small proposal"),
        "commands": ("commands", 4, "/v1/decisions/action", GIT_STATUS, "git status action"),
        "token flood": ("tokens", 8, "/healthz", None, "/healthz"),
    }[name]
    procs = spawn_abusers(kind, url, count, seconds + 1.0)
    time.sleep(1.0)  # let the abuse start
    result: dict[str, Any] = victim(url, path, body, seconds)
    result["abusers"] = collect(procs)
    rows.append((label, result))
    return rows


SCENARIOS = ["none", "proposals", "commands", "token flood"]


def run(
    label: str, src: Path, extra: str, seconds: float, work: Path, scenarios: list[str]
) -> list[tuple[str, ...]]:
    port = free_port()
    config = write_config(work, port, extra)
    proc = start_runner(config, src)
    url = f"http://127.0.0.1:{port}"
    out = []
    try:
        wait_ready(url, proc)
        for name in scenarios:
            for what, r in scenario(url, proc.pid, name, seconds):
                figures = [f"{r[k]:.1f}" for k in ("p50", "p99", "max")]
                out.append((label, name, what, f"{r['n']:.0f}", *figures,
                            f"{r['errors']:.0f}", f"{rss_mb(proc.pid):.0f}",
                            json.dumps(r.get("abusers", {}))))  # fmt: skip
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--baseline", type=Path, default=None, help="src of the code to compare")
    parser.add_argument("--only", choices=["before", "after", "raised"], action="append")
    parser.add_argument("--scenario", choices=SCENARIOS, action="append")
    parser.add_argument("--abuser", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = max(2.0, min(args.seconds, 60.0))
    if args.abuser:
        abuse(args.abuser, args.url, args.secret, seconds)
        return
    runs = [("after", TREE, ""), ("after, limits raised", TREE, RAISED)]
    if args.baseline is not None:
        runs.insert(0, ("before", args.baseline, ""))
    if args.only:
        keep = {"before": "before", "after": "after", "raised": "after, limits raised"}
        runs = [r for r in runs if r[0] in {keep[o] for o in args.only}]
    rows: list[tuple[str, ...]] = []
    for label, src, extra in runs:
        with tempfile.TemporaryDirectory() as tmp:
            rows += run(label, src, extra, seconds, Path(tmp), args.scenario or SCENARIOS)
    print(f"cpus={os.cpu_count()} seconds={seconds} (victim closed loop, 10 ms think time; "
          "latencies in ms; RSS = runner + evaluator processes after the scenario)")  # fmt: skip
    head = ("runner", "abuse", "victim request", "n", "p50", "p99", "max", "errors", "RSS MB",
            "abusers' answers")  # fmt: skip
    widths = [22, 12, 18, 6, 8, 8, 8, 7, 7, 0]
    for row in (head, *rows):
        print("".join(f"{c:<{w}}" if w else c for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
