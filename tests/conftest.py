"""Shared fixtures: every storage-touching test runs on SQLite and on a real PostgreSQL.

PostgreSQL tests use a fresh schema per test in the database named by
``CARERECORD_TEST_POSTGRES_URL`` (default: the local server, database
``carerecord_test``, created if missing). If the server is unreachable the
PostgreSQL tests are skipped - unless ``CARERECORD_REQUIRE_POSTGRES=1`` (set by
CI), in which case they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pg_support import fresh_schema

from carerecord.settings import PostgresParams, Settings


@pytest.fixture
def pg_schema() -> Iterator[PostgresParams]:
    """A fresh, empty schema in the test database, dropped afterwards."""
    with fresh_schema() as params:
        yield params


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
