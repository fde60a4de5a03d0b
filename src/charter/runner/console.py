"""The runner's web console (``/console``) and its offline OpenAPI docs page (``/docs``).

Server-rendered HTML (Jinja2, autoescaping every value: the text shown is written
by agents, i.e. by the adversary) and plain HTML forms; no script runs on a console
page and every asset is served by the runner itself.

- Sign in with a runner token (the ``[[tokens]]`` of the config, see
  :mod:`charter.runner.auth`): the runner keeps a server-side session and hands the
  browser only its random id, in an ``HttpOnly``, ``SameSite=Strict`` cookie
  (``Secure`` and ``__Host-`` prefixed when the request came over https). Sessions
  expire after :data:`SESSION_TTL` (or :data:`SESSION_IDLE` unused); signing out
  forgets the session. Sessions live in the runner's shared state store
  (:mod:`charter.runner.shared_state`: PostgreSQL when configured), so a session
  made on one replica works on every other; only the SHA-256 of the id is stored,
  and a session whose token was removed from the config (or whose role changed)
  ends at its next use.
- Every POST carries a synchronizer CSRF token bound to the session (the sign-in
  form, before there is a session, a double-submit token bound to a short-lived
  cookie); a missing or wrong one is a 403. A POST whose ``Origin`` is not this
  site is a 403 too.
- Every console and docs response carries a strict Content-Security-Policy (no
  inline script, ``frame-ancestors 'none'``), ``X-Frame-Options: DENY``, ``nosniff``,
  ``Referrer-Policy: same-origin`` (so a same-origin form POST carries its real
  ``Origin``) and ``no-store``.
- Answering an ask calls :meth:`RunnerService.approve`, the function the API's
  ``POST /v1/approvals/{id}`` calls: approver role only, never one's own change.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charter.core import errors
from charter.core.errors import CharterError
from charter.runner.auth import Principal, TokenTable
from charter.runner.service import RunnerService
from charter.runner.shared_state import SESSIONS_PER_PRINCIPAL, SharedState, session_key

#: A session lasts at most this long, in seconds, and ends sooner when unused for SESSION_IDLE.
SESSION_TTL = 8 * 3600.0
SESSION_IDLE = 30 * 60.0
#: At most this many clients' failed sign-ins are remembered; past it the oldest are forgotten.
MAX_SESSIONS = 10_000
#: A sign-in form is good for this long (its double-submit cookie expires).
LOGIN_TTL = 600
#: Failed sign-ins a client may make per window before it is refused (429) until it ends.
MAX_FAILURES = 10
FAILURE_WINDOW = 60.0
DECISION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
DONE = re.compile(r"^(approved|rejected) [A-Za-z0-9._:-]{1,128}$")
#: The largest form body a console POST may send.
MAX_FORM = 16 * 1024
MAX_COMMENT = 4096
#: How many audit records the decisions page shows.
RECENT = 50
OVERSEERS = ("approver", "operator")
ANY_ROLE = ("agent", "approver", "operator")

COOKIE = "charter_console"
SECURE_COOKIE = "__Host-charter_console"
LOGIN_COOKIE = "charter_console_login"
SECURE_LOGIN_COOKIE = "__Host-charter_console_login"

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Swagger UI sets style attributes from script: styles may be inline there, scripts never.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HERE = Path(__file__).parent
SWAGGER = Path(swagger_ui_bundle.swagger_ui_path)


def security_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


class Secured:
    """An ASGI app (static files) whose responses carry the security headers."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in security_headers(csp).items()
            if k != "Cache-Control"  # static assets may be cached
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, sending)


# ------------------------------------------------------------------------ sessions
@dataclass
class Session:
    principal: Principal
    csrf: str
    expires: float
    idle_until: float


