"""The evaluator pool keeps every regorus engine on the thread that built it."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.decision import evaluate
from charter.runner.evaluators import EngineSlot, EvaluatorPool
from charter.stack import Stack, load_stack

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
    from charter.runner.config import parse_config
    from charter.runner.service import RunnerService
    from charter.stack import shipped_constitution_path

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
