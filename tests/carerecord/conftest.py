"""Fixtures for the core's tests.

``world``: a store (SQLite, then PostgreSQL) holding the test partnership's directory
and protocol v1, shared by the tests of one module (building it per test would cost
more than the tests); each test works on clients it registers itself, with its own
FakeClock. Tests that need an empty store use the root ``settings`` fixture instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from care_world import SwitchableClock, World, build_directory
from pg_support import fresh_schema

from carerecord.application import CareRecord
from carerecord.migrate import migrate
from carerecord.protocol import bundled_document
from carerecord.runtime import open_care_record
from carerecord.settings import Settings

KEY = b"k" * 32


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
    with fresh_schema("m") as params:
        settings = Settings(data_dir=data_dir, postgres=params, identifier_key=KEY)
        migrate(settings)
        yield settings


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
