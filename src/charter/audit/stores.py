"""Opening an audit store by location: a SQLite path or a ``postgresql://`` URL."""

from __future__ import annotations

import os
from pathlib import Path

from charter.audit.chain import AuditStore
from charter.audit.sqlite import SQLiteStore
from charter.core import extras

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


#: The one setting naming the audit store when no ``--audit``/``[audit] store`` is given.
AUDIT_ENV = "CHARTER_AUDIT"


def default_location() -> str:
    """``$CHARTER_AUDIT`` (a path or a ``postgresql://`` URL), else ``~/.charter/audit.db``.

    The CLI, the hooks and the runner all fall back to this one location."""
    return os.environ.get(AUDIT_ENV) or str(Path("~/.charter/audit.db").expanduser())


def companion(audit_location: str, name: str) -> str:
    """Where a store kept beside the audit log lives: the same PostgreSQL schema, or
    ``…/audit.<name>.db`` next to a SQLite ``…/audit.db`` (the runner's approvals
    and shared state)."""
    if audit_location.startswith(POSTGRES_SCHEMES):
        return audit_location
    path = Path(audit_location)
    return str(path.with_name(f"{path.stem}.{name}.db"))


def companion_files(audit_location: str, name: str) -> tuple[str, ...]:
    """The local files of :func:`companion` (none on PostgreSQL), so the gate can
    protect them from agents."""
    where = companion(audit_location, name)
    if where.startswith(POSTGRES_SCHEMES):
        return ()
    return tuple(where + suffix for suffix in ("", "-wal", "-shm", "-journal"))


def open_store(location: str | Path | None = None, *, read_only: bool = False) -> AuditStore:
    """Open an audit store: a SQLite path (default ``~/.charter/audit.db``).

    ``postgresql://`` URLs select the shared PostgreSQL store. A ``read_only``
    store (to verify or export) creates nothing: a missing file, schema or
    table is an :class:`AuditError` naming it.
    """
    where = str(location) if location is not None else str(default_location())
    if where.startswith(POSTGRES_SCHEMES):
        # Imported here, not at the top: psycopg is an optional extra
        # (charter[postgres]), and only a postgresql:// location needs it.
        extras.require("a PostgreSQL audit store", "psycopg")
        from charter.audit.postgres import PostgresStore

        return PostgresStore(where, read_only=read_only)
    return SQLiteStore(where, read_only=read_only)


__all__ = ["POSTGRES_SCHEMES", "AuditStore", "default_location", "open_store"]
