"""``charter login`` / ``charter logout``: remember one runner and its token.

The URL and token are stored in ``$XDG_CONFIG_HOME/charter/runner.json``
(default ``~/.config/charter/runner.json``), created with mode 0600 in a 0700
directory. A stored file that the group or others can read, or that belongs to
another user, is refused, never read: the token in it may have leaked. A stored
token is only ever sent to the runner it was stored for.

Commands that talk to a runner (``charter approvals …``) take ``--runner URL``
or ``$CHARTER_RUNNER`` (else the stored URL), and ``$CHARTER_TOKEN`` (else the
stored token, when the runner is the stored one).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from charter.cli._app import app
from charter.core.errors import (
    CharterError,
    ConfigError,
    Conflict,
    Forbidden,
    InputError,
    NotFound,
    Unavailable,
)
from charter.render import text as render_text

CONFIG_NAME = "runner.json"
RUNNER_OPTION_HELP = "runner URL, e.g. http://127.0.0.1:8080 (default $CHARTER_RUNNER, or login)"


@dataclass(frozen=True)
class Target:
    """A runner to talk to, and the token to present there."""

    url: str
    token: str


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "charter" / CONFIG_NAME


def normalise(url: str) -> str:
    text = url.strip().rstrip("/")
    if not text.startswith(("http://", "https://")) or len(text) > 2048:
        raise InputError(f"--runner {url!r} is not an http(s) URL", hint="e.g. http://host:8080")
    return text


def read_stored(path: Path | None = None) -> dict[str, str] | None:
    """The stored ``{"runner", "token"}``, or None; refuses a file others could read."""
    where = path or config_path()
    try:
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the stored login ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{where}: the stored login is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigError(
                f"{where}: the stored login is readable by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); refusing to use its token",
                hint=f"chmod 600 {where}, or run charter login again with a new token",
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise ConfigError(f"{where}: the stored login belongs to another user; refusing it")
        raw = handle.read(65536)
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{where}: the stored login is not JSON", hint="charter login") from None
    if not (
        isinstance(doc, dict)
        and isinstance(doc.get("runner"), str)
        and isinstance(doc.get("token"), str)
    ):
        raise ConfigError(
            f"{where}: the stored login has no runner and token", hint="charter login"
        )
    return {"runner": doc["runner"], "token": doc["token"]}


def write_stored(runner: str, token: str, path: Path | None = None) -> Path:
    """Store ``runner`` and ``token`` (0600 file in a 0700 directory, replaced atomically)."""
    where = path or config_path()
    where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = where.with_name(f".{where.name}.{os.getpid()}.tmp")
    body = json.dumps({"runner": runner, "token": token}, indent=2).encode() + b"\n"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(temporary, flags, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, where)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"{where}: cannot store the login ({exc.strerror})") from exc
    return where


def resolve(runner: str | None) -> Target:
    """The runner (``--runner``, ``$CHARTER_RUNNER``, or the stored one) and its token."""
    given = runner or os.environ.get("CHARTER_RUNNER") or None
    stored = read_stored() if not (given and os.environ.get("CHARTER_TOKEN")) else None
    url = normalise(given) if given else None
    if url is None:
        if stored is None:
            raise ConfigError(
                "no runner to talk to",
                hint="pass --runner URL, set CHARTER_RUNNER, or run charter login --runner URL",
            )
        url = normalise(stored["runner"])
    token = os.environ.get("CHARTER_TOKEN") or None
    if token is None and stored is not None and normalise(stored["runner"]) == url:
        token = stored["token"]  # a stored token only goes to the runner it was stored for
    if not token:
        raise ConfigError(
            f"no token for {url}",
            hint=f"set CHARTER_TOKEN, or run charter login --runner {url}",
        )
    return Target(url, token)


def call(target: Target, method: str, path: str, body: Any = None) -> Any:
    """One request to the runner; any failure is one :class:`CharterError` (exit 2)."""
    try:
        response = httpx.request(
            method,
            target.url + path,
            json=body,
            headers={"Authorization": f"Bearer {target.token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"{target.url}: runner unreachable ({type(exc).__name__})",
            hint="check --runner or CHARTER_RUNNER",
        ) from exc
    if response.status_code == 200:
        try:
            return response.json()
        except ValueError:
            raise Unavailable(f"{target.url}: the runner answered something not JSON") from None
    raise _http_error(target.url, response)


def _http_error(url: str, response: httpx.Response) -> CharterError:
    code = response.status_code
    try:
        message = str(response.json().get("error", ""))[:500]
    except (ValueError, AttributeError):
        message = response.text[:200]
    text = f"{url}: HTTP {code}: {message}"
    if code == 401:
        return Forbidden(text, hint="the token was refused: set CHARTER_TOKEN or charter login")
    if code == 403:
        return Forbidden(text)
    if code == 404:
        return NotFound(text)
    if code == 409:
        return Conflict(text)
    if code == 422:
        return InputError(text)
    return Unavailable(text)


def _read_token() -> str:
    """The token: ``$CHARTER_TOKEN``, a hidden prompt on a terminal, else one line of stdin."""
    token = os.environ.get("CHARTER_TOKEN")
    if token:
        return token.strip()
    if sys.stdin.isatty():
        return str(typer.prompt("Token", hide_input=True, err=True)).strip()
    return sys.stdin.readline().strip()


@app.command("login")
def login(
    runner: str = typer.Option(..., "--runner", help="runner URL, e.g. https://charter.acme:8080"),
) -> None:
    """Check a token against a runner and store both (0600) for charter approvals.

    The token is read from $CHARTER_TOKEN, a hidden prompt, or the first line
    of standard input — never from the command line.
    """
    url = normalise(runner)
    host = urllib.parse.urlsplit(url).hostname or ""
    if url.startswith("http://") and host not in ("127.0.0.1", "::1", "localhost"):
        render_text.note(f"warning: {url} is plain HTTP: the token crosses the network unencrypted")
    token = _read_token()
    if not token:
        raise InputError("no token given", hint="type it at the prompt, or set CHARTER_TOKEN")
    status = call(Target(url, token), "GET", "/v1/status")
    where = write_stored(url, token)
    health = status.get("health") if isinstance(status, dict) else None
    render_text.show(
        render_text.styled(
            "Logged in to ", (url, "bold"), f" (health: {health}); stored in {where}"
        )
    )


@app.command("logout")
def logout() -> None:
    """Forget the stored runner and token."""
    where = config_path()
    try:
        where.unlink()
    except FileNotFoundError:
        render_text.show(f"Not logged in ({where} does not exist)")
        return
    except OSError as exc:
        raise ConfigError(f"{where}: cannot remove the stored login ({exc.strerror})") from exc
    render_text.show(f"Logged out: removed {where}")
