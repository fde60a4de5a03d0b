"""A real PostgreSQL for the shared audit store: one throw-away schema per test.

The server is ``$CHARTER_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
When it cannot be reached the tests skip with the reason, except under
``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import psycopg.sql
import pytest

from tests.fixtures_registry import require

PG_URL = os.environ.get("CHARTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A store URL with a unique schema, dropped after the test."""
    problem = _reachable()
    require("PostgreSQL", problem is None, f"{PG_URL}: {problem}")
    schema = f"charter_test_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    psycopg.sql.Identifier(schema)
                )
            )
