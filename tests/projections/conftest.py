"""Fixtures for the read-side tests: a partnership world on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from views_world import World, build_world

from carerecord.settings import Settings


@pytest.fixture
def world(settings: Settings, clock: Any) -> Iterator[World]:
    built = build_world(settings, clock)
    try:
        yield built
    finally:
        built.close()
