"""The evaluator pool keeps every regorus engine on the thread that built it."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from charter.core.errors import CharterError
from charter.facts.decide import decide
from charter.policy.decision import evaluate
from charter.policy.stack import Stack, load_stack
from charter.runner.evaluators import EngineSlot, EvaluatorPool
from charter.runner.processes import EvaluatorLost, ProcessEvaluators
from tests.conftest import overlay_rule, write_bundle

DOCS_PR = {
    "kind": "pull_request",
    "repository": "acme/site",
    "author": {"id": "dev", "type": "human"},
    "base": "main",
}


@pytest.fixture
def unraisable() -> Iterator[list[str]]:
    """Errors reported from destructors (where pyo3 reports a wrong-thread drop)."""
    seen: list[str] = []
    previous = sys.unraisablehook

    def hook(info: Any) -> None:
        seen.append(f"{info.exc_type.__name__}: {info.exc_value}")

    sys.unraisablehook = hook
    try:
        yield seen
    finally:
        gc.collect()
        sys.unraisablehook = previous


def test_dropping_an_engine_on_another_thread_is_what_the_pool_prevents(
    unraisable: list[str],
) -> None:
    # The hazard itself: an engine built on one thread and dropped on another.
    box: list[Any] = []
    worker = threading.Thread(target=lambda: box.append(load_stack().compile()))
    worker.start()
    worker.join()
    box.clear()
    gc.collect()
    assert any("unsendable" in line for line in unraisable), unraisable


def test_each_thread_compiles_once_and_reuses_its_engine(shipped_stack: Stack) -> None:
    pool = EvaluatorPool(2)
    try:
        barrier = threading.Barrier(2)

        def task(slot: EngineSlot) -> tuple[int, int]:
            engine = id(slot.compiled(shipped_stack))
            barrier.wait(timeout=30)  # both threads hold a task at once
            return threading.get_ident(), engine

        first = [pool.submit(task) for _ in range(2)]
        seen = dict(f.result(timeout=60) for f in first)
        assert len(seen) == 2 and len(set(seen.values())) == 2
        again = [pool.submit(task) for _ in range(2)]
        assert dict(f.result(timeout=60) for f in again) == seen
    finally:
        pool.shutdown()


def test_a_new_stack_replaces_the_engine() -> None:
    pool = EvaluatorPool(1)
    try:
        one, two = load_stack(), load_stack()
        first = pool.run(lambda slot: id(slot.compiled(one)))
        assert pool.run(lambda slot: id(slot.compiled(one))) == first
        assert pool.run(lambda slot: slot.compiled(two).stack) is two
        decision = pool.run(lambda slot: evaluate(slot.compiled(two), DOCS_PR))
        assert str(decision.verdict) in {"allow", "deny", "ask"}
    finally:
        pool.shutdown()


def test_errors_reach_the_caller_without_the_engine(
    shipped_stack: Stack, unraisable: list[str]
) -> None:
    pool = EvaluatorPool(1)

    def fails(slot: EngineSlot) -> None:
        compiled = slot.compiled(shipped_stack)
        raise ValueError(f"bad document for {len(compiled.stack.rules)} rules")

    with pytest.raises(ValueError, match="bad document") as caught:
        pool.run(fails)
    # The traceback crossed threads; its frames must no longer hold the engine.
    for tb in _tracebacks(caught.value):
        assert all("CompiledStack" not in type(v).__name__ for v in tb.tb_frame.f_locals.values())
    pool.shutdown()
    del caught
    gc.collect()
    assert unraisable == []


def test_shutdown_drops_engines_on_their_threads_and_refuses_new_work(
    shipped_stack: Stack, unraisable: list[str]
) -> None:
    pool = EvaluatorPool(3)
    futures = [pool.submit(lambda slot: len(slot.compiled(shipped_stack).rules)) for _ in range(9)]
    assert all(f.result(timeout=60) > 0 for f in futures)
    pool.shutdown()
    gc.collect()
    assert unraisable == []
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(lambda slot: None)


def test_shutdown_cancels_queued_work() -> None:
    pool = EvaluatorPool(1)
    gate, started = threading.Event(), threading.Event()

    def hold(slot: EngineSlot) -> bool:
        started.set()
        return gate.wait(30)

    running = pool.submit(hold)
    assert started.wait(30)
    queued = [pool.submit(lambda slot: 1) for _ in range(5)]
    closer = threading.Thread(target=pool.shutdown)
    closer.start()
    # Once shutdown has emptied the queue, release the running task.
    for f in queued:
        while not f.done():
            threading.Event().wait(0.01)
    gate.set()
    closer.join(60)
    assert running.result(timeout=5) is True
    assert all(f.cancelled() for f in queued)


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError):
        EvaluatorPool(0)


def _tracebacks(exc: BaseException) -> Iterator[Any]:
    tb = exc.__traceback__
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_a_service_used_from_many_threads_leaves_no_engine_behind(
    tmp_path: Path, unraisable: list[str]
) -> None:
    gc.disable()
    try:
        verdicts = _exercise_service(tmp_path)
        # The service is garbage now. The collector runs on whichever thread
        # allocates at the wrong moment; make it one that never built an engine.
        collector = threading.Thread(target=gc.collect)
        collector.start()
        collector.join(60)
    finally:
        gc.enable()
    assert len(verdicts) == 6 and len(set(verdicts)) == 1
    assert unraisable == []


def _exercise_service(tmp_path: Path) -> list[str]:
    from charter.policy.stack import shipped_constitution_path
    from charter.runner.config import parse_config
    from charter.runner.service import RunnerService

    config = parse_config(
        f'refresh_interval = "1h"\nevaluator_threads = 2\nstate_dir = "{tmp_path / "state"}"\n'
        f'[stack]\nconstitution = "{shipped_constitution_path()}"\n'
        f'[audit]\nstore = "{tmp_path / "audit.db"}"\n',
        base=tmp_path,
    )
    service = RunnerService(config).start()
    try:
        # The library API, the explain path and callers on other threads.
        verdicts = [service.decide_proposal(DOCS_PR, "t")["verdict"]]
        workers = [
            threading.Thread(target=lambda: verdicts.append(service.explain(DOCS_PR)["verdict"]))
            for _ in range(4)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        service.refresh()  # a new generation: engines are rebuilt where they live
        verdicts.append(service.decide_proposal(DOCS_PR, "t")["verdict"])
        return verdicts
    finally:
        service.stop()


# ------------------------------------------------------------ worker processes


def _body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_processes_decide_as_the_library_does(shipped_stack: Stack) -> None:
    pool = ProcessEvaluators(2)
    try:
        now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        for document in (
            DOCS_PR,
            {**DOCS_PR, "kind": "push", "author": {"id": "a", "type": "agent"}},
        ):
            got = pool.submit(shipped_stack, _body(document), now, want_document=True).result(60)
            decided = decide(shipped_stack.compile(), document, now=now)
            expected = decided.decision
            assert got.decision.verdict == expected.verdict
            assert [(r.rule, r.msg) for r in got.decision.reasons] == [
                (r.rule, r.msg) for r in expected.reasons
            ]
            assert got.decision.time == expected.time
            # The document decided is the reconciled one (without an identity map the
            # declared "human" is not believed), and the author id is kept.
            assert got.document == decided.document and got.author_id == document["author"]["id"]
        lean = pool.submit(shipped_stack, _body(DOCS_PR), now).result(60)
        assert lean.document is None and lean.author_id == "dev"
    finally:
        pool.shutdown()


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        (b"[1]", "InputError", "must be a JSON object"),
        (b'{"kind": NaN}', "InputError", "NaN is not valid JSON"),
        (b'{"kind": "pull_request"}', "InputError", "proposal.author: is required"),
    ],
)
def test_process_errors_keep_their_kind(
    shipped_stack: Stack, body: bytes, error: str, match: str
) -> None:
    pool = ProcessEvaluators(1)
    try:
        future = pool.submit(shipped_stack, body, datetime.now(UTC))
        with pytest.raises(CharterError, match=match) as caught:
            future.result(60)
        assert type(caught.value).__name__ == error
    finally:
        pool.shutdown()


def test_a_new_stack_reaches_every_worker_before_the_next_request(tmp_path: Path) -> None:
    strict = overlay_rule("OV-DENY-PR-001", 'input.kind == "pull_request"', kind="deny")
    overlay = write_bundle(
        tmp_path / "ov",
        layer="overlay",
        name="acme",
        roots=["charter/overlay"],
        files={"rules/r.rego": strict},
    )
    base, stricter = load_stack(), load_stack(overlay=overlay)
    pool = ProcessEvaluators(2)
    try:
        now = datetime.now(UTC)
        first = [pool.submit(base, _body(DOCS_PR), now) for _ in range(4)]
        then = [pool.submit(stricter, _body(DOCS_PR), now) for _ in range(4)]
        assert all(
            "OV-DENY-PR-001" not in {r.rule for r in f.result(60).decision.reasons} for f in first
        )
        assert all(
            "OV-DENY-PR-001" in {r.rule for r in f.result(60).decision.reasons} for f in then
        )
    finally:
        pool.shutdown()


def test_a_worker_that_dies_fails_its_requests_and_is_replaced(shipped_stack: Stack) -> None:
    pool = ProcessEvaluators(1)
    try:
        now = datetime.now(UTC)
        assert pool.submit(shipped_stack, _body(DOCS_PR), now).result(60).decision
        victim = pool._workers[0].process
        # A huge body keeps the worker busy parsing while it is killed.
        big = _body({**DOCS_PR, "body": "x" * 20_000_000})
        in_flight = pool.submit(shipped_stack, big, now)
        os.kill(victim.pid, signal.SIGKILL)
        with pytest.raises(EvaluatorLost, match="stopped before answering"):
            in_flight.result(60)
        assert pool.restarts == 1 and pool._workers[0].process is not victim
        # The replacement gets the stack again and answers.
        after = pool.submit(shipped_stack, _body(DOCS_PR), now).result(60)
        assert str(after.decision.verdict) in {"allow", "ask", "deny"}
    finally:
        pool.shutdown()


def test_shutdown_fails_what_is_queued_and_refuses_more(shipped_stack: Stack) -> None:
    pool = ProcessEvaluators(1)
    pool.shutdown()
    with pytest.raises(EvaluatorLost, match="shut down"):
        pool.submit(shipped_stack, _body(DOCS_PR), datetime.now(UTC))
    with pytest.raises(ValueError):
        ProcessEvaluators(0)


def test_a_worker_that_keeps_crashing_is_restarted_with_backoff(shipped_stack: Stack) -> None:
    pool = ProcessEvaluators(1)
    try:
        # Killed before it ever answered: counted as a crash, replaced after a delay,
        # and meanwhile requests fail fast instead of waiting for a worker.
        os.kill(pool._workers[0].process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while pool.alive and time.monotonic() < deadline:
            time.sleep(0.005)
        assert pool.alive == 0 and pool.restarts == 1
        with pytest.raises(EvaluatorLost, match="no evaluator process is running"):
            pool.submit(shipped_stack, _body(DOCS_PR), datetime.now(UTC))
        while not pool.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        answer = pool.submit(shipped_stack, _body(DOCS_PR), datetime.now(UTC)).result(60)
        assert answer.author_id == "dev"
    finally:
        pool.shutdown()


def test_a_program_without_a_main_guard_can_embed_the_pool(tmp_path: Path) -> None:
    # multiprocessing's spawn would re-run this script in every worker; the
    # workers are plain `python -m charter.runner.worker` processes instead.
    script = tmp_path / "embed.py"
    script.write_text(
        "import json, datetime\n"
        "from charter.runner.processes import ProcessEvaluators\n"
        "from charter.policy.stack import load_stack\n"
        "pool = ProcessEvaluators(1)\n"
        f"body = json.dumps({DOCS_PR!r}).encode()\n"
        "now = datetime.datetime.now(datetime.UTC)\n"
        "print(pool.submit(load_stack(), body, now).result(60).decision.verdict)\n"
        "pool.shutdown()\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in {"allow", "ask", "deny"}


def test_the_worker_entry_point_refuses_bad_arguments() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "charter.runner.worker", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "usage" in done.stderr
