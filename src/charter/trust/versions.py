"""Accepted versions: the small state that makes rollback impossible.

Every layer version Charter accepts is recorded per ``(layer, name)`` in
``<state dir>/accepted.json``. A later load of the same layer must offer the
same version with the same content, or a newer one of the same major version;
an older version is a rollback and is refused, and a new major version needs
the operator's explicit ``allow_major`` (``--allow-major``). The state directory
is the caller's choice, else ``$CHARTER_STATE_DIR``, else ``~/.charter/state``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import semver

from charter.core import jsonio
from charter.core.errors import ConfigError, InputError, RollbackError

STATE_FILE = "accepted.json"
STATE_ENV = "CHARTER_STATE_DIR"


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The one state-directory setting: ``$CHARTER_STATE_DIR``, else ``~/.charter/state``.

    Accepted layer versions, the runner's pins and the gate's workflow slots all
    live here (the gate read ``$CHARTER_STATE`` before; that name is gone).
    """
    env = os.environ if environ is None else environ
    if env.get(STATE_ENV):
        return Path(env[STATE_ENV]).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".charter" / "state"


def parse_version(version: str, where: str) -> semver.Version:
    try:
        return semver.Version.parse(version)
    except (ValueError, TypeError) as exc:
        raise RollbackError(
            f"{where}: version {version!r} is not a semantic version", hint="use MAJOR.MINOR.PATCH"
        ) from exc


@dataclass(frozen=True)
class Accepted:
    version: str
    content_digest: str
    accepted_at: str


def check_transition(
    key: str,
    previous: Accepted | None,
    version: str,
    content_digest: str,
    *,
    allow_major: bool = False,
) -> None:
    """Raise :class:`RollbackError` unless ``version`` may follow ``previous``."""
    if previous is None:
        return
    old = parse_version(previous.version, key)
    new = parse_version(version, key)
    if new < old:
        raise RollbackError(
            f"rollback refused: {key} {version} is older than the accepted {previous.version}",
            hint="serve the accepted or a newer version; older bundles stay refused",
        )
    if new == old and content_digest != previous.content_digest:
        raise RollbackError(
            f"{key} {version} has different content than the {version} accepted before",
            hint="a changed bundle needs a new version number",
        )
    if new.major != old.major and not allow_major:
        raise RollbackError(
            f"{key}: major version change {previous.version} -> {version} needs explicit consent",
            hint="review the migration, then pass --allow-major",
        )


class VersionState:
    """The accepted-version record in one state directory (safe across processes)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_state_dir()
        self.path = self.directory / STATE_FILE

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Runners sharing a state dir must not interleave read-check-write.
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        hint = "restore it from backup; deleting it would re-open rollback"
        try:
            raw = jsonio.loads(self.path.read_bytes(), what=str(self.path))
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: the accepted-version state is unreadable ({exc})", hint=hint
            ) from exc
        except InputError as exc:
            raise ConfigError(
                f"{self.path}: the accepted-version state is unreadable ({exc.message})",
                hint=hint,
            ) from None
        layers = raw.get("layers") if isinstance(raw, dict) else None
        if not isinstance(layers, dict):
            raise ConfigError(f"{self.path}: the accepted-version state is malformed")
        return layers

    def get(self, key: str) -> Accepted | None:
        entry = self._read().get(key)
        if not isinstance(entry, dict):
            return None
        return Accepted(
            str(entry.get("version")),
            str(entry.get("content_digest", "")),
            str(entry.get("accepted_at", "")),
        )

    def check(
        self, key: str, version: str, content_digest: str, *, allow_major: bool = False
    ) -> None:
        check_transition(key, self.get(key), version, content_digest, allow_major=allow_major)

    def accept(
        self, key: str, version: str, content_digest: str, *, allow_major: bool = False
    ) -> Accepted:
        """Check the transition and record ``version`` as accepted, atomically."""
        with self._locked():
            layers = self._read()
            entry = layers.get(key)
            previous = (
                Accepted(
                    str(entry["version"]),
                    str(entry.get("content_digest", "")),
                    str(entry.get("accepted_at", "")),
                )
                if isinstance(entry, dict) and "version" in entry
                else None
            )
            check_transition(key, previous, version, content_digest, allow_major=allow_major)
            if previous is not None and previous.version == version:
                return previous
            accepted = Accepted(version, content_digest, datetime.now(UTC).isoformat())
            layers[key] = {
                "version": accepted.version,
                "content_digest": accepted.content_digest,
                "accepted_at": accepted.accepted_at,
            }
            self._write({"layers": layers})
            return accepted

    def _write(self, document: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".accepted.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def layer_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"
