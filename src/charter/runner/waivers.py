"""The runner's waivers: the signed files of ``[waivers]``, re-read at every refresh.

Nothing here is judged against the clock when the files are read: whether a
waiver applies is decided per decision, at the decision's time, by
:class:`charter.policy.waivers.WaiverSet`, and :func:`report` judges each file
at the moment status is asked for. A problem (unreadable directory or key,
malformed or unsigned file) can only ever remove waivers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from charter.core.decision import Reason
from charter.core.errors import CharterError
from charter.policy import waivers as waivers_mod
from charter.policy.stack import Stack
from charter.policy.waivers import LoadedWaiver, WaiverSet
from charter.runner.config import RunnerConfig
from charter.trust import keys


@dataclass(frozen=True)
class Waivers:
    """The waiver files as read at one refresh, checked against one stack."""

    directory: str
    files: tuple[LoadedWaiver, ...]
    trust: Mapping[str, Sequence[keys.PublicKey]]
    digest: str
    loaded_at: str
    #: Why the directory or a key could not be read; such a failure only ever
    #: removes waivers (no file → nothing waived; no key → nothing verifies).
    error: str | None = None
    hook: WaiverSet | None = None

    def apply(
        self, reasons: Sequence[Reason], document: Mapping[str, Any], now: datetime
    ) -> tuple[list[Reason], list[dict[str, Any]], list[dict[str, Any]]]:
        """The :data:`charter.policy.decision.WaiverHook`; a failure waives nothing."""
        if self.hook is None:
            return list(reasons), [], []
        try:
            return self.hook(reasons, document, now)
        except Exception as exc:  # noqa: BLE001 - a broken waiver check must not loosen
            why = f"waivers could not be checked ({type(exc).__name__}: {exc})"
            problem = {"waiver": None, "rule": None, "source": self.directory, "reason": why}
            return list(reasons), [], [problem]


def read_waivers(config: RunnerConfig, stack: Stack, loaded_at: str) -> Waivers:
    """Read ``config.waivers_dir`` and the waiver keys, to be checked against ``stack``."""
    directory = config.waivers_dir
    if directory is None:
        raise ValueError("no [waivers] directory is configured")
    trust, problems = _trusted_keys(config)
    h = hashlib.sha256()
    try:
        paths = sorted(directory.rglob("*.json")) if directory.is_dir() else None
    except OSError as exc:
        paths, problems = None, [*problems, f"{directory}: {exc}"]
    if paths is None:
        problems.append(f"{directory}: not a readable directory of waivers; none apply")
    files = [_read_file(directory, path, h.update) for path in paths or []]
    return Waivers(
        directory=str(directory),
        files=tuple(files),
        trust=trust,
        digest="sha256:" + h.hexdigest(),
        loaded_at=loaded_at,
        error="; ".join(problems) or None,
        hook=WaiverSet(files, stack, trust) if files else None,
    )


def _trusted_keys(config: RunnerConfig) -> tuple[dict[str, list[keys.PublicKey]], list[str]]:
    trust: dict[str, list[keys.PublicKey]] = {}
    problems: list[str] = []
    for layer, path in config.waiver_keys:
        try:
            trust.setdefault(layer, []).append(keys.load_public(path))
        except (CharterError, OSError, ValueError) as exc:
            problems.append(f"waiver key {path} ({layer}) not loaded: {exc}")
    return trust, problems


def _read_file(directory: Path, path: Path, digest: Callable[[bytes], None]) -> LoadedWaiver:
    """One waiver file; its name and the hash of its bytes go to ``digest`` (what is applied)."""
    source = str(path)
    try:
        # Parse the very bytes that are hashed, so the digest names what is applied.
        data = path.read_bytes()
    except OSError as exc:
        return LoadedWaiver(source, None, f"cannot read waiver ({exc.strerror})")
    digest(f"{path.relative_to(directory)}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    try:
        return LoadedWaiver(source, waivers_mod.parse_waiver(data, source))
    except CharterError as exc:
        return LoadedWaiver(source, None, str(exc))


def report(
    directory: Path, waivers: Waivers | None, stack: Stack | None, now: datetime
) -> dict[str, Any]:
    """The waivers read at the last refresh, each judged at ``now`` (for status)."""
    if waivers is None or stack is None:
        return {"directory": str(directory), "count": 0, "digest": None,
                "active": 0, "expired": 0, "invalid": 0, "loaded_at": None,
                "error": "no stack loaded", "files": []}  # fmt: skip
    files = [waivers_mod.status(f, stack, waivers.trust, now).to_dict() for f in waivers.files]
    states = [f["status"] for f in files]
    return {
        "directory": waivers.directory,
        "count": len(files),
        "digest": waivers.digest,
        "active": states.count("active"),
        "expired": states.count("expired"),
        "invalid": states.count("invalid"),
        "loaded_at": waivers.loaded_at,
        "error": waivers.error,
        "files": files,
    }


__all__ = ["Waivers", "read_waivers", "report"]
