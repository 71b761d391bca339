"""Fixtures for the core's tests.

``world``: a store (SQLite, then PostgreSQL) holding the test partnership's directory
and protocol v1, shared by the tests of one module (building it per test would cost
more than the tests); each test works on clients it registers itself, with its own
FakeClock. Tests that need an empty store use the root ``settings`` fixture instead.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from care_world import SwitchableClock, World, build_directory
from psycopg import sql

from carerecord.application import CareRecord
from carerecord.migrate import migrate
from carerecord.protocol import bundled_document
from carerecord.runtime import open_care_record
from carerecord.settings import PostgresParams, Settings

PG_URL = os.environ.get(
    "CARERECORD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/carerecord_test"
)
KEY = b"k" * 32


def _pg_base() -> PostgresParams:
    params = Settings.from_env({"CARERECORD_DATABASE_URL": PG_URL}).postgres
    assert params is not None
    return params


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A fresh, migrated store for one test module on one backend."""
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    if request.param == "sqlite":
        settings = Settings(data_dir=data_dir, identifier_key=KEY)
        migrate(settings)
        yield settings
        return
    base = _pg_base()
    _require_postgres(base)
    schema = f"m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    settings = Settings(
        data_dir=data_dir,
        postgres=PostgresParams(
            base.host, base.port, base.dbname, base.user, base.password, schema
        ),
        identifier_key=KEY,
    )
    try:
        migrate(settings)
        yield settings
    finally:
        with psycopg.connect(base.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _require_postgres(base: PostgresParams) -> None:
    """As the root conftest: skip if PostgreSQL is unreachable, fail if CI requires it.

    Creates the test database on first use, like the root conftest does.
    """
    admin = base.conninfo().replace(f"dbname='{base.dbname}'", "dbname='postgres'")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (base.dbname,)
            ).fetchone()
            if not exists:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(base.dbname)))
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL unreachable at {PG_URL}: {exc}"
        if os.environ.get("CARERECORD_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def _shared_world(shared_settings: Settings) -> Iterator[tuple[CareRecord, SwitchableClock]]:
    switch = SwitchableClock()
    app = open_care_record(shared_settings, clock=switch)
    app.adopt_protocol(bundled_document(1))
    build_directory(app)
    try:
        yield app, switch
    finally:
        app.close()


@pytest.fixture
def world(
    _shared_world: tuple[CareRecord, SwitchableClock], shared_settings: Settings, clock: Any
) -> World:
    """The shared directory store, with the application's clock set to this test's clock."""
    app, switch = _shared_world
    switch.current = clock
    return World(app=app, clock=clock, settings=shared_settings)


@pytest.fixture
def fresh_app(settings: Settings, clock: Any) -> Iterator[CareRecord]:
    """An application on an empty, migrated store of the test's backend (nothing adopted)."""
    migrate(settings)
    app = open_care_record(settings, clock=clock)
    try:
        yield app
    finally:
        app.close()
