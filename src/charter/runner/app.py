"""The HTTP API of the runner: a thin FastAPI shell over :class:`RunnerService`.

Every route but ``/healthz``, ``/readyz`` and the OpenAPI docs needs a bearer
token; each route names the roles it admits (401 without a valid token, 403 for
a role it does not admit). Malformed documents are 422 naming the field, never
a 500. Parsing, evaluation, the durable audit write and encoding never run on
the event loop: proposals go through the service's evaluator processes (or
threads) and its non-blocking audit submissions (see
``RunnerService.submit_proposal``), actions through its gate threads; other
work runs on the thread pool. scrypt token checks run on their own small pool.

Limits (see :mod:`.limits`): a body is refused (413) from its
``Content-Length`` or as soon as it streams past ``limits.max_body_bytes``; a
token has at most ``limits.max_inflight_per_token`` requests in flight (429);
a client address that failed to authenticate too often is refused (429)
before its token is checked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from functools import cache, partial
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from charter.actions.tools import MAX_TOOL_NAME
from charter.core import errors
from charter.core.errors import CharterError, InputError
from charter.policy import proposal
from charter.runner import console
from charter.runner.auth import Principal, TokenTable
from charter.runner.bodies import BODY, parse_object
from charter.runner.limits import LimitExceeded, Limits, TooMany, body_too_large
from charter.runner.metrics import CONTENT_TYPE as METRICS_TYPE
from charter.runner.replies import Replies, replies
from charter.runner.service import LARGE_ACTION_BYTES, RunnerService

LOG = logging.getLogger("charter.runner")
AGENT, APPROVER, OPERATOR = "agent", "approver", "operator"
#: The longest a caller may wait for an ask to be answered, in seconds.
MAX_WAIT = 60.0
ANY_ROLE = (AGENT, APPROVER, OPERATOR)
_FIELD = re.compile(r"^invalid proposal: (?P<field>[^:\s]+):")
M = TypeVar("M", bound=BaseModel)
#: scrypt checks waiting at most (they run on ``RunnerService.token_checks``).
MAX_SCRYPT_WAITING = 64

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROPOSAL_EXAMPLE: dict[str, Any] = {
    "kind": "pull_request",
    "repository": "acme/platform",
    "base": "main",
    "head": "feature/cm-42-docker",
    "author": {"id": "agent-7", "type": "agent"},
    "title": "Add a Dockerfile for the API",
    "body": "```charter\nrules: [PROC-PR-REVIEW-001]\nblast_radius: api image only\n"
    "rollback: git revert\n```\n",
    "files": [{"path": "api/Dockerfile", "status": "added", "patch": "+FROM python:3.12"}],
}


class ActionBody(BaseModel):
    """An Action document (see docs/design.md, 'Action gate')."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"kind": "command", "command": "git push", "cwd": "/w"},
                {
                    "kind": "tool",
                    "tool": "mcp__postgres__query",
                    "arguments": {"sql": "SELECT 1"},
                },
            ]
        },
    )
    kind: Literal["command", "file_write", "file_read", "tool"]
    command: str | None = Field(default=None, max_length=65536)
    tool: str | None = Field(default=None, max_length=MAX_TOOL_NAME)
    arguments: dict[str, Any] | None = None
    path: str | None = Field(default=None, max_length=4096)
    size: int | None = Field(default=None, ge=0)
    cwd: str | None = Field(default=None, max_length=4096)
    model_role: str | None = Field(default=None, max_length=256)
    agent: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _needs_target(self) -> ActionBody:
        if self.kind == "command" and self.command is None:
            raise ValueError("a command action needs 'command'")
        if self.kind == "tool":
            if self.tool is None:
                raise ValueError("a tool action needs 'tool' (e.g. mcp__postgres__query)")
            return self
        if self.kind != "command" and self.path is None:
            raise ValueError(f"a {self.kind} action needs 'path'")
        return self


class ApprovalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: StrictBool
    comment: str = Field(default="", max_length=4096)


class SpendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cost: float = Field(
        ge=0, strict=True, allow_inf_nan=False, description="what was spent (e.g. USD)"
    )
    run: str | None = Field(default=None, min_length=1, max_length=128)
    id: str | None = Field(
        default=None, min_length=1, max_length=128,
        description="idempotency key: a spend with an id already recorded counts once",
    )  # fmt: skip


#: The most paths one list of a hypothetical change may name.
MAX_HYPOTHETICAL_PATHS = 1000
HypotheticalPath = Annotated[str, Field(min_length=1, max_length=4096)]


