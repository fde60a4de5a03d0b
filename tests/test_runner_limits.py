"""No client can starve the rest: request limits, admission, fair lanes, token checks.

Real runners (uvicorn on loopback, real evaluator processes), real HTTP clients
and raw sockets; ordering is made deterministic with events and a stopped
(SIGSTOP) worker process, never with wall-clock assertions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter.actions import shell
from charter.core.errors import ConfigError
from charter.core.memo import ENTRY_OVERHEAD, bytes_lru
from charter.policy.stack import load_stack, shipped_constitution_path
from charter.runner.auth import TokenTable, parse_token_hash, scrypt_hash
from charter.runner.config import parse_config
from charter.runner.evaluators import EvaluatorPool
from charter.runner.fairness import LARGE, SMALL, FairQueue, LaneExecutor, no_context
from charter.runner.limits import Admission, FailureLimiter, Limits, TooMany
from charter.runner.processes import ProcessEvaluators
from charter.trust import keys
from tests.fixtures_registry import free_port
from tests.runner_helpers import ThreadedRunner, auth, metric, wait_until, write_config

PROPOSAL: dict[str, Any] = {
    "kind": "pull_request",
    "repository": "acme/platform",
    "author": {"id": "agent-7", "type": "agent"},
    "body": "no citation",
    "files": [{"path": "api/Dockerfile", "status": "added"}],
}
ACTION = {"kind": "command", "command": "git status", "cwd": "/tmp"}
STACK = f'[stack]\nconstitution = "{shipped_constitution_path()}"\n'


def audited(tmp_path: Path, body: str) -> str:
    """``body`` with an audit store of the test's own."""
    return body + f'[audit]\nstore = "{tmp_path / "audit.db"}"\n'


def many_files(n: int) -> dict[str, Any]:
    return {**PROPOSAL, "files": [{"path": f"src/f{i}.py", "status": "added"} for i in range(n)]}


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[ThreadedRunner]:
    limits = (
        "[limits]\nmax_body_bytes = 65536\nmax_files = 5\nmax_command_length = 64\n"
        "max_json_depth = 8\nmax_inflight_per_token = 2\n"
    )
    r = ThreadedRunner(write_config(tmp_path, audited(tmp_path, STACK) + limits))
    try:
        yield r
    finally:
        r.stop()


# ------------------------------------------------------------------ limits
def test_body_over_the_limit_is_413_naming_the_key(runner: ThreadedRunner) -> None:
    big = {**PROPOSAL, "body": "x" * 70_000}
    r = runner.client.post("/v1/decisions/proposal", json=big, headers=auth("agent"))
    assert r.status_code == 413
    assert "limits.max_body_bytes" in r.json()["error"] and r.json()["field"] == "body"
    assert r.headers["connection"] == "close"
    # the same for actions and explain; a body under the limit is decided
    r = runner.client.post(
        "/v1/decisions/action", json={**ACTION, "x": "y" * 70_000}, headers=auth("agent")
    )
    assert r.status_code == 413
    r = runner.client.post("/v1/explain", json=big, headers=auth("agent"))
    assert r.status_code == 413
    ok = runner.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
    assert ok.status_code == 200, ok.text


def test_a_chunked_body_is_refused_while_it_streams(runner: ThreadedRunner) -> None:
    """No Content-Length: the runner stops reading at the limit and answers 413; the
    client could not push anywhere near its 200 MB."""
    host, port = runner.url.removeprefix("http://").split(":")
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/decisions/proposal HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + auth("agent")["Authorization"].split()[1].encode() +
            b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )  # fmt: skip
        try:
            while sent < 200 * 2**20:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the runner closed the connection after answering
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 64 * 2**20, sent


