"""The test PostgreSQL server: where it is, whether CI requires it, a fresh schema per use.

Every suite's fixtures use these, so "PostgreSQL unreachable" means the same everywhere:
skipped on a developer machine without it, a failure when ``CARERECORD_REQUIRE_POSTGRES=1``
(CI).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from carerecord.db import create_postgres_database
from carerecord.settings import PostgresParams, Settings

PG_URL = os.environ.get(
    "CARERECORD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/carerecord_test"
)
REQUIRE_PG = os.environ.get("CARERECORD_REQUIRE_POSTGRES") == "1"
_state: dict[str, object] = {}


def pg_base() -> PostgresParams:
    """The test database's connection parameters (schema ``public``)."""
    params = Settings.from_env({"CARERECORD_DATABASE_URL": PG_URL}).postgres
    assert params is not None
    return params


def postgres_available() -> bool:
    """Is the test PostgreSQL reachable? (Creates the test database on first use.)"""
    if "ok" in _state:
        return bool(_state["ok"])
    try:
        create_postgres_database(pg_base())
        _state["ok"] = True
    except psycopg.OperationalError as exc:
        _state["ok"] = False
        _state["error"] = str(exc)
    return bool(_state["ok"])


def require_postgres() -> PostgresParams:
    """The test database, or skip (fail under ``CARERECORD_REQUIRE_POSTGRES=1``)."""
    if not postgres_available():
        message = f"PostgreSQL unreachable at {PG_URL}: {_state.get('error')}"
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)
    return pg_base()


@contextlib.contextmanager
def fresh_schema(prefix: str = "t") -> Iterator[PostgresParams]:
    """A new, empty schema in the test database, dropped with everything in it afterwards."""
    base = require_postgres()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield replace(base, schema=schema)
    finally:
        with psycopg.connect(base.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
