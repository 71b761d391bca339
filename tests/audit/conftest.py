"""Fixtures for the audit tests: a migrated deployment with the test partnership in it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from audit_world import Deployment, StepClock, build_directory

from carerecord.db import Databases
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import PostgresParams, Settings


@pytest.fixture
def step_clock() -> StepClock:
    return StepClock()


@contextmanager
def deployed(settings: Settings, clock: StepClock) -> Iterator[Deployment]:
    migrate(settings)
    app = open_care_record(settings, clock=clock)
    dbs = Databases(settings)
    build_directory(app)
    try:
        yield Deployment(settings, app, dbs, clock)
    finally:
        app.close()
        dbs.close()


@pytest.fixture
def deployment(settings: Settings, step_clock: StepClock) -> Iterator[Deployment]:
    """A migrated store (SQLite or PostgreSQL) with the directory and protocol v1."""
    with deployed(settings, step_clock) as dep:
        yield dep


@pytest.fixture
def pg_deployment(
    pg_schema: PostgresParams, tmp_path: Path, step_clock: StepClock
) -> Iterator[Deployment]:
    """The same, on PostgreSQL only (for behaviour only PostgreSQL has)."""
    settings = Settings(data_dir=tmp_path / "data", postgres=pg_schema, identifier_key=b"k" * 32)
    with deployed(settings, step_clock) as dep:
        yield dep