def test_files_command_and_nesting_limits(runner: ThreadedRunner) -> None:
    r = runner.client.post("/v1/decisions/proposal", json=many_files(6), headers=auth("agent"))
    assert r.status_code == 413, r.text
    assert r.json()["field"] == "files" and "limits.max_files" in r.json()["error"]
    assert "6 files" in r.json()["error"]
    r = runner.client.post("/v1/explain", json=many_files(6), headers=auth("agent"))
    assert r.status_code == 413 and "limits.max_files" in r.json()["error"]
    assert (
        runner.client.post(
            "/v1/decisions/proposal", json=many_files(5), headers=auth("agent")
        ).status_code
        == 200
    )
    r = runner.client.post(
        "/v1/decisions/action",
        json={**ACTION, "command": "echo " + "a" * 80},
        headers=auth("agent"),
    )
    assert r.status_code == 413 and r.json()["field"] == "command"
    assert "limits.max_command_length" in r.json()["error"] and "85 characters" in r.json()["error"]
    deep: Any = "x"
    for _ in range(9):
        deep = {"d": deep}
    for path, body in (
        ("/v1/decisions/proposal", {**PROPOSAL, "extra": deep}),
        ("/v1/decisions/action", {**ACTION, "agent": deep}),
    ):
        r = runner.client.post(path, json=body, headers=auth("agent"))
        assert r.status_code == 422, r.text
        assert "limits.max_json_depth = 8" in r.json()["error"]
        assert "\n" not in r.json()["error"]
    kinds = [x["kind"] for x in runner.service.audit.records()]
    assert kinds.count("proposal") == 1 and "decision" not in kinds  # only what was decided


def test_inflight_per_token_is_limited_before_the_body_is_read(runner: ThreadedRunner) -> None:
    """Two requests of one token stall mid-body; its third is 429, other tokens pass."""
    host, port = runner.url.removeprefix("http://").split(":")
    secret = auth("agent")["Authorization"].split()[1]
    stalled = []
    for _ in range(2):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(
            f"POST /v1/decisions/action HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}"
            "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
        )
        stalled.append(sock)
    try:
        wait_until(lambda: runner.service.admission.inflight("agent-1") == 2)
        r = runner.client.post("/v1/decisions/action", json=ACTION, headers=auth("agent"))
        assert r.status_code == 429 and "limits.max_inflight_per_token = 2" in r.json()["error"]
        assert r.headers["retry-after"] == "1"
        other = runner.client.post("/v1/decisions/action", json=ACTION, headers=auth("operator"))
        assert other.status_code == 200, other.text
        metrics = runner.client.get("/metrics", headers=auth("operator")).text
        assert metric(metrics, "charter_limited_total", reason="inflight") == 1
        assert metric(metrics, "charter_evaluator_queue") == 0
    finally:
        for sock in stalled:
            sock.close()
    wait_until(lambda: runner.service.admission.inflight("agent-1") == 0)
    r = runner.client.post("/v1/decisions/action", json=ACTION, headers=auth("agent"))
    assert r.status_code == 200


