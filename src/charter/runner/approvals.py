"""Approvals: a person's answer to an ``ask``, shared by every replica of a runner.

An ``ask`` is stored in the :mod:`.approval_store` (SQLite next to the audit
log, or PostgreSQL with a ``postgresql://`` audit store) once its audit record
is durable, so it survives a restart and can be listed and answered on any
replica. An answer moves it forward by compare-and-set, never twice:

1. ``claim`` (``pending`` → ``approving``, under a fresh token): of two
   approvers racing, exactly one claims it; the other gets a 409;
2. the answer is recorded in the audit chain (who, when, the comment, the
   decision id), without any lock held: the audit store's callbacks remember
   decisions, so a write under a lock could wait on itself;
3. ``settle`` (``approving`` → ``approved`` / ``rejected``). A failed record
   gives the claim back.

A claim is a lease of ``[approvals] claim_lease``. If the claimer's replica
crashes between 1 and 3, the ask stays ``approving`` only until the lease lapses:
then the next reader or approver of it, any replica's listing or watcher, or the
owner's restart (a replica named by ``$CHARTER_REPLICA`` takes back its own
claims at once when it starts) **recovers** it (:meth:`Approvals.recover`): it
takes the claim over by compare-and-set, looks in the audit chain after the
claim's ``audit_seq`` for the answer the crashed replica recorded, and settles
the ask with that answer (roll forward: the answer is applied once, as
recorded) or, when none was recorded, gives it back to ``pending`` for the next
approver. A replica that merely stalled past its lease finds its claim gone and
cannot settle: its answer stands if the taker applied it, else it is void (an
``approval_void`` event in the chain, and a 409).

An ``ask`` nobody answers within ``[approvals] ttl`` expires the same way (an
``expired`` record in the audit chain, by ``charter``; the answer is ``deny``).
Only an approver who is neither the requester nor the author of the change
may answer. Callers waiting for an answer (``GET /v1/decisions/{id}?wait=``)
are woken at once by an answer given on this replica, and within
``[approvals] poll_interval`` by one given on another (:class:`Watcher`).

Decisions that did not ask are final; this runner remembers the most recent
of them (in memory) to answer ``GET /v1/decisions/{id}``.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from charter.audit.stores import POSTGRES_SCHEMES
from charter.core import extras
from charter.core.errors import CharterError, Conflict, Forbidden, NotFound, Unavailable
from charter.runner.approval_store import (
    APPROVED,
    APPROVING,
    EXPIRED,
    PENDING,
    REJECTED,
    SETTLED,
    ApprovalRow,
    ApprovalStore,
    SQLiteApprovals,
    location_for,
)

#: How many final decisions are remembered (the oldest are forgotten first).
MAX_REMEMBERED = 100_000
#: How many open asks one listing returns at most.
MAX_LISTED = 1000
APPROVAL_RULE = "CHARTER-HUMAN-APPROVAL"
#: Who expires an ask nobody answered.
EXPIRY_ACTOR = "charter"
#: Longest text kept of one field of an ask's subject (the command, a title).
SUBJECT_TEXT = 4096
#: How many file paths of a proposal an ask shows.
SUBJECT_FILES = 50
#: How many callers one replica lets wait for answers at once (then 503: retry later).
MAX_WAITERS = 10_000


def open_approvals(audit_location: str) -> ApprovalStore:
    """The approvals store that goes with the audit store at ``audit_location``."""
    where = location_for(audit_location)
    if where.startswith(POSTGRES_SCHEMES):
        # Imported here, not at the top: psycopg is an optional extra
        # (charter[postgres]), and only a postgresql:// location needs it.
        extras.require("a PostgreSQL approvals store", "psycopg")
        from charter.runner.approval_pg import PostgresApprovals

        return PostgresApprovals(where)
    return SQLiteApprovals(where)


#: A stable name for this replica (e.g. a StatefulSet's pod name): its claims are taken
#: back at once when it restarts. Two live replicas must never share one.
REPLICA_ENV = "CHARTER_REPLICA"


def replica_name() -> str:
    """This runner, as stored with the asks it decided and the claims it holds:
    ``$CHARTER_REPLICA``, else ``host:pid``."""
    return os.environ.get(REPLICA_ENV) or f"{socket.gethostname()}:{os.getpid()}"


#: Finds the answer recorded in the audit chain for an ask after a sequence number.
FindAnswer = Callable[[str, int], Mapping[str, Any] | None]


class Approvals:
    """The asks of every replica (in ``store``); ``record`` writes an answer durably."""

    def __init__(
        self,
        store: ApprovalStore,
        record: Callable[[dict[str, Any]], None],
        *,
        clock: Callable[[], datetime],
        ttl: float,
        poll_interval: float,
        lease: float = 60.0,
        audit_head: Callable[[], int] = lambda: 0,
        find_answer: FindAnswer = lambda decision_id, after: None,
        record_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self._record = record
        #: Records an event (a void answer) in the audit chain.
        self._record_event = record_event or record
        self._clock = clock
        self.ttl = ttl
        self.lease = lease
        self._audit_head = audit_head
        self._find_answer = find_answer
        self.replica = replica_name()
        #: Asks whose lapsed claims this replica recovered (for status and tests).
        self.recovered = 0
        self._lock = threading.Lock()
        #: decision id -> verdict of the final decisions this runner made (plain strings: the
        #: garbage collector does not track them).
        self.entries: OrderedDict[str, str] = OrderedDict()
        self.watcher = Watcher(self, poll_interval)

    # ---------------------------------------------------------------- intake
    def remember(
        self,
        doc: Mapping[str, Any],
        requester: str,
        author: str | None,
        subject: Mapping[str, Any] | None = None,
    ) -> ApprovalRow | None:
        """Remember a durable decision; an ``ask`` is stored, pending, for every replica
        (and its row returned)."""
        decision_id = str(doc["decision_id"])
        if doc["verdict"] != "ask":
            with self._lock:
                self.entries[decision_id] = str(doc["verdict"])
                while len(self.entries) > MAX_REMEMBERED:
                    self.entries.popitem(last=False)
            return None
        now = self.now()
        action = doc.get("action")
        row = ApprovalRow(
            decision_id=decision_id,
            status=PENDING,
            kind="action" if isinstance(action, Mapping) else "proposal",
            requester=requester,
            author=author,
            subject=dict(subject) if subject is not None else action_subject(action),
            reasons=[dict(r) for r in doc.get("reasons", [])],
            stack=list(doc.get("stack", [])),
            input_digest=str(doc.get("input_digest", "")),
            created_at=now,
            expires_at=now + self.ttl,
            replica=self.replica,
        )
        self.store.add(row)
        return row

    # ----------------------------------------------------------------- reads
    def state(self, decision_id: str) -> dict[str, Any]:
        """Whether a decision is final, or its ask pending, approved, rejected or expired."""
        row = self._current(decision_id)
        if row is None:
            with self._lock:
                verdict = self.entries.get(decision_id)
            if verdict is None:
                raise NotFound(f"no decision {decision_id} is known to this runner")
            return {"decision_id": decision_id, "verdict": verdict, "status": "final",
                    "outcome": verdict, "approvals": []}  # fmt: skip
        return state_of(row)

    def show(self, decision_id: str) -> dict[str, Any]:
        """Everything about one ask: what was asked, by whom, why, and its answer."""
        row = self._current(decision_id)
        if row is None:
            raise NotFound(f"no ask {decision_id} is known to the approvals store")
        return view_of(row)

    def pending(self, limit: int = MAX_LISTED) -> list[dict[str, Any]]:
        """The asks still open, oldest first (expired ones are settled first, lapsed
        claims recovered)."""
        self.recover_lapsed()
        self.expire_due()
        return [view_of(row) for row in self.store.open_rows(min(limit, MAX_LISTED))]

    def _current(self, decision_id: str) -> ApprovalRow | None:
        row = self.store.get(decision_id)
        if row is not None and row.status == APPROVING and _lapsed(row, self.now()):
            self.recover(decision_id)
            row = self.store.get(decision_id)
        if row is not None and row.status == PENDING and row.expires_at <= self.now():
            self.expire(decision_id)
            row = self.store.get(decision_id)
        return row

    # -------------------------------------------------------------- recovery
    def recover(self, decision_id: str, *, own: bool = False) -> str | None:
        """Resolve a claim whose claimer is gone: its lease lapsed (or, with ``own``, it
        was this replica's before a restart). Settle it with the answer the audit chain
        holds for it, else give it back to ``pending``; the state it was left in, or
        None if it was not this call's to recover."""
        row = self.store.get(decision_id)
        now = self.now()
        if row is None or row.status != APPROVING or row.claim is None:
            return None
        token = self._token()
        lapsed_by = math.inf if own else now
        if not self.store.take_over(
            decision_id, row.claim, token, now, now + self.lease, lapsed_by
        ):
            return None  # settled, released or recovered by someone else meanwhile
        answer = self._find_answer(decision_id, row.audit_seq or 0)
        if answer is None:
            self.store.release(decision_id, token)
            state = PENDING
        else:
            approval = dict(answer["approvals"][0])
            state = _status_of(answer["verdict"], approval)
            if not self.store.settle(decision_id, token, state, approval):
                return None
        self.recovered += 1
        self.watcher.settled(decision_id)
        return state

    def recover_lapsed(self) -> int:
        """Recover every ask whose claim lapsed; how many this call recovered."""
        lapsed = self.store.lapsed(self.now(), MAX_LISTED)
        return sum(self.recover(did) is not None for did in lapsed)

    def recover_own(self) -> int:
        """At start-up: take back the claims this replica (by its stable
        ``$CHARTER_REPLICA`` name) held before it restarted. A ``host:pid`` name is
        never reused, so without a stable name claims are recovered when they lapse."""
        if not os.environ.get(REPLICA_ENV):
            return 0
        held = self.store.held_by(self.replica + "/", MAX_LISTED)
        return sum(self.recover(did, own=True) is not None for did in held)

    def _token(self) -> str:
        return f"{self.replica}/{uuid.uuid4().hex}"

    # --------------------------------------------------------------- answers
    def approve(
        self, decision_id: str, approve: bool, comment: str, principal: str
    ) -> dict[str, Any]:
        """Record ``principal``'s answer to a pending ``ask``; return the outcome."""
        row = self._current(decision_id)
        if row is None:
            with self._lock:
                verdict = self.entries.get(decision_id)
            if verdict is None:
                raise NotFound(f"no decision {decision_id} is known to this runner")
            raise Conflict(
                f"decision {decision_id} is {verdict} (final); only a pending ask can be "
                "approved or rejected"
            )
        if row.status != PENDING:
            state = "being approved" if row.status == APPROVING else row.status
            raise Conflict(
                f"decision {decision_id} is ask ({state}); only a pending ask can be "
                "approved or rejected"
            )
        if principal in (row.requester, row.author):
            raise Forbidden(
                f"{principal} cannot approve a decision about their own change",
                hint="another approver must confirm it",
            )
        approval = {"by": principal, "approve": approve, "comment": comment, "at": _iso(self.now())}
        status = APPROVED if approve else REJECTED
        self._transition(row, approval, status, taken=_taken(decision_id))
        outcome = "allow" if approve else "deny"
        return {"decision_id": decision_id, "verdict": outcome, "status": status,
                "approval": approval}  # fmt: skip

    def expire_due(self) -> int:
        """Expire every pending ask whose time is up; how many this call expired."""
        return sum(self.expire(did) for did in self.store.due(self.now(), MAX_LISTED))

    def expire(self, decision_id: str) -> bool:
        """Expire one pending ask whose time is up (False if it was not pending)."""
        row = self.store.get(decision_id)
        if row is None or row.status != PENDING:
            return False
        approval = {"by": EXPIRY_ACTOR, "approve": False, "expired": True, "at": _iso(self.now()),
                    "comment": f"nobody answered within {self.ttl:g} s"}  # fmt: skip
        try:
            self._transition(row, approval, EXPIRED, taken=None)
        except Conflict:
            return False  # another replica got there first
        return True

    def _transition(
        self, row: ApprovalRow, approval: dict[str, Any], status: str, *, taken: Conflict | None
    ) -> None:
        """claim → record → settle (see the module doc); ``taken`` if the claim is lost."""
        token = self._token()
        now = self.now()
        if not self.store.claim(row.decision_id, token, now, now + self.lease, self._audit_head()):
            raise taken or Conflict(f"decision {row.decision_id} was answered meanwhile")
        try:
            self._record(approval_record(row, approval, status))
        except BaseException:
            self.store.release(row.decision_id, token)
            raise
        if not self.store.settle(row.decision_id, token, status, approval):
            self._claim_lost(row, approval)
        self.watcher.settled(row.decision_id)

    def _claim_lost(self, row: ApprovalRow, approval: dict[str, Any]) -> None:
        """This replica stalled past its lease and another took the claim over: it either
        applied this answer (found in the chain: done, once) or gave the ask back before
        this answer was durable; then this answer is void, and the chain says so."""
        now = self.store.get(row.decision_id)
        if now is not None and now.status in SETTLED and now.outcome == approval:
            return  # rolled forward by the replica that took over: applied, once
        void = {
            "decision_id": row.decision_id,
            "verdict": "deny",
            "event": {"type": "approval_void", "approval": approval,
                      "reason": "the claim lapsed before the answer was applied"},
            "stack": row.stack,
            "input_digest": row.input_digest,
        }  # fmt: skip
        with contextlib.suppress(CharterError):  # the 409 says it anyway
            self._record_event(void)
        raise Conflict(
            f"decision {row.decision_id}: the claim lapsed before this answer was applied; "
            "see GET /v1/approvals/{id} for the answer that was"
        )

    def metrics(self) -> list[Metric]:
        """For ``/metrics``: the crashed claims this replica recovered."""
        return [
            CounterMetricFamily(
                "charter_approvals_recovered",
                "Asks whose claim was recovered after its replica crashed.",
                value=self.recovered,
            )
        ]

    # ---------------------------------------------------------------- waiting
    def watch(self, decision_id: str) -> Future[dict[str, Any]]:
        """A future resolved with the state of ``decision_id`` once its ask is answered."""
        return self.watcher.watch(decision_id)

    def close(self) -> None:
        self.watcher.stop()
        self.store.close()

    def now(self) -> float:
        return self._clock().timestamp()


class Watcher:
    """Wakes callers waiting for asks to be answered, here or on another replica.

    One thread, running only while someone waits: every ``interval`` it reads
    the state of every watched ask in one query, expires those whose time is
    up, and resolves the futures of those answered. An answer given on this
    replica resolves its waiters at once (:meth:`settled`).
    """

    def __init__(self, approvals: Approvals, interval: float) -> None:
        self._approvals = approvals
        self.interval = interval
        self._lock = threading.Lock()
        self._waiters: dict[str, list[Future[dict[str, Any]]]] = {}
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, decision_id: str) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            waiting = sum(not f.done() for fs in self._waiters.values() for f in fs)
            if waiting >= MAX_WAITERS:
                raise Unavailable(
                    f"{MAX_WAITERS} callers are already waiting for answers on this replica",
                    hint="retry later, or poll without wait",
                )
            self._waiters.setdefault(decision_id, []).append(future)
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="charter-approvals", daemon=True
                )
                self._thread.start()
        return future

    def settled(self, decision_id: str) -> None:
        """An ask was answered on this replica: wake its waiters now."""
        with self._lock:
            waiting = decision_id in self._waiters
        if waiting:
            self._resolve([decision_id])

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
        with self._lock:
            waiters = [f for fs in self._waiters.values() for f in fs]
            self._waiters.clear()
        for future in waiters:
            future.cancel()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            with self._lock:
                for did in [d for d, fs in self._waiters.items() if all(f.done() for f in fs)]:
                    del self._waiters[did]
                watched = list(self._waiters)
                if not watched:
                    self._thread = None
                    return
            try:
                self._poll(watched)
            except Exception:  # noqa: BLE001, S112 - the store is down: waiters keep waiting
                continue

    def _poll(self, watched: list[str]) -> None:
        self._approvals.recover_lapsed()
        states = self._approvals.store.statuses(watched)
        now = self._approvals.now()
        due = [d for d, (status, expires) in states.items() if status == PENDING and expires <= now]
        for did in due:
            self._approvals.expire(did)
        answered = [d for d, (status, _) in states.items() if status in SETTLED]
        gone = [d for d in watched if d not in states]
        self._resolve(answered + due + gone)

    def _resolve(self, decision_ids: list[str]) -> None:
        for did in decision_ids:
            try:
                state = self._approvals.state(did)
            except NotFound as exc:
                self._fail(did, exc)
                continue
            if state["status"] in (PENDING,):
                continue
            with self._lock:
                futures = self._waiters.pop(did, [])
            for future in futures:
                if not future.done():
                    future.set_result(state)

    def _fail(self, decision_id: str, error: Exception) -> None:
        with self._lock:
            futures = self._waiters.pop(decision_id, [])
        for future in futures:
            if not future.done():
                future.set_exception(error)