class HypotheticalBody(BaseModel):
    """A change that does not exist yet, as ``charter explain --adds/--modifies/--removes
    PATH --kind K --author-type T`` describes it (:func:`charter.policy.explain.hypothetical`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"adds": ["Dockerfile"]},
                {"modifies": ["infra/main.tf"], "kind": "merge", "author_type": "human"},
            ]
        },
    )
    adds: list[HypotheticalPath] = Field(
        default_factory=list, max_length=MAX_HYPOTHETICAL_PATHS, description="paths added"
    )
    modifies: list[HypotheticalPath] = Field(
        default_factory=list, max_length=MAX_HYPOTHETICAL_PATHS, description="paths modified"
    )
    removes: list[HypotheticalPath] = Field(
        default_factory=list, max_length=MAX_HYPOTHETICAL_PATHS, description="paths removed"
    )
    kind: Literal["pull_request", "merge", "push", "release"] = "pull_request"
    author_type: Literal["agent", "human"] = Field(
        default="agent", description="who opens the change"
    )
    body: str | None = Field(
        default=None, max_length=65536, description="the change's body (e.g. a citation block)"
    )

    @model_validator(mode="after")
    def _needs_a_path(self) -> HypotheticalBody:
        if not (self.adds or self.modifies or self.removes):
            raise ValueError("name at least one path in adds, modifies or removes")
        return self


def encode(document: Any) -> bytes:
    """JSON exactly as FastAPI's JSONResponse renders it, encoded once."""
    return json.dumps(
        document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def json_response(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@cache
def proposal_schema() -> dict[str, Any]:
    schema = proposal.schema()
    schema.pop("$schema", None)
    return schema


def proposal_body_docs() -> dict[str, Any]:
    """OpenAPI for a body the route reads itself (validated by the proposal schema)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": proposal_schema(),
                    "examples": {"pull_request": {"value": PROPOSAL_EXAMPLE}},
                }
            },
        }
    }


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class MetricsMiddleware:
    """Pure ASGI (no per-request task): counts and times every HTTP request."""

    def __init__(self, app: ASGIApp, service: RunnerService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.service.metrics.request(name, status["code"], time.perf_counter() - started)


async def read_body(request: Request, limits: Limits) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed
    ``limits.max_body_bytes``: from ``Content-Length``, or while it streams in."""
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise body_too_large(int(declared), limits)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise body_too_large(size, limits)
        chunks.append(chunk)
    return b"".join(chunks)


class Guard:
    """Bearer-token authentication: each route names the roles it admits.

    A token settled by a SHA-256 entry or the cache of verified scrypt tokens is
    checked on the event loop; any other runs scrypt on the service's
    ``token_checks`` thread (the event loop keeps serving meanwhile), unless the client's
    address is over ``limits.auth_failures_per_minute`` (429, nothing run).
    """

    def __init__(self, tokens: TokenTable, service: RunnerService) -> None:
        self.tokens = tokens
        self.failures = service.auth_failures
        self.scrypt = service.token_checks
        self._waiting = 0

    async def authenticate(self, request: Request, roles: tuple[str, ...]) -> Principal:
        """The caller, if its token is valid and its role admitted (else 401 / 403 / 429)."""
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        found = self.tokens.lookup(secret.strip())
        who = found if not isinstance(found, str) else await self._slow(request, secret.strip())
        if who is None:
            self.failures.failed(_address(request))
            raise ApiError(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
        if who.role not in roles:
            raise ApiError(
                403, f"role {who.role} may not call this endpoint (needs {', '.join(roles)})"
            )
        return who

    async def _slow(self, request: Request, secret: str) -> Principal | None:
        wait = self.failures.blocked(_address(request))
        if wait:
            raise TooMany(
                "too many failed authentications from this address "
                f"(limits.auth_failures_per_minute = {int(self.failures.size)})",
                wait,
            )
        if self._waiting >= MAX_SCRYPT_WAITING:
            raise TooMany("too many token checks in progress; retry shortly", 1.0)
        self._waiting += 1  # only the event loop counts
        try:
            return await asyncio.wrap_future(self.scrypt.submit(self.tokens.verify_slow, secret))
        finally:
            self._waiting -= 1

    def requires(self, *roles: str) -> Any:
        """A FastAPI dependency giving the authenticated caller of one of ``roles``."""

        async def dependency(request: Request) -> Principal:
            return await self.authenticate(request, roles)

        return Depends(dependency)


def _address(request: Request) -> str:
    """The peer address (forwarded headers are not trusted: anyone can set them)."""
    return request.client.host if request.client is not None else "?"


@asynccontextmanager
async def admitted(service: RunnerService, who: Principal) -> AsyncIterator[None]:
    """One of the token's ``limits.max_inflight_per_token`` slots (429 when none is free)."""
    leave = service.admission.enter(who.name)
    try:
        yield
    finally:
        leave()


def create_app(service: RunnerService) -> FastAPI:
    """The FastAPI application serving ``service``."""
    app = FastAPI(
        title="Charter runner",
        version="1",
        description="Decisions against a signed, layered constitution "
        "(see docs/design.md, 'Runner').",
        # /docs is served by the console with local assets (no CDN); no ReDoc.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    guard = Guard(TokenTable(service.config.tokens), service)
    _error_handlers(app)
    _decision_routes(app, service, guard)
    _rule_routes(app, service, guard)
    _operation_routes(app, service, guard)
    _spend_routes(app, service, guard)
    console.mount(app, service, guard.tokens)
    app.add_middleware(MetricsMiddleware, service=service)
    return app


def _error_handlers(app: FastAPI) -> None:
    """Every error is one JSON object: ``error`` (a sentence), and ``field`` for bad input."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        response = _error(exc.status, exc.message)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": ["body"], "msg": "invalid request"}
        return _error(
            422,
            f"invalid request: {'.'.join(first['loc'])}: {first['msg']}",
            field=".".join(first["loc"]),
            detail=details,
        )

    @app.exception_handler(TooMany)
    async def _too_many(request: Request, exc: TooMany) -> JSONResponse:
        response = _error(429, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(CharterError)
    async def _charter_error(request: Request, exc: CharterError) -> JSONResponse:
        if isinstance(exc, LimitExceeded):
            # The rest of an oversized body is not worth reading: close the connection.
            response = _error(413, str(exc), field=_limit_field(exc))
            response.headers["Connection"] = "close"
            return response
        status = errors.http_status(exc)
        if isinstance(exc, InputError):
            match = _FIELD.match(exc.message)
            return _error(status, str(exc), field=match["field"] if match else BODY)
        return _error(status, str(exc))

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client hung up mid-upload: routine, nothing to answer, no traceback.
        LOG.info(
            "%s %s: the client disconnected before sending the whole body",
            request.method,
            request.url.path,
        )
        return _error(400, "the client disconnected before sending the whole body")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _error(errors.http_status(exc), f"internal error: {type(exc).__name__}")


def _limit_field(exc: LimitExceeded) -> str:
    """``files`` of "body: files: 100000 files, over …" (else ``body``)."""
    parts = exc.message.split(": ", 2)
    return parts[1] if len(parts) == 3 and parts[1].isidentifier() else BODY


def _decision_routes(app: FastAPI, service: RunnerService, guard: Guard) -> None:
    """Proposals, actions, their state and approvals.

    The decision routes read and answer raw JSON: the body is parsed once (by
    the service's evaluators for a proposal, on a gate thread for an action)
    and the answer is encoded once, instead of pydantic walking both documents
    again. A decision is queued for the audit log and answered once its group
    commit is durable, without a thread parked on it. The event loop only
    moves bytes. The token is checked inline, before the body is read: this is
    the hot path, and FastAPI's dependency solving costs as much as the rest.
    """
    deciding = (AGENT, OPERATOR)
    limits = service.config.limits

    @app.post(
        "/v1/decisions/proposal",
        tags=["decisions"],
        openapi_extra=proposal_body_docs(),
        response_class=JSONResponse,
    )
    async def decide_proposal(request: Request) -> Response:
        """Decide a proposal (pull request, merge, push, release)."""
        who = await guard.authenticate(request, deciding)
        async with admitted(service, who):
            body = await read_body(request, limits)
            pending = service.submit_proposal(body, who.name, encode)
            return json_response(await asyncio.wrap_future(pending))

    @app.post(
        "/v1/decisions/action",
        tags=["decisions"],
        response_class=JSONResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ActionBody.model_json_schema()}},
            }
        },
    )
    async def decide_action(request: Request) -> Response:
        """Decide an action (command, file write, file read) before the agent runs it."""
        who = await guard.authenticate(request, deciding)
        async with admitted(service, who):
            body = await read_body(request, limits)
            # Decided on one of two decider threads (off the event loop, cheaper to
            # reach than anyio's pool), fairly (see .fairness); answered once the
            # audit store calls back, the loop woken once per batch of answers.
            back = replies()
            answer = back.future()
            service.deciders.submit(
                lambda _: _action_decision(service, body, who.name, back, answer),
                who.name,
                large=len(body) > LARGE_ACTION_BYTES,
            )
            return json_response(await answer)

    _approval_routes(app, service, guard)


def _approval_routes(app: FastAPI, service: RunnerService, guard: Guard) -> None:
    """The state of a decision, waiting for a person's answer, and answering asks.

    Asks live in the shared approvals store (see :mod:`charter.runner.approvals`):
    any replica lists and answers any of them. Store I/O never runs on the event loop.
    """
    readers = guard.requires(*ANY_ROLE)
    approvers = guard.requires(APPROVER)
    overseers = guard.requires(APPROVER, OPERATOR)

    @app.get("/v1/decisions/{decision_id}", tags=["decisions"])
    async def decision_state(
        decision_id: Annotated[str, Path(max_length=128)],
        wait: Annotated[
            float,
            Query(ge=0, le=MAX_WAIT, description="seconds to wait while the ask is pending"),
        ] = 0,
        who: Principal = readers,
    ) -> dict[str, Any]:
        """Whether an ``ask`` is pending, approved, rejected or expired (``outcome``:
        allow / deny once answered). With ``wait``, answers as soon as a person
        answers the ask, on any replica, or after ``wait`` seconds (still pending)."""
        if wait <= 0:
            return await run_in_threadpool(service.decision_state, decision_id)
        # Watch before reading, so an answer given in between is not missed.
        answered = service.approvals.watch(decision_id)
        try:
            state = await run_in_threadpool(service.decision_state, decision_id)
            if state["status"] != "pending":
                return state
            try:
                return await asyncio.wait_for(asyncio.wrap_future(answered), timeout=wait)
            except TimeoutError:
                return await run_in_threadpool(service.decision_state, decision_id)
        finally:
            answered.cancel()

    @app.get("/v1/approvals", tags=["approvals"])
    async def pending_approvals(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100, who: Principal = overseers
    ) -> dict[str, Any]:
        """The asks waiting for a person, on every replica, oldest first: the decision,
        the command or proposal, the rules that asked (``asked_by``) and the requester."""
        found = await run_in_threadpool(service.pending_approvals, limit)
        return {"approvals": found, "count": len(found)}

    @app.get("/v1/approvals/{decision_id}", tags=["approvals"])
    async def approval(
        decision_id: Annotated[str, Path(max_length=128)], who: Principal = overseers
    ) -> dict[str, Any]:
        """One ask, pending or answered, with its answer (who, when, comment)."""
        return await run_in_threadpool(service.approval, decision_id)

    @app.post(
        "/v1/approvals/{decision_id}",
        tags=["approvals"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ApprovalBody.model_json_schema()}},
            }
        },
    )
    async def approve(
        decision_id: Annotated[str, Path(max_length=128)],
        request: Request,
        who: Principal = approvers,
    ) -> dict[str, Any]:
        """Confirm (``approve: true``) or reject (``false``) a pending ``ask``: approver
        role only, never your own change (403), once (a second answer, or an ask
        answered or expired meanwhile, is a 409). Recorded in the audit chain."""
        body = _validated(ApprovalBody, await read_body(request, service.config.limits))
        # The approval is written to the audit log synchronously: off the event loop.
        return await run_in_threadpool(
            service.approve, decision_id, body.approve, body.comment, who.name
        )


def _validated(model: type[M], body: bytes, limits: Limits | None = None) -> M:
    """A body read by the strict JSON reader (within ``limits``), then checked against
    ``model`` (422s)."""
    try:
        return model.model_validate(parse_object(body, limits))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        ) from None


def _action_decision(
    service: RunnerService,
    body: bytes,
    principal: str,
    back: Replies,
    answer: asyncio.Future[bytes],
) -> None:
    """On a decider thread: parse and check an action body, decide it, relay the answer."""
    try:
        action = _validated(ActionBody, body, service.config.limits)
        decided = service.submit_action(action.model_dump(exclude_none=True), principal, encode)
        decided.add_done_callback(partial(back.relay, answer))
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
        back.settle(answer, None, exc)


def _rule_routes(app: FastAPI, service: RunnerService, guard: Guard) -> None:
    """The rules of the active stack, and which of them apply to a proposal."""
    readers = guard.requires(*ANY_ROLE)

    @app.get("/v1/rules", tags=["rules"])
    def rules(
        layer: Annotated[str | None, Query(max_length=128)] = None, who: Principal = readers
    ) -> dict[str, Any]:
        """The rules of the active stack, optionally of one layer."""
        found = service.rules(layer)
        return {"rules": found, "count": len(found)}

    @app.get("/v1/rules/{rule_id}", tags=["rules"])
    def rule(
        rule_id: Annotated[str, Path(max_length=256)], who: Principal = readers
    ) -> dict[str, Any]:
        return service.rule(rule_id)

    @app.post(
        "/v1/explain",
        tags=["rules"],
        openapi_extra=proposal_body_docs(),
        response_class=JSONResponse,
    )
    async def explain(
        request: Request,
        layer: Annotated[str | None, Query(max_length=32)] = None,
        who: Principal = readers,
    ) -> Response:
        """Which rules apply to a proposal, their verdicts and links (not recorded)."""
        async with admitted(service, who):
            body = await read_body(request, service.config.limits)
            # Explaining evaluates, so it runs where the engines live.
            pending = service.explain_body(body, layer, encode, who.name)
            return json_response(await asyncio.wrap_future(pending))

    @app.post(
        "/v1/explain/hypothetical",
        tags=["rules"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": HypotheticalBody.model_json_schema()}},
            }
        },
        response_class=JSONResponse,
    )
    async def explain_hypothetical(
        request: Request,
        layer: Annotated[str | None, Query(max_length=32)] = None,
        who: Principal = readers,
    ) -> Response:
        """Which rules apply to a change that does not exist yet (``charter explain
        --adds PATH``): the same answer as ``POST /v1/explain`` on the proposal
        ``charter.policy.explain.hypothetical`` builds (not recorded)."""
        async with admitted(service, who):
            change = _validated(HypotheticalBody, await read_body(request, service.config.limits))
            pending = service.explain_hypothetical(change.model_dump(), layer, encode, who.name)
            return json_response(await asyncio.wrap_future(pending))


def _spend_routes(app: FastAPI, service: RunnerService, guard: Guard) -> None:
    """API spend, shared by every replica's gate, and console sessions, shared by every
    replica's console (see :mod:`charter.runner.shared_state`)."""
    spenders = guard.requires(AGENT, OPERATOR)
    readers = guard.requires(*ANY_ROLE)

    @app.post(
        "/v1/spend",
        tags=["budget"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SpendBody.model_json_schema()}},
            }
        },
    )
    async def record_spend(request: Request, who: Principal = spenders) -> dict[str, Any]:
        """Record API spend (agent or operator role): every replica's gate counts it
        against the constitution's ``max_api_cost_per_day`` (``run`` is kept and
        totalled). Send an ``id`` to make a retry count once."""
        body = _validated(SpendBody, await read_body(request, service.config.limits))
        return await run_in_threadpool(service.record_spend, body.cost, body.run, body.id, who.name)

    @app.get("/v1/spend", tags=["budget"])
    async def spend(who: Principal = readers) -> dict[str, Any]:
        """What is spent today on every replica, and the constitution's limits."""
        return await run_in_threadpool(service.spend)

    operators = guard.requires(OPERATOR)

    @app.delete("/v1/console/sessions/{principal}", tags=["operation"])
    async def revoke_sessions(
        principal: Annotated[str, Path(max_length=256)], who: Principal = operators
    ) -> dict[str, Any]:
        """End every console session of a token (by its name), on every replica."""
        revoked = await run_in_threadpool(service.state.close_sessions_of, principal)
        return {"principal": principal, "revoked": revoked}


def _operation_routes(app: FastAPI, service: RunnerService, guard: Guard) -> None:
    """Status, refresh, liveness, readiness and metrics."""
    readers = guard.requires(*ANY_ROLE)
    operators = guard.requires(OPERATOR)

    @app.get("/v1/status", tags=["operation"])
    def status(who: Principal = readers) -> dict[str, Any]:
        """Layers, versions, digests, signers, last refresh and health."""
        return service.status()

    @app.post("/v1/refresh", tags=["operation"])
    def refresh(who: Principal = operators) -> dict[str, Any]:
        """Pull and verify now instead of waiting for the interval."""
        ok = service.refresh()
        return {"ok": ok, **service.status()}

    @app.get("/healthz", tags=["operation"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "alive"}

    @app.get("/readyz", tags=["operation"])
    async def readyz() -> JSONResponse:
        """Readiness: a verified stack is loaded and its integrity holds."""
        ready = service.ready and service.watchdog.healthy
        return JSONResponse(
            {"ready": ready, "health": service.health, "reason": service.status()["reason"]},
            status_code=200 if ready else 503,
        )

    if service.config.public_metrics:

        @app.get("/metrics", tags=["operation"], response_class=PlainTextResponse)
        async def metrics_public() -> Response:
            return Response(service.metrics.render(service), media_type=METRICS_TYPE)
    else:

        @app.get("/metrics", tags=["operation"], response_class=PlainTextResponse)
        async def metrics(who: Principal = operators) -> Response:
            """Prometheus text format (operator token unless public_metrics = true)."""
            return Response(service.metrics.render(service), media_type=METRICS_TYPE)