def test_rate_per_token(tmp_path: Path) -> None:
    r = ThreadedRunner(
        write_config(tmp_path, STACK + "[limits]\nrate_per_token = 0.001\nburst_per_token = 2\n")
    )
    try:
        codes = [
            r.client.post("/v1/decisions/action", json=ACTION, headers=auth("agent")).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        over = r.client.post("/v1/decisions/action", json=ACTION, headers=auth("agent"))
        assert "limits.rate_per_token" in over.json()["error"]
        assert int(over.headers["retry-after"]) > 100
        ok = r.client.post("/v1/decisions/action", json=ACTION, headers=auth("operator"))
        assert ok.status_code == 200
    finally:
        r.stop()


def test_limits_config_is_checked() -> None:
    base = 'listen = "127.0.0.1:1"\n' + STACK
    assert parse_config(base).limits == Limits()
    cfg = parse_config(base + "[limits]\nmax_files = 7\nrate_per_token = 2.5\n")
    assert cfg.limits.max_files == 7 and cfg.limits.burst == 5
    for bad, says in (
        ("max_filez = 1", "unknown key limits.max_filez"),
        ("max_files = 0", "limits.max_files must be an integer"),
        ("max_json_depth = 500", "limits.max_json_depth must be an integer from 2 to 128"),
        ("max_body_bytes = true", "limits.max_body_bytes"),
        ("rate_per_token = -1", "limits.rate_per_token"),
        ("max_command_length = 100000", "limits.max_command_length"),
    ):
        with pytest.raises(ConfigError, match=says):
            parse_config(base + f"[limits]\n{bad}\n")


def test_limits_are_in_status(runner: ThreadedRunner) -> None:
    s = runner.client.get("/v1/status", headers=auth("operator")).json()
    assert s["limits"]["max_files"] == 5 and s["limits"]["max_body_bytes"] == 65536


# ---------------------------------------------------------------- admission
def test_admission_counts_and_releases_once() -> None:
    now = [0.0]
    admission = Admission(Limits(max_inflight_per_token=1, rate_per_token=1.0), lambda: now[0])
    leave = admission.enter("a")
    with pytest.raises(TooMany, match="max_inflight_per_token"):
        admission.enter("a")
    leave()
    leave()  # idempotent
    assert admission.inflight("a") == 0
    admission.enter("a")()  # the second of the burst of 2
    with pytest.raises(TooMany, match="rate_per_token") as caught:
        admission.enter("a")
    assert caught.value.retry_after == 1
    now[0] += 1.0
    admission.enter("a")()
    assert admission.refused == {"inflight": 1, "rate": 1}


def test_failure_limiter_is_per_address_and_bounded() -> None:
    now = [0.0]
    limiter = FailureLimiter(3, lambda: now[0])
    for _ in range(3):
        assert limiter.blocked("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
    assert limiter.blocked("10.0.0.1") > 0
    assert limiter.blocked("10.0.0.2") == 0
    now[0] += 20.0  # one failure's worth refilled at 3 per minute
    assert limiter.blocked("10.0.0.1") == 0
    for i in range(20_000):
        limiter.failed(f"a{i}")
    assert len(limiter._buckets) <= 16384


# ------------------------------------------------------------------ tokens
def scrypt_config(tmp_path: Path, secret: str, failures: int) -> Path:
    config = write_config(tmp_path, STACK + f"[limits]\nauth_failures_per_minute = {failures}\n")
    entry = scrypt_hash(secret, n=2**10)
    config.write_text(
        config.read_text() + f'\n[[tokens]]\nname = "carol"\nrole = "agent"\nscrypt = "{entry}"\n'
    )
    return config


def test_scrypt_failures_are_limited_per_client(tmp_path: Path) -> None:
    secret = "carol-" + secrets.token_hex(8)
    r = ThreadedRunner(scrypt_config(tmp_path, secret, failures=3))
    try:
        carol = {"Authorization": f"Bearer {secret}"}
        assert r.client.post("/v1/decisions/action", json=ACTION, headers=carol).status_code == 200
        codes = [
            r.client.post(
                "/v1/decisions/action",
                json=ACTION,
                headers={"Authorization": f"Bearer {secrets.token_hex(16)}"},
            ).status_code
            for _ in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429]
        blocked = r.client.post(
            "/v1/decisions/action", json=ACTION, headers={"Authorization": "Bearer nope"}
        )
        assert "limits.auth_failures_per_minute = 3" in blocked.json()["error"]
        assert int(blocked.headers["retry-after"]) >= 1
        # tokens settled without scrypt still pass from that address: SHA-256 entries
        # and the scrypt token verified before (cached)
        assert r.client.post("/v1/decisions/action", json=ACTION, headers=carol).status_code == 200
        ok = r.client.post("/v1/decisions/action", json=ACTION, headers=auth("agent"))
        assert ok.status_code == 200
        assert r.client.get("/healthz").status_code == 200
    finally:
        r.stop()


def test_verified_scrypt_cache_is_bounded_and_never_holds_failures() -> None:
    secret = "s-" + secrets.token_hex(8)
    table = TokenTable(
        (parse_token_hash("c", "agent", "scrypt", scrypt_hash(secret, n=2**4), "t"),)
    )
    assert table.lookup(secret) == "slow"
    assert table.verify_slow("wrong") is None and table.cached == 0
    who = table.verify_slow(secret)
    assert who is not None and who.name == "c" and table.cached == 1
    assert table.lookup(secret) == who  # settled without scrypt now
    assert table.lookup(secret + "x") == "slow"


# ------------------------------------------------------------------- caches
def test_bytes_lru_bounds_by_weight() -> None:
    calls: list[str] = []

    @bytes_lru(lambda text: len(text), max_bytes=10_000, max_entries=1000)
    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    for i in range(100):
        assert upper(f"{i:04}" * 100) == f"{i:04}" * 100  # 400 + overhead each
    info = upper.cache_info()
    assert info.bytes <= 10_000 and info.entries == 10_000 // (400 + ENTRY_OVERHEAD)
    assert upper("0099" * 100) and upper.cache_info().hits == 1
    upper("z" * 2000)  # over an eighth of the budget: computed, not kept
    assert upper.cache_info().too_large == 1 and upper.cache_info().bytes <= 10_000


def test_the_shell_parse_cache_is_bounded_by_bytes() -> None:
    """Distinct 64 KiB commands (the issue's memory attack) stay within the budget."""
    shell.parse.cache_clear()
    for i in range(16):
        shell.parse(f"echo {i} " + " ".join(f"w{j}" for j in range(12_000))[:65000])
    info = shell.parse.cache_info()
    assert info.bytes <= info.max_bytes and info.entries < 16
    shell.parse.cache_clear()


# ----------------------------------------------------------------- fairness
def test_fair_queue_is_round_robin_per_principal_and_lane() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(3):
        queue.put(SMALL, "flood", f"flood-{i}")
    queue.put(SMALL, "quiet", "quiet-0")
    queue.put(LARGE, "flood", "huge")
    assert [queue.pop(SMALL) for _ in range(4)] == ["flood-0", "quiet-0", "flood-1", "flood-2"]
    assert queue.pop(SMALL) is None and queue.pop(LARGE) == "huge" and len(queue) == 0


def test_gate_lanes_keep_a_thread_for_small_work() -> None:
    executor = LaneExecutor(2, "test-lanes", no_context)
    release = threading.Event()
    try:
        huge = [executor.submit(lambda _: release.wait(), "flood", large=True) for _ in range(3)]
        small = executor.submit(lambda _: "small done", "quiet")
        # decided while every large job is held (one runs, two wait)
        assert small.result(timeout=30) == "small done"
        assert not any(f.done() for f in huge)
        release.set()
        assert all(f.result(timeout=30) for f in huge)
    finally:
        release.set()
        executor.shutdown()


def test_evaluator_threads_keep_one_for_small_work_and_take_turns() -> None:
    pool = EvaluatorPool(2, name="test-fair-eval")
    release = threading.Event()
    order: list[str] = []
    try:
        huge = [pool.submit(lambda slot: release.wait(), "flood", large=True) for _ in range(2)]
        small = pool.submit(lambda slot: "small done", "quiet")
        assert small.result(timeout=30) == "small done"
        assert not any(f.done() for f in huge)
        # the small-only thread is now held; queued small work is served round-robin
        hold = threading.Event()
        held = pool.submit(lambda slot: hold.wait(), "holder")
        queued = [
            pool.submit(lambda slot, i=i: order.append(f"flood-{i}"), "flood2") for i in range(3)
        ]
        queued.append(pool.submit(lambda slot: order.append("quiet"), "quiet"))
        hold.set()
        assert held.result(timeout=30)
        for f in queued:
            f.result(timeout=30)
        assert order == ["flood-0", "quiet", "flood-1", "flood-2"]
        release.set()
        assert all(f.result(timeout=30) for f in huge)
    finally:
        release.set()
        pool.shutdown()


def _proposal_body(n: int) -> bytes:
    return json.dumps(many_files(n)).encode()


def test_a_small_proposal_never_waits_behind_a_huge_one() -> None:
    """Two real evaluator processes; the one holding a huge proposal is stopped
    (SIGSTOP): small proposals are still decided, and a second huge one waits in
    the runner instead of taking the last worker."""
    stack = load_stack(constitution=shipped_constitution_path())
    limits = Limits(large_body_bytes=2048)
    pool = ProcessEvaluators(2, limits=limits)
    now = datetime.now(UTC)
    try:
        # both workers have the stack compiled before the test begins
        warm = [pool.submit(stack, _proposal_body(1), now, principal="w") for _ in range(4)]
        assert all(f.result(timeout=60).decision for f in warm)
        huge = pool.submit(stack, _proposal_body(200), now, principal="flood")
        holder = next(w for w in pool._workers if w.large)
        os.kill(holder.process.pid, signal.SIGSTOP)
        try:
            second = pool.submit(stack, _proposal_body(200), now, principal="flood2")
            smalls = [pool.submit(stack, _proposal_body(1), now, principal="q") for _ in range(8)]
            assert all(f.result(timeout=60).decision for f in smalls)
            assert not huge.done() and not second.done()
            assert pool.queued == 1  # the second huge one waits in the runner
        finally:
            os.kill(holder.process.pid, signal.SIGCONT)
        assert huge.result(timeout=60).decision and second.result(timeout=60).decision
    finally:
        pool.shutdown()


# --------------------------------------------------------- registry down
def test_registry_down_at_startup_still_decides_actions(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    trust = tmp_path / "trust.toml"
    (tmp_path / "k.pub").write_bytes(keys.public_pem(keys.generate().public_key()))
    trust.write_text(f'[layers.constitution]\nkeys = ["{tmp_path / "k.pub"}"]\n')
    config = write_config(
        tmp_path,
        f'refresh_interval = "1h"\ntrust_policy = "{trust}"\n'
        + audited(tmp_path, f'[stack]\nconstitution = "oci://127.0.0.1:{dead}/c/constitution:1"\n'),
    )
    r = ThreadedRunner(config)
    try:
        a = r.client.post("/v1/decisions/action", json=ACTION, headers=auth("agent"))
        assert a.status_code == 200 and a.json()["verdict"] == "allow", a.text
        p = r.client.post("/v1/decisions/proposal", json=PROPOSAL, headers=auth("agent"))
        assert p.status_code == 503 and "proposal stack is not loaded" in p.json()["error"]
        s = r.client.get("/v1/status", headers=auth("operator")).json()
        assert s["health"] == "degraded" and s["serving"] == {"proposals": False, "actions": True}
        assert str(dead) in s["reason"]
        ready = r.client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["health"] == "degraded"
        assert [x["kind"] for x in r.service.audit.records()].count("decision") == 1
    finally:
        r.stop()


def test_healthz_answers_while_scrypt_runs(tmp_path: Path) -> None:
    """scrypt runs off the event loop: /healthz is answered while a costly check of a
    wrong token is still running (ordering by events, not by timing)."""
    config = write_config(tmp_path, STACK)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(b"right", salt=salt, n=2**16, r=8, p=1, dklen=32, maxmem=2**28)
    entry = "$".join(  # ~0.1-0.5 s per check
        ["scrypt", str(2**16), "8", "1", base64.b64encode(salt).decode(),
         base64.b64encode(digest).decode()]
    )  # fmt: skip
    config.write_text(
        config.read_text() + f'\n[[tokens]]\nname = "slow"\nrole = "agent"\nscrypt = "{entry}"\n'
    )
    r = ThreadedRunner(config)
    try:
        finished = threading.Event()

        def wrong() -> None:
            with httpx.Client(base_url=r.url, timeout=60) as c:
                c.post("/v1/decisions/action", json=ACTION, headers={"Authorization": "Bearer x"})
            finished.set()

        thread = threading.Thread(target=wrong)
        thread.start()
        answered_during = 0
        while not finished.is_set():
            if r.client.get("/healthz").status_code == 200 and not finished.is_set():
                answered_during += 1
        thread.join()
        assert answered_during >= 3  # on the loop, at most one could slip in
    finally:
        r.stop()


def test_short_inputs_take_a_bounded_lru_and_long_ones_the_byte_budget() -> None:
    """``short``: calls of at most that many characters go to an lru_cache bounded by
    entries (so at most max_entries x short characters), longer ones to the byte budget;
    both give the function's own answers."""
    calls: list[object] = []

    @bytes_lru(lambda *a: 1000, max_bytes=100_000, max_entries=4, short=8)
    def echo(*parts: object) -> tuple[object, ...]:
        calls.append(parts)
        return parts

    for i in range(10):
        assert echo(f"s{i}") == (f"s{i}",)
    assert echo("s9") == ("s9",) and len(calls) == 10  # a short hit
    assert echo(("a", "b"), (True,)) == (("a", "b"), (True,)) and len(calls) == 11
    assert echo(("a", "b"), (True,)) and len(calls) == 11  # tuples of strings are short too
    long = "x" * 9
    assert echo(long) == (long,) and echo(long) == (long,)
    info = echo.cache_info()
    assert info.entries == 1 and info.hits == 1 and info.bytes <= 100_000  # only the long one
    assert echo(3) == (3,) and echo.cache_info().misses == 2  # not a string: the budget path
    echo.cache_clear()
    assert echo("s9") == ("s9",) and len(calls) == 14  # cleared from both caches


def test_gate_lanes_without_shared_small_work_decide_small_work_on_one_thread() -> None:
    """``shared_small=False``: small work runs on the first thread only (one at a time,
    in order), the second serves the large lane and a large job never holds up a small one."""
    executor = LaneExecutor(2, "test-one-small", no_context, shared_small=False)
    release = threading.Event()
    names: set[str] = set()
    active = 0
    most = 0
    guard = threading.Lock()

    def small(_: None) -> None:
        nonlocal active, most
        with guard:
            active += 1
            most = max(most, active)
            names.add(threading.current_thread().name)
        time.sleep(0.002)
        with guard:
            active -= 1

    try:
        huge = executor.submit(lambda _: release.wait(), "flood", large=True)
        smalls = [executor.submit(small, f"p{i % 3}") for i in range(20)]
        for future in smalls:
            future.result(timeout=30)
        assert not huge.done()  # the large job is still held on its own thread
        assert names == {"test-one-small-0"} and most == 1
        second = executor.submit(lambda _: "second large", "flood", large=True)
        release.set()
        assert huge.result(timeout=30) and second.result(timeout=30) == "second large"
    finally:
        release.set()
        executor.shutdown()