# --------------------------------------------------------------------- views
def state_of(row: ApprovalRow) -> dict[str, Any]:
    """The answer of ``GET /v1/decisions/{id}`` for an ask."""
    status = PENDING if row.status == APPROVING else row.status  # not settled until durable
    outcome = None
    if status in SETTLED:
        outcome = "allow" if status == APPROVED else "deny"
    approvals = [row.outcome] if row.outcome is not None and status in SETTLED else []
    return {"decision_id": row.decision_id, "verdict": "ask", "status": status,
            "outcome": outcome, "approvals": approvals}  # fmt: skip


def view_of(row: ApprovalRow) -> dict[str, Any]:
    """One ask as ``GET /v1/approvals[/{id}]`` shows it."""
    state = state_of(row)
    return {
        **state,
        "kind": row.kind,
        "subject": row.subject,
        "asked_by": [r for r in row.reasons if r.get("verdict") == "ask"],
        "reasons": row.reasons,
        "requester": row.requester,
        "author": row.author,
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "replica": row.replica,
        "being_answered": row.status == APPROVING,
        #: Until when the answer being given holds the ask (then it is recovered).
        "claim_lapses_at": (
            _iso(row.lease_until) if row.status == APPROVING and row.lease_until else None
        ),
        "stack": row.stack,
        "input_digest": row.input_digest,
    }


