"""Shared fixtures: every storage-touching test runs on SQLite and on a real PostgreSQL.

PostgreSQL tests use a fresh schema per test in the database named by
``CARERECORD_TEST_POSTGRES_URL`` (default: the local server, database
``carerecord_test``, created if missing). If the server is unreachable the
PostgreSQL tests are skipped - unless ``CARERECORD_REQUIRE_POSTGRES=1`` (set by
CI), in which case they fail.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from carerecord.settings import PostgresParams, Settings

PG_URL = os.environ.get(
    "CARERECORD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/carerecord_test"
)
REQUIRE_PG = os.environ.get("CARERECORD_REQUIRE_POSTGRES") == "1"
_pg_state: dict[str, object] = {}


def _pg_params() -> PostgresParams:
    base = Settings.from_env({"CARERECORD_DATABASE_URL": PG_URL}).postgres
    assert base is not None
    return base


def postgres_available() -> bool:
    """Is the test PostgreSQL reachable? (Creates the test database on first use.)"""
    if "ok" in _pg_state:
        return bool(_pg_state["ok"])
    params = _pg_params()
    try:
        admin = params.conninfo().replace(f"dbname='{params.dbname}'", "dbname='postgres'")
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (params.dbname,)
            ).fetchone()
            if not exists:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(params.dbname))
                    )
        _pg_state["ok"] = True
    except psycopg.OperationalError as exc:
        _pg_state["ok"] = False
        _pg_state["error"] = str(exc)
    return bool(_pg_state["ok"])


def require_postgres() -> None:
    if not postgres_available():
        message = f"PostgreSQL unreachable at {PG_URL}: {_pg_state.get('error')}"
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def pg_schema() -> Iterator[PostgresParams]:
    """A fresh, empty schema in the test database, dropped afterwards."""
    require_postgres()
    params = _pg_params()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(params.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield PostgresParams(
            params.host, params.port, params.dbname, params.user, params.password, schema
        )
    finally:
        with psycopg.connect(params.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        postgres = pytest.param("postgres", marks=pytest.mark.postgres)
        if metafunc.definition.get_closest_marker("postgres_only"):
            # A PostgreSQL feature (LISTEN/NOTIFY...): not run, and not skipped, on SQLite.
            metafunc.parametrize("backend", [postgres])
        else:
            metafunc.parametrize("backend", [pytest.param("sqlite"), postgres])


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for a fresh, empty store on the test's backend (not yet migrated)."""
    base = Settings(data_dir=tmp_path / "data", identifier_key=b"k" * 32)
    if backend == "sqlite":
        return base
    params: PostgresParams = request.getfixturevalue("pg_schema")
    return Settings(data_dir=base.data_dir, postgres=params, identifier_key=b"k" * 32)


class FakeClock:
    """A clock tests can move; the only fake here (time itself cannot be driven for real)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now = self.now + timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
