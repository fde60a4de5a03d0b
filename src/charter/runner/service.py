"""The runner's service: everything behind the HTTP API, which is a thin shell over it.

It holds what is served (a :class:`~charter.runner.loading.Generation` of the
verified stack and the agent-runtime gate, loaded by :mod:`.loading` at startup
and at every refresh; only a load that passed every step replaces the one being
served, and a failed refresh keeps the last good one and marks the service
``degraded``), the watchdog, the audit store, the evaluators (:mod:`.evaluators`
threads, :mod:`.processes` workers), the remembered decisions (:mod:`.approvals`),
the state every replica shares beyond the asks — accepted layer versions, API spend,
console sessions (:mod:`.shared_state`) — and the metrics (:mod:`.metrics`).

A decision flows one way: parse → validate → decide → record → answer. It is
answered only after its audit record is durable, and if the watchdog has seen
any verified file change, every decision is ``deny``.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from charter.actions.layers import accept_versions
from charter.audit import stores as audit_mod
from charter.core.decision import Decision, Reason
from charter.core.errors import (
    AuditError,
    CharterError,
    EvaluationError,
    InputError,
    NotFound,
    Unavailable,
)
from charter.core.verdict import Verdict
from charter.facts import evidence as evidence_mod
from charter.facts.decide import Decided, decide, hypothetical_facts
from charter.facts.reconcile import Facts
from charter.policy.decision import apply_waivers
from charter.policy.explain import explain as explain_decision
from charter.policy.explain import hypothetical as hypothetical_change
from charter.policy.stack import CompiledStack, Stack
from charter.runner import waivers as waivers_mod
from charter.runner.approvals import (
    Approvals,
    open_approvals,
    proposal_subject,
    replica_name,
    view_of,
)
from charter.runner.bodies import parse_proposal, principal_id
from charter.runner.config import RunnerConfig
from charter.runner.evaluators import EngineSlot, EvaluatorPool, clear_frames
from charter.runner.exporter import Export
from charter.runner.fairness import LaneExecutor, no_context
from charter.runner.gc import Settler
from charter.runner.limits import Admission, FailureLimiter
from charter.runner.loading import ActionGate, Generation, Loader, Pins, now_text
from charter.runner.metrics import Metrics
from charter.runner.processes import Evaluated, ProcessEvaluators
from charter.runner.shared_state import SharedBudget, SharedState, SharedVersions, open_state
from charter.runner.webhook import AskWebhook, open_webhook
from charter.trust.policy import EvidenceTrust, TrustPolicy, load_policy
from charter.trust.versions import default_state_dir
from charter.trust.watchdog import Watchdog

T = TypeVar("T")
INTEGRITY_RULE = "CHARTER-INTEGRITY-LOST"
#: An action body above this many bytes is decided in the gate's large lane (a
#: command's cost grows with its length: ~75 ms for 16 KiB, ~300 ms for 64 KiB).
LARGE_ACTION_BYTES = 4096
#: Threads storing asks (mostly waiting on a commit): with PostgreSQL, the asks
#: waiting meanwhile are written together in the next batch (see .approval_pg).
ASK_THREADS = 16


def _utcnow() -> datetime:
    return datetime.now(UTC)


class NotReady(Unavailable):
    """No verified stack is loaded; decisions are refused (HTTP 503)."""


class RunnerService:
    """Everything behind the HTTP API; the app is a thin shell over it."""

    def __init__(
        self,
        config: RunnerConfig,
        *,
        dev: bool = False,
        clock: Callable[[], datetime] | None = None,
        manage_gc: bool = False,
    ) -> None:
        self.config = config
        self.dev = dev
        #: Freeze what a load leaves behind out of the garbage collector's way
        #: (see :mod:`.gc`); a process-wide setting, so only the ``charter
        #: runner`` command, which owns its process, turns it on.
        self.gc = Settler(manage_gc)
        #: The time of each decision (``input.context.now`` and waiver expiry).
        #: Clients cannot set it: a client-chosen time could revive an expired waiver.
        self.clock: Callable[[], datetime] = clock or _utcnow
        self.policy: TrustPolicy | None = (
            load_policy(config.trust_policy) if config.trust_policy else None
        )
        state_dir = config.state_dir or (self.policy.state_dir if self.policy else None)
        # What leaves the data plane (charter.runner.exporter; off unless [export] is set).
        self.export = Export(config.export, replica=replica_name())
        #: Told of every ask, redacted and signed (charter.runner.webhook; off unless
        #: [approvals.webhook] is set).
        self.webhook: AskWebhook | None = open_webhook(
            config.approval_webhook, replica=replica_name(), now=lambda: self.clock().timestamp()
        )
        self.audit: audit_mod.AuditStore = audit_mod.open_store(config.audit_store)
        self.audit = self.export.wrap(self.audit)
        # With the audit store: the configured location (a URL's password included).
        where = config.audit_store or audit_mod.default_location()
        try:
            approval_store = open_approvals(where)
        except BaseException:
            self.audit.close()
            raise
        try:
            #: Accepted versions, spend and console sessions of every replica (see
            #: :mod:`.shared_state`).
            self.state: SharedState = open_state(where)
        except BaseException:
            approval_store.close()
            self.audit.close()
            raise
        self.watchdog = Watchdog(interval=config.watchdog_interval, subject="runner stack")
        self.watchdog.on_integrity_lost(self._record_integrity)
        self.loader = Loader(
            config,
            self.policy,
            Path(state_dir) if state_dir else default_state_dir(),
            self.watchdog,
            self.audit.location,
        )
        # Rollback refusal holds across replicas: versions are checked against, and
        # recorded in, the shared store as well as the state directory.
        self.versions = SharedVersions(self.loader.state_dir, self.state, replica_name())
        self.loader.versions = self.versions
        #: The API spend of every replica, counted by the gate against the constitution.
        self.budget = SharedBudget(
            self.state, replica_name(), interval=config.budget_refresh, clock=lambda: self.clock()
        )
        self.loader.budget = self.budget
        self._generation: Generation | None = None
        self._actions: ActionGate | None = None
        #: Proposal evaluation runs here, on a few long-lived threads, each with
        #: its own engine: regorus engines are thread-affine, and many threads
        #: evaluating at once (each with its own engine) contend for the GIL and
        #: the CPU caches, measured 2-3x slower per evaluation than two threads.
        self.evaluator = EvaluatorPool(config.evaluator_threads)
        #: What every proposal decision derives beyond the document (docs/design.md,
        #: 'Facts: declared and derived').
        self.facts = Facts(identities=config.identities)
        #: Proposal bodies are evaluated here when configured (see .processes).
        self.processes = (
            ProcessEvaluators(config.evaluator_processes, self.facts, config.limits)
            if config.evaluator_processes and config.constitution is not None
            else None
        )
        #: Action decisions (the gate is CPU-bound and quick; the audit commit no
        #: longer parks a thread), fed by a fair queue (see .fairness): the first
        #: thread decides small actions, the second large ones only, so a large
        #: action never holds up a small one and small ones never contend with each
        #: other for the GIL.
        self.deciders = LaneExecutor(2, "charter-gate", no_context, shared_small=False)
        #: Per-token in-flight and rate limits, and failed authentications per
        #: client address (see .limits).
        self.admission = Admission(config.limits)
        self.auth_failures = FailureLimiter(config.limits.auth_failures_per_minute)
        #: scrypt token checks (each ~16 MB and tens of ms of a core): one thread, so a
        #: flood of wrong tokens leaves the event loop and the other cores alone.
        self.token_checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charter-scrypt")
        #: Pending asks, shared by every replica on the same store (see :mod:`.approvals`).
        self.approvals = Approvals(
            approval_store,
            lambda record: self._record(record, kind="approval"),
            clock=lambda: self.clock(),
            ttl=config.approval_ttl,
            poll_interval=config.approval_poll,
            lease=config.approval_lease,
            audit_head=self._audit_head,
            find_answer=self._find_answer,
            record_event=lambda record: self._record(record, kind="event"),
        )
        #: An ``ask`` is stored for every replica here, off the audit flusher's thread;
        #: enough threads that concurrent asks share a commit (see .approval_pg).
        self.approval_io = ThreadPoolExecutor(
            max_workers=ASK_THREADS, thread_name_prefix="charter-asks"
        )
        self.metrics = Metrics()
        self.metrics.sources.append(self.export.metrics)
        self.metrics.sources.append(self.approvals.metrics)
        if self.webhook is not None:
            self.metrics.sources.append(self.webhook.metrics)
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at = time.time()
        self.last_refresh: dict[str, Any] | None = None
        self.last_good_refresh: str | None = None
        self.degraded_reason: str | None = None
        self.load_error: str | None = None
        #: Why the proposal stack / the action gate is not being served (None when it
        #: is, or is not configured): each is loaded and served on its own.
        self.stack_error: str | None = None
        self.actions_error: str | None = None

    @property
    def pins(self) -> Pins:
        return self.loader.pins

    # ------------------------------------------------------------ lifecycle
    def start(self) -> RunnerService:
        """Initial load (never raises: a failure is reported), then the timers."""
        try:
            # What this replica accepted before it shared a store becomes every replica's
            # floor; claims it held before a restart (by its stable name) are resolved.
            self.versions.publish()
            self.approvals.recover_own()
        except CharterError as exc:
            self.degraded_reason = f"shared state not brought up to date: {exc}"
        self.refresh()
        self.export.start()
        if self.webhook is not None:
            self.webhook.start()
        self.watchdog.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="charter-refresh", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.watchdog.stop(timeout=10)
        self.evaluator.shutdown()
        if self.processes is not None:
            self.processes.shutdown()
        self.deciders.shutdown()
        self.token_checks.shutdown(wait=True, cancel_futures=True)
        self.approval_io.shutdown(wait=True, cancel_futures=True)
        if self.webhook is not None:
            self.webhook.stop()
        self.approvals.close()
        self.state.close()
        self.export.stop()
        self.audit.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.config.refresh_interval):
            self.refresh()

    # -------------------------------------------------------------- refresh
    def refresh(self) -> bool:
        """Pull, verify, version-check, extract and compile; swap only on full success.

        Waivers are re-read whatever the outcome, so a removed waiver stops
        applying even while the registry is down.
        """
        with self._refresh_lock:
            try:
                if self._refresh_stack():
                    return True
                if self._generation is not None:
                    self._generation = self.loader.with_waivers(self._generation)
                return False
            finally:
                self.gc.settle(*self._long_lived())

    def settle_gc(self) -> None:
        """Collect and freeze now (e.g. once the HTTP app exists); see :mod:`.gc`."""
        self.gc.settle(*self._long_lived(), force=True)

    def _long_lived(self) -> tuple[object, ...]:
        """What a load leaves behind for the life of the service (see :mod:`.gc`)."""
        return (self._generation.stack if self._generation else None, self._actions)

    def _refresh_stack(self) -> bool:
        """Refresh the action gate and the proposal stack, each on its own: the agent-runtime
        constitution is a local file, so a registry that is down (at startup too) leaves
        action decisions served while proposals wait for their stack."""
        started = time.perf_counter()
        previous = self._generation
        actions_error = self._refresh_actions()
        try:
            generation, accepts = self.loader.load_stack(previous)
            for key, version, content, allow_major in accepts:
                self.loader.versions.accept(key, version, content, allow_major=allow_major)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last good stack
            self.stack_error = _describe(exc) if previous is None else None
            failed = [e for e in (actions_error, _describe(exc)) if e]
            return self._refresh_failed("; ".join(failed), started)
        if actions_error is not None:
            self._swap_stack(previous, generation)
            return self._refresh_failed(actions_error, started)
        changed = self._swap_stack(previous, generation)
        self.degraded_reason = None
        self.load_error = None
        self.last_good_refresh = now_text()
        self.last_refresh = {
            "at": self.last_good_refresh,
            "ok": True,
            "changed": changed,
            "error": None,
            "seconds": round(time.perf_counter() - started, 4),
        }
        self.metrics.refresh(True)
        return True

    def _refresh_actions(self) -> str | None:
        """Load the action gate and swap it in if it changed; why it failed, if it did."""
        try:
            actions = self.loader.load_actions(self._actions)
            if actions is not None and actions is not self._actions:
                accept_versions(actions.accepts, self.loader.versions)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last good gate
            reason = _describe(exc)
            self.actions_error = reason if self._actions is None else None
            return reason
        if actions is not None:
            for path, digest in actions.info["files"].items():
                self.watchdog.watch(path, digest)
        self._actions = actions
        self.actions_error = None
        return None

    def _swap_stack(self, previous: Generation | None, generation: Generation) -> bool:
        """Serve ``generation`` (with the waivers as they are now); whether it is new."""
        for loaded in generation.layers:
            if loaded.file is not None:
                self.watchdog.watch(loaded.file, loaded.layer.digest)
        self._generation = self.loader.with_waivers(generation)
        self.stack_error = None
        return previous is None or generation.number != previous.number

    def _refresh_failed(self, reason: str, started: float) -> bool:
        self.last_refresh = {
            "at": now_text(),
            "ok": False,
            "changed": False,
            "error": reason,
            "seconds": round(time.perf_counter() - started, 4),
        }
        if self._generation is None and self._actions is None:
            self.load_error = reason
        else:
            # Something is served: what could not be loaded is reported, not fatal.
            self.load_error = None
            self.degraded_reason = reason
        self.metrics.refresh(False)
        return False

    def _record_integrity(self, event: Any) -> None:
        self.audit.append(
            {"decision_id": f"integrity-{int(time.time() * 1000)}", "verdict": "deny",
             "event": event.to_dict(), "stack": self.stack_doc()},
            source="runner",
            kind="event",
        )  # fmt: skip

    # --------------------------------------------------------------- status
    @property
    def ready(self) -> bool:
        loaded = self._generation is not None or self._actions is not None
        return self.load_error is None and loaded

    @property
    def health(self) -> str:
        if not self.ready:
            return "failed"
        if not self.watchdog.healthy:
            return "integrity_lost"
        if self.degraded_reason:
            return "degraded"
        return "ok"

    def stack_doc(self) -> list[dict[str, Any]]:
        gen = self._generation
        docs = [x.layer.describe() for x in gen.layers] if gen else []
        if self._actions is not None:
            info = self._actions.info
            docs.append({k: info[k] for k in ("layer", "name", "version", "digest")})
        return docs

    def status(self) -> dict[str, Any]:
        gen = self._generation
        return {
            "health": self.health,
            "ready": self.ready,
            "degraded": self.health != "ok",
            "reason": self.load_error or self.watchdog.reason or self.degraded_reason,
            "dev": self.dev,
            "generation": gen.number if gen else None,
            "stack_digest": gen.stack.digest if gen and gen.stack else None,
            "layers": [x.describe() for x in gen.layers] if gen else [],
            "actions": self._actions.info if self._actions else None,
            "loaded_at": gen.loaded_at if gen else None,
            "last_refresh": self.last_refresh,
            "last_good_refresh": self.last_good_refresh,
            "refresh_interval": self.config.refresh_interval,
            "serving": {
                "proposals": gen is not None and gen.stack is not None,
                "actions": self._actions is not None,
            },
            "integrity": {"ok": self.watchdog.healthy, "reason": self.watchdog.reason},
            "audit": {"store": self.audit.location},
            "approvals": {
                "store": self.approvals.store.location,
                "ttl": self.approvals.ttl,
                "claim_lease": self.approvals.lease,
                "recovered": self.approvals.recovered,
                "webhook": self.webhook.status() if self.webhook is not None else None,
            },  # fmt: skip
            "shared_state": {"store": self.state.location, "replica": replica_name()},
            "waivers": self.waiver_status(gen),
            "evaluators": {
                "threads": self.config.evaluator_threads,
                "processes": self.processes.size if self.processes else 0,
                "process_restarts": self.processes.restarts if self.processes else 0,
            },
            "limits": dataclasses.asdict(self.config.limits),
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }

    def limited(self) -> dict[str, int]:
        """Requests refused for a token (in flight, rate) or a client address (auth failures)."""
        return {**self.admission.refusals(), "auth_failures": self.auth_failures.refused}

    def queued(self) -> int:
        """Proposals waiting in the fair queue for an evaluator process."""
        return self.processes.queued if self.processes is not None else 0

    def waiver_status(self, gen: Generation | None = None) -> dict[str, Any] | None:
        """The waivers read at the last refresh, each judged at the current time."""
        if self.config.waivers_dir is None:
            return None
        gen = gen or self._generation
        waivers = gen.waivers if gen is not None else None
        stack = gen.stack if gen is not None else None
        return waivers_mod.report(self.config.waivers_dir, waivers, stack, self.clock())

    # ------------------------------------------------------------ proposals
    def _no_stack(self) -> NotReady:
        """Why a proposal cannot be decided now (HTTP 503)."""
        if self.config.constitution is None:
            return NotReady(
                "no proposal stack is configured", hint="set [stack] constitution in the config"
            )
        why = self.stack_error or self.load_error or "not loaded yet"
        return NotReady(
            f"the proposal stack is not loaded: {why}",
            hint="see GET /v1/status for why the stack did not load; the runner keeps retrying",
        )

    def _stack(self, gen: Generation | None = None) -> Stack:
        gen = gen or self._generation
        if gen is None or gen.stack is None:
            raise self._no_stack()
        return gen.stack

    def _compiled(self, slot: EngineSlot, gen: Generation | None) -> CompiledStack:
        """The calling evaluator thread's engine for ``gen`` (see :mod:`.evaluators`)."""
        if gen is None or gen.stack is None:
            raise self._no_stack()
        return slot.compiled(gen.stack)

    def _evaluate(
        self,
        slot: EngineSlot,
        document: Any,
        gen: Generation | None,
        *,
        validate: bool = True,
        hypothetical: bool = False,
    ) -> Decided:
        # The facts before the engine enters this frame. A hypothetical change's
        # author is of the type it names (as for `charter explain --adds`).
        facts = hypothetical_facts(document) if hypothetical else self._facts_for(document)
        compiled = self._compiled(slot, gen)
        hook = gen.waivers.apply if gen is not None and gen.waivers is not None else None
        try:
            return decide(
                compiled, document, facts, now=self.clock(), waivers=hook, validate=validate
            )
        except CharterError:
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            # A Rust panic (pyo3's PanicException is a BaseException) may leave
            # the engine inconsistent: drop it so this thread compiles a new one,
            # and answer an error, never a decision (and never an HTTP 500).
            del compiled
            slot.clear()
            raise EvaluationError(
                f"evaluation failed ({type(exc).__name__}: {exc})",
                hint="see docs/design.md, 'Errors and exit codes'",
            ) from exc

    def _facts_for(self, document: Any) -> Facts:
        """The runner's facts, plus the evidence a document carries inline (verified
        against the trust policy's ``[evidence]`` signers, as ``charter check`` does)."""
        if not isinstance(document, dict) or "evidence" not in document:
            return self.facts
        signers = self.policy.evidence if self.policy is not None else EvidenceTrust()
        found = evidence_mod.for_document(document, None, signers)
        if found is None:
            return self.facts
        return dataclasses.replace(self.facts, artifacts=found.artifacts, scan=found.scan)

    def evaluate_proposal(
        self, slot: EngineSlot, document: Any, *, validate: bool = True
    ) -> Decided:
        """Validate (unless the caller parsed it) and decide a proposal: the decision and
        the reconciled document it was made on.

        The first half of a decision: runs on an evaluator thread, with its slot
        (see :attr:`evaluator`). Nothing is acknowledged until
        :meth:`_commit_async` has recorded it.
        """
        if not self.ready:
            raise self._no_stack()
        return self._evaluate(slot, document, self._generation, validate=validate)

    def decide_proposal(self, document: Any, principal: str) -> dict[str, Any]:
        """Decide a proposal given as Python data: as its JSON body would be decided."""
        return self.submit_proposal(_as_body(document), principal, lambda doc: doc).result()

    def submit_proposal(
        self, body: bytes, principal: str, finish: Callable[[dict[str, Any]], T]
    ) -> Future[T]:
        """Decide a proposal body as a pipeline: parse and evaluate, record, finish.

        Parsing and evaluation run in an evaluator process (or on an evaluator
        thread when ``evaluator_processes = 0``); the record is queued for the
        audit log, and once it is durable the audit store's callback remembers
        the decision and runs ``finish`` (e.g. encoding the answer), so the
        caller (the event loop) is woken once, with the result or the first
        error. Waivers are judged here, where the trusted keys are.
        """
        result: Future[T] = Future()
        result.set_running_or_notify_cancel()

        # Inline evidence is verified here, where the trust policy's keys are: such a
        # body is decided on an evaluator thread (a cheap byte test routes it).
        if self.processes is None or b'"evidence"' in body:

            def evaluate_then_commit(slot: EngineSlot) -> None:
                try:
                    document = parse_proposal(body, self.config.limits)
                    decided = self.evaluate_proposal(slot, document, validate=False)
                    author = principal_id(document.get("author"))
                    # The document recorded is the one decided, as in the processes.
                    self._commit_async(
                        decided.decision,
                        principal,
                        author,
                        decided.document,
                        finish,
                        result,
                        body=body,
                    )
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                    # The frames hold this thread's engine: never let the caller drop it.
                    clear_frames(exc)
                    result.set_exception(exc)

            large = len(body) > self.config.limits.large_body_bytes
            self.evaluator.submit(evaluate_then_commit, principal, large=large)
            return result

        gen = self._generation
        if not self.ready or gen is None or gen.stack is None:
            result.set_exception(self._no_stack())
            return result
        waivers = gen.waivers
        now = self.clock()
        want = waivers is not None or self.config.record_inputs

        def evaluated(done: Future[Evaluated]) -> None:
            try:
                answer = done.result()
                decision = answer.decision
                if waivers is not None and answer.document is not None:
                    decision = apply_waivers(decision, waivers.apply, answer.document, now)
                self._commit_async(
                    decision,
                    principal,
                    answer.author_id,
                    answer.document,
                    finish,
                    result,
                    body=body,
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                result.set_exception(exc)

        try:
            self.processes.submit(
                gen.stack, body, now, want_document=want, principal=principal
            ).add_done_callback(evaluated)
        except CharterError as exc:
            result.set_exception(exc)
        return result

    def _commit_async(
        self,
        decision: Decision,
        principal: str,
        author_id: str | None,
        document: Mapping[str, Any] | None,
        finish: Callable[[dict[str, Any]], T],
        result: Future[T],
        *,
        body: bytes | None = None,
    ) -> None:
        """Record a proposal decision without parking a thread: the audit store calls
        back once the record is durable, and only then is the decision remembered
        and answered. The watchdog is consulted here, right before the record is
        queued, so an integrity loss noticed during evaluation still denies. An
        ``ask`` shows what was proposed: ``document``, or ``body`` parsed again."""
        if not self.watchdog.healthy:
            decision = _integrity_deny(decision, self.watchdog.reason)
        doc = decision.to_dict()
        record = {**doc, "input": document} if self.config.record_inputs else doc
        self._record_then(
            record, "proposal", doc, "proposal", principal, author_id, finish, result,
            subject=lambda: _proposal_subject(document, body),
        )  # fmt: skip

    def _record_then(
        self,
        record: Mapping[str, Any],
        kind: str,
        doc: dict[str, Any],
        metric: str,
        principal: str,
        author_id: str | None,
        finish: Callable[[dict[str, Any]], T],
        result: Future[T],
        *,
        subject: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        def answer() -> None:
            try:
                row = self.approvals.remember(
                    doc, principal, author_id, subject() if subject else None
                )
                if row is not None and self.webhook is not None:
                    # Never blocks: a full queue is counted and logged (see .webhook).
                    self.webhook.offer(view_of(row))
                self.metrics.decision(metric, doc["verdict"])
                result.set_result(finish(doc))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                result.set_exception(exc)

        def recorded(_: dict[str, Any] | None, error: BaseException | None) -> None:
            if error is not None:
                self.metrics.audit_failure()
                result.set_exception(
                    error
                    if isinstance(error, AuditError)
                    else AuditError(f"cannot record the decision ({error})")
                )
                return
            if doc["verdict"] != "ask":
                answer()
                return
            # An ask is stored for every replica before it is answered: I/O that
            # must not hold up the audit flusher, whose thread runs this callback.
            try:
                self.approval_io.submit(answer)
            except RuntimeError as exc:  # shutting down: the ask is not acknowledged
                result.set_exception(AuditError(f"cannot store the ask ({exc})"))

        try:
            self.audit.submit(record, source="runner", kind=kind, callback=recorded)
        except Exception as exc:  # noqa: BLE001 - an unrecorded decision is not acknowledged
            recorded(None, exc)

    # -------------------------------------------------------------- actions
    def decide_action(self, action: Mapping[str, Any], principal: str) -> dict[str, Any]:
        """Decide and record an action; return the decision once it is durable."""
        return self.submit_action(action, principal, lambda doc: doc).result()

    def submit_action(
        self, action: Mapping[str, Any], principal: str, finish: Callable[[dict[str, Any]], T]
    ) -> Future[T]:
        """Decide an action in the calling thread; record it, remember it, then ``finish``.

        The gate itself records nothing here (it is built without a store): the
        decision is queued for the audit log and the returned future resolves
        once its record is durable, so the calling thread is not parked on it.
        """
        result: Future[T] = Future()
        result.set_running_or_notify_cancel()
        actions = self._actions
        if actions is None or not self.ready:
            raise self._no_actions()
        doc = actions.gate.decide_action(dict(action)).to_dict()
        agent_id = principal_id(action.get("agent"))
        self._record_then(doc, "decision", doc, "action", principal, agent_id, finish, result)
        return result

    def _no_actions(self) -> NotReady:
        """Why an action cannot be decided now (HTTP 503)."""
        if self.config.action_constitution is None:
            return NotReady(
                "no agent-runtime constitution is configured",
                hint="set [actions] constitution and key in the runner config",
            )
        why = self.actions_error or self.load_error or "not loaded yet"
        return NotReady(
            f"the agent-runtime constitution is not loaded: {why}",
            hint="see GET /v1/status; the runner keeps retrying",
        )

    # ------------------------------------------------------------ approvals
    def _record(self, doc: dict[str, Any], *, kind: str) -> None:
        try:
            self.audit.append(doc, source="runner", kind=kind)
        except AuditError:
            self.metrics.audit_failure()
            raise
        except Exception as exc:  # noqa: BLE001 - an unrecorded decision is not acknowledged
            self.metrics.audit_failure()
            raise AuditError(f"cannot record the decision ({exc})") from exc

    def _audit_head(self) -> int:
        """The sequence number of the newest durable audit record (0: none)."""
        head = self.audit.head()
        return head[0] if head is not None else 0

    def _find_answer(self, decision_id: str, after: int) -> Mapping[str, Any] | None:
        """The first answer to ``decision_id`` recorded after record ``after``: what a
        replica that crashed while approving had made durable (see .approvals)."""
        for record in self.audit.records(after=after):
            if record.get("kind") == "approval" and record.get("decision_id") == decision_id:
                return record
        return None

    def decision_state(self, decision_id: str) -> dict[str, Any]:
        """Whether a decision is final, or its ask pending, approved, rejected or expired."""
        return self.approvals.state(decision_id)

    def pending_approvals(self, limit: int) -> list[dict[str, Any]]:
        """The asks still waiting for a person, on every replica, oldest first."""
        return self.approvals.pending(limit)

    def approval(self, decision_id: str) -> dict[str, Any]:
        """One ask: the decision, what was asked, the rules that asked, who asked."""
        return self.approvals.show(decision_id)

    def approve(
        self, decision_id: str, approve: bool, comment: str, principal: str
    ) -> dict[str, Any]:
        """Record a human's approval or rejection of a pending ``ask`` (see :mod:`.approvals`)."""
        answer = self.approvals.approve(decision_id, approve, comment, principal)
        self.metrics.approval(approve)
        return answer

    # ---------------------------------------------------------------- spend
    def record_spend(
        self, cost: float, run: str | None, spend_id: str | None, principal: str
    ) -> dict[str, Any]:
        """Record API spend (once per ``spend_id``) for every replica's gate to count."""
        return self.budget.record(cost, run, principal, spend_id)

    def spend(self) -> dict[str, Any]:
        """What is spent today, on every replica, against the constitution's limit."""
        actions = self._actions
        limits = actions.gate.constitution.limits if actions is not None else None
        return {
            **self.budget.summary(),
            "max_api_cost_per_day": limits.max_api_cost_per_day if limits else None,
            "max_api_cost_per_run": limits.max_api_cost_per_run if limits else None,
        }

    # ---------------------------------------------------------------- rules
    def rules(self, layer: str | None = None) -> list[dict[str, Any]]:
        stack = self._stack()
        return [
            r.to_dict()
            for r in stack.rules.values()
            if layer is None or r.layer == layer or r.layer_name == layer
        ]

    def rule(self, rule_id: str) -> dict[str, Any]:
        stack = self._stack()
        rule = stack.rules.get(rule_id)
        if rule is None:
            raise NotFound(f"no rule {rule_id} in the active stack")
        return rule.to_dict()

    def explain(self, document: Any, layer: str | None = None) -> dict[str, Any]:
        """Which rules fire for ``document``, with verdicts and links; not recorded.

        Waivers apply exactly as for a decision: a waived rule does not apply
        and its row names the waiver. Evaluates on an evaluator thread.
        """
        return self.explain_body(_as_body(document), layer, lambda doc: doc).result()

    def explain_body(
        self,
        body: bytes,
        layer: str | None,
        finish: Callable[[dict[str, Any]], T],
        principal: str = "",
    ) -> Future[T]:
        """:meth:`explain` for a request body, parsed (as a proposal) and explained on an
        evaluator thread (queued fairly for ``principal``), then ``finish``-ed (e.g.
        encoded) there too."""

        def explain(slot: EngineSlot) -> T:
            document = parse_proposal(body, self.config.limits)
            return finish(self.explain_with(slot, document, layer, validate=False))

        large = len(body) > self.config.limits.large_body_bytes
        return self.evaluator.submit(explain, principal, large=large)

    def explain_with(
        self,
        slot: EngineSlot,
        document: Any,
        layer: str | None = None,
        *,
        validate: bool = True,
        hypothetical: bool = False,
    ) -> dict[str, Any]:
        """:meth:`explain` on the calling evaluator thread, with its ``slot``."""
        gen = self._generation
        stack = self._stack(gen)
        decided = self._evaluate(slot, document, gen, validate=validate, hypothetical=hypothetical)
        return explain_decision(stack, decided.decision, decided.document, layer=layer)

    def explain_hypothetical(
        self,
        change: Mapping[str, Any],
        layer: str | None,
        finish: Callable[[dict[str, Any]], T],
        principal: str = "",
    ) -> Future[T]:
        """:meth:`explain` for a change that does not exist yet: ``change`` holds the
        keyword arguments of :func:`charter.policy.explain.hypothetical` (``adds``,
        ``modifies``, ``removes``, ``kind``, ``author_type``, ``body``), checked by the
        caller — the same document and facts ``charter explain --adds`` decides on."""
        document = hypothetical_change(**change)

        def explain(slot: EngineSlot) -> T:
            return finish(self.explain_with(slot, document, layer, hypothetical=True))

        return self.evaluator.submit(explain, principal, large=False)


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, CharterError) else f"{type(exc).__name__}: {exc}"


def _integrity_deny(decision: Decision, reason: str | None) -> Decision:
    lost = Reason(
        rule=INTEGRITY_RULE,
        layer="charter",
        severity="critical",
        msg=reason or "integrity lost; failing closed",
        verdict=Verdict.DENY,
    )
    return dataclasses.replace(decision, verdict=Verdict.DENY, reasons=(lost, *decision.reasons))


def _proposal_subject(document: Mapping[str, Any] | None, body: bytes | None) -> dict[str, Any]:
    """What an ask about a proposal shows (parsed again from ``body`` if need be)."""
    if document is None and body is not None:
        try:
            document = parse_proposal(body)
        except CharterError:
            return {}
    return proposal_subject(document)


def _as_body(document: Any) -> bytes:
    """Python data as the JSON body a client would send (ASCII, so nothing is lost)."""
    try:
        return json.dumps(document, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise InputError(f"body: not JSON data ({exc})") from None


__all__ = ["NotReady", "RunnerService"]