def action_subject(action: Any) -> dict[str, Any]:
    """What an action ask shows: the command (or path), where, and for which agent."""
    if not isinstance(action, Mapping):
        return {}
    subject: dict[str, Any] = {"kind": str(action.get("kind", ""))}
    for key in ("command", "path", "cwd", "size", "model_role"):
        value = action.get(key)
        if value is not None:
            subject[key] = _clip(value) if isinstance(value, str) else value
    agent = action.get("agent")
    if isinstance(agent, Mapping) and agent.get("id") is not None:
        subject["agent"] = _clip(str(agent["id"]))
    return subject


def proposal_subject(document: Any) -> dict[str, Any]:
    """What a proposal ask shows: kind, repository, refs, title, author and files."""
    if not isinstance(document, Mapping):
        return {}
    subject: dict[str, Any] = {}
    for key in ("kind", "repository", "base", "head", "title"):
        value = document.get(key)
        if isinstance(value, str):
            subject[key] = _clip(value)
    author = document.get("author")
    if isinstance(author, Mapping):
        subject["author"] = {k: _clip(str(author[k])) for k in ("id", "type") if k in author}
    files = document.get("files")
    if isinstance(files, list):
        paths = [f.get("path") for f in files if isinstance(f, Mapping)]
        subject["files"] = [_clip(str(p)) for p in paths[:SUBJECT_FILES]]
        subject["file_count"] = len(files)
    return subject