class Sessions:
    """Server-side sessions in the shared state store, keyed by the SHA-256 of the id
    the browser holds; the CSRF token is derived from the id, never stored."""

    def __init__(
        self,
        store: SharedState,
        tokens: TokenTable | None = None,
        ttl: float = SESSION_TTL,
        idle: float = SESSION_IDLE,
        limit: int = SESSIONS_PER_PRINCIPAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.tokens = store, tokens
        self.ttl, self.idle, self.limit, self.clock = ttl, idle, limit, clock

    def open(self, principal: Principal) -> str:
        """A new session for ``principal``; the id to hand to the browser."""
        sid = secrets.token_urlsafe(32)
        self.store.open_session(
            session_key(sid), principal.name, principal.role, self.clock(), self.ttl,
            self.idle, self.limit,
        )  # fmt: skip
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session ``sid`` names (its idle time restarts), else None."""
        if not sid or len(sid) > 128:
            return None
        now = self.clock()
        key = session_key(sid)
        row = self.store.session(key, now)
        if row is None:
            return None
        principal = Principal(row.principal, row.role)
        if self.tokens is not None and not _still_valid(self.tokens, principal):
            self.store.close_session(key)  # token removed, or its role changed
            return None
        idle_until = min(row.expires_at, now + self.idle)
        if idle_until - row.idle_until > min(60.0, self.idle / 10):  # not a write per page
            self.store.touch_session(key, idle_until)
        return Session(principal, _csrf(sid), row.expires_at, idle_until)

    def close(self, sid: str | None) -> None:
        if sid and len(sid) <= 128:
            self.store.close_session(session_key(sid))

    def __len__(self) -> int:
        return self.store.session_count(self.clock())


def _still_valid(tokens: TokenTable, principal: Principal) -> bool:
    return any(e.name == principal.name and e.role == principal.role for e in tokens.entries)


def _csrf(sid: str) -> str:
    """The session's CSRF token: derived from its id (which only its browser holds)."""
    raw = b"charter-console-csrf\0" + sid.encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()


class Failures:
    """Failed sign-ins per client in a fixed window (bounded: the oldest clients go first)."""

    def __init__(
        self,
        limit: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        size: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.size, self.clock = limit, window, size, clock
        self._table: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def _count(self, client: str, now: float) -> int:
        started, count = self._table.get(client, (now, 0))
        return 0 if now - started >= self.window else count

    def blocked(self, client: str) -> bool:
        with self._lock:
            return self._count(client, self.clock()) >= self.limit

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            count = self._count(client, now)
            started = self._table[client][0] if count else now
            self._table[client] = (started, count + 1)
            self._table.move_to_end(client)
            while len(self._table) > self.size:
                self._table.popitem(last=False)


def same(presented: str | None, expected: str | None) -> bool:
    """Constant-time equality of two tokens, false when either is missing."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


# ------------------------------------------------------------------------ rendering
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("charter.runner", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["compact"] = _compact
    env.filters["safe_url"] = _safe_url
    return env


def _compact(value: Any) -> str:
    """A value as one line of JSON (still escaped by the template)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _safe_url(value: Any) -> str | None:
    """``value`` if it is an http(s) URL, which may become a link; else None."""
    text = str(value)
    return text if text.startswith(("https://", "http://")) else None


class Refused(Exception):
    """A console request refused with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Console:
    """The console's routes over one service and its token table."""

    def __init__(self, service: RunnerService, tokens: TokenTable) -> None:
        self.service = service
        self.tokens = tokens
        self.sessions = Sessions(service.state, tokens)
        self.failures = Failures()
        self.env = environment()

    # ---------------------------------------------------------------- plumbing
    def page(
        self, name: str, code: int = 200, session: Session | None = None, /, **values: Any
    ) -> HTMLResponse:
        body = self.env.get_template(name).render(
            who=session.principal if session else None,
            csrf=session.csrf if session else None,
            **values,
        )
        return HTMLResponse(body, status_code=code, headers=security_headers(CONSOLE_CSP))

    def refused(self, error: Refused, session: Session | None) -> HTMLResponse:
        return self.page("error.html", error.status, session, message=error.message)

    async def session_of(self, request: Request) -> tuple[str | None, Session | None]:
        """The session the request's cookie names (read off the event loop: the store
        may be a database)."""
        sid = request.cookies.get(_cookie(request, COOKIE, SECURE_COOKIE))
        if not sid:
            return sid, None
        return sid, await run_in_threadpool(self.sessions.get, sid)

    def require(self, session: Session | None, roles: tuple[str, ...]) -> Session:
        if session is None:
            raise Refused(401, "sign in first")
        if session.principal.role not in roles:
            raise Refused(
                403,
                f"role {session.principal.role} may not use this page (needs {', '.join(roles)})",
            )
        return session

    async def form(self, request: Request, expected_csrf: str | None) -> dict[str, str]:
        """The POSTed form, once its origin and CSRF token are checked (else 4xx)."""
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise Refused(403, "cross-site form submissions are refused")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("", "application/x-www-form-urlencoded"):
            raise Refused(415, "send the form as application/x-www-form-urlencoded")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                raise Refused(413, f"the form is larger than {MAX_FORM} bytes")
        try:
            parsed = parse_qs(body.decode("utf-8"), max_num_fields=8, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "the form is not valid UTF-8 URL-encoded text") from None
        fields = {k: v[0] for k, v in parsed.items() if len(v) == 1}
        if not same(fields.get("csrf"), expected_csrf):
            raise Refused(403, "missing or wrong CSRF token: reload the page and try again")
        return fields


def _cookie(request: Request, plain: str, secure: str) -> str:
    return secure if request.url.scheme == "https" else plain


def _set_cookie(
    response: Response, request: Request, names: tuple[str, str], value: str, max_age: int
) -> None:
    https = request.url.scheme == "https"
    response.set_cookie(
        _cookie(request, *names),
        value,
        max_age=max_age,
        path="/",
        secure=https,
        httponly=True,
        samesite="strict",
    )


def _clear_cookie(response: Response, request: Request, names: tuple[str, str]) -> None:
    _set_cookie(response, request, names, "", 0)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=security_headers(CONSOLE_CSP))


# ------------------------------------------------------------------------ views
def layers_of(rules: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Rules grouped by layer (in stack order of first appearance), each sorted by id."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for rule in rules:
        label = f"{rule.get('layer', '')} {rule.get('layer_name', '')}".strip()
        grouped.setdefault(label, []).append(rule)
    return [(k, sorted(v, key=lambda r: str(r.get("id", "")))) for k, v in grouped.items()]


def recent_decisions(service: RunnerService, count: int = RECENT) -> list[dict[str, Any]]:
    """The last ``count`` records of the audit chain, newest first."""
    head = service.audit.head()
    if head is None:
        return []
    start = max(0, head[0] - count)
    return list(islice(service.audit.records(after=start), count))[::-1]


def waivers_view(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """The waivers report, its files grouped as active, expired and other (invalid)."""
    files = report.get("files", []) if report else []
    groups: dict[str, list[Mapping[str, Any]]] = {"active": [], "expired": [], "other": []}
    for item in files:
        state = str(item.get("status", ""))
        groups[state if state in ("active", "expired") else "other"].append(item)
    return {"report": report, "groups": groups}


def mount(app: FastAPI, service: RunnerService, tokens: TokenTable) -> Console:
    """Serve the console at ``/console`` and the OpenAPI docs at ``/docs`` on ``app``."""
    console = Console(service, tokens)
    app.include_router(_router(console))
    app.mount(
        "/console/static",
        Secured(StaticFiles(directory=HERE / "static"), CONSOLE_CSP),
        name="console-static",
    )
    app.mount("/docs/assets", Secured(StaticFiles(directory=SWAGGER), DOCS_CSP), name="docs-assets")
    return console


def _router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    _session_routes(router, console)
    _approval_routes(router, console)
    _reading_routes(router, console)

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        body = console.env.get_template("docs.html").render()
        return HTMLResponse(body, headers=security_headers(DOCS_CSP))

    return router


def _session_routes(router: APIRouter, console: Console) -> None:
    login_names = (LOGIN_COOKIE, SECURE_LOGIN_COOKIE)
    session_names = (COOKIE, SECURE_COOKIE)

    @router.get("/console")
    @router.get("/console/")
    async def home(request: Request) -> Response:
        _, session = await console.session_of(request)
        if session is None:
            return _redirect("/console/login")
        if session.principal.role in OVERSEERS:
            return _redirect("/console/approvals")
        return _redirect("/console/status")

    @router.get("/console/login")
    async def login_form(request: Request) -> Response:
        nonce = secrets.token_urlsafe(32)
        response = console.page("login.html", login_csrf=nonce)
        _set_cookie(response, request, login_names, nonce, LOGIN_TTL)
        return response

    @router.post("/console/login")
    async def login(request: Request) -> Response:
        expected = request.cookies.get(_cookie(request, *login_names))
        try:
            fields = await console.form(request, expected)
        except Refused as exc:
            return console.refused(exc, None)
        client = request.client.host if request.client else "unknown"
        if console.failures.blocked(client):
            return console.refused(
                Refused(429, "too many failed sign-ins from this address: wait a minute"), None
            )
        secret = fields.get("token", "").strip()
        # scrypt-hashed tokens cost milliseconds: never on the event loop.
        who = await run_in_threadpool(console.tokens.authenticate, secret) if secret else None
        if who is None:
            console.failures.failed(client)
            nonce = secrets.token_urlsafe(32)
            refused = console.page(
                "login.html", 401, login_csrf=nonce, message="invalid token: sign-in refused"
            )
            _set_cookie(refused, request, login_names, nonce, LOGIN_TTL)
            return refused
        # A fresh id at every sign-in: a planted cookie never becomes a session.
        old, _ = await console.session_of(request)
        await run_in_threadpool(console.sessions.close, old)
        sid = await run_in_threadpool(console.sessions.open, who)
        response = _redirect("/console/")
        _set_cookie(response, request, session_names, sid, int(SESSION_TTL))
        _clear_cookie(response, request, login_names)
        return response

    @router.post("/console/logout")
    async def logout(request: Request) -> Response:
        sid, session = await console.session_of(request)
        try:
            await console.form(request, session.csrf if session else None)
        except Refused as exc:
            return console.refused(exc, session)
        await run_in_threadpool(console.sessions.close, sid)
        response = _redirect("/console/login")
        _clear_cookie(response, request, session_names)
        return response


def _approval_routes(router: APIRouter, console: Console) -> None:
    service = console.service

    async def pending_page(
        session: Session, status: int = 200, message: str | None = None, done: str | None = None
    ) -> HTMLResponse:
        found = await run_in_threadpool(service.pending_approvals, 100)
        return console.page(
            "approvals.html", status, session, approvals=found, message=message, done=done
        )

    @router.get("/console/approvals")
    async def approvals(request: Request, done: str | None = None) -> Response:
        _, session = await console.session_of(request)
        if session is None:
            return _redirect("/console/login")
        try:
            console.require(session, OVERSEERS)
        except Refused as exc:
            return console.refused(exc, session)
        # Only "approved|rejected <id>" is echoed: the page never shows text from a link.
        return await pending_page(session, done=done if done and DONE.match(done) else None)

    @router.post("/console/approvals/{decision_id}")
    async def answer(request: Request, decision_id: str) -> Response:
        _, session = await console.session_of(request)
        try:
            fields = await console.form(request, session.csrf if session else None)
            who = console.require(session, ("approver",)).principal
            choice = fields.get("answer")
            if choice not in ("approve", "deny"):
                raise Refused(422, "answer must be approve or deny")
            comment = fields.get("comment", "")
            if len(comment) > MAX_COMMENT:
                raise Refused(422, f"the comment is longer than {MAX_COMMENT} characters")
            if not DECISION_ID.match(decision_id):
                raise Refused(404, "no such decision")
        except Refused as exc:
            return console.refused(exc, session)
        try:
            # The very function POST /v1/approvals/{id} calls: one path for every answer.
            await run_in_threadpool(
                service.approve, decision_id, choice == "approve", comment, who.name
            )
        except CharterError as exc:
            return await pending_page(
                console.require(session, ("approver",)), errors.http_status(exc), message=str(exc)
            )
        verb = "approved" if choice == "approve" else "rejected"
        return _redirect(f"/console/approvals?done={verb}+{decision_id}")


def _reading_routes(router: APIRouter, console: Console) -> None:
    service = console.service

    def reader(
        template: str, roles: tuple[str, ...], values: Callable[[], Mapping[str, Any]]
    ) -> Callable[[Request], Any]:
        async def view(request: Request) -> Response:
            _, session = await console.session_of(request)
            if session is None:
                return _redirect("/console/login")
            try:
                console.require(session, roles)
                found = await run_in_threadpool(values)
            except Refused as exc:
                return console.refused(exc, session)
            except CharterError as exc:
                return console.page("error.html", errors.http_status(exc), session,
                                    message=str(exc))  # fmt: skip
            return console.page(template, 200, session, **found)

        return view

    router.get("/console/decisions")(
        reader("decisions.html", OVERSEERS, lambda: {"records": recent_decisions(service)})
    )
    router.get("/console/rules")(
        reader("rules.html", ANY_ROLE, lambda: {"layers": layers_of(service.rules())})
    )
    router.get("/console/waivers")(
        reader(
            "waivers.html",
            ANY_ROLE,
            lambda: waivers_view(service.waiver_status()),
        )
    )
    router.get("/console/status")(
        reader("status.html", ANY_ROLE, lambda: {"status": service.status()})
    )


__all__ = [
    "Console",
    "Failures",
    "Secured",
    "Session",
    "Sessions",
    "layers_of",
    "mount",
    "recent_decisions",
]