def approval_record(row: ApprovalRow, approval: dict[str, Any], status: str) -> dict[str, Any]:
    """The audit record of an answer: the new verdict, citing who gave it, when and why."""
    verb = {APPROVED: "approved", REJECTED: "rejected", EXPIRED: "expired"}[status]
    who = approval["by"]
    msg = f"expired unanswered ({who})" if status == EXPIRED else f"{verb} by {who}"
    return {
        "decision_id": row.decision_id,
        "verdict": "allow" if status == APPROVED else "deny",
        "status": status,
        "reasons": [
            {"rule": APPROVAL_RULE, "layer": "charter", "severity": "high", "msg": msg, "links": []}
        ],  # fmt: skip
        "approvals": [approval],
        "requester": row.requester,
        "stack": row.stack,
        "input_digest": row.input_digest,
    }


def _lapsed(row: ApprovalRow, now: float) -> bool:
    return (row.lease_until or 0.0) <= now


def _status_of(verdict: str, approval: Mapping[str, Any]) -> str:
    """The state an audit record of an answer stands for (see :func:`approval_record`)."""
    if verdict == "allow":
        return APPROVED
    return EXPIRED if approval.get("expired") else REJECTED


def _taken(decision_id: str) -> Conflict:
    return Conflict(
        f"decision {decision_id} is being answered by someone else, or was answered meanwhile"
    )


def _clip(text: str) -> str:
    return text if len(text) <= SUBJECT_TEXT else text[:SUBJECT_TEXT] + "…"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "APPROVAL_RULE", "MAX_REMEMBERED", "REPLICA_ENV", "Approvals", "FindAnswer", "Watcher",
    "action_subject", "approval_record", "open_approvals", "proposal_subject", "replica_name",
    "state_of", "view_of",
]  # fmt: skip
