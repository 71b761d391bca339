"""Fixtures for the read-side tests: a partnership world on SQLite and on PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from views_world import World, build_world

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the benchmark's history generator lives in bench/
    sys.path.insert(0, str(ROOT))

from carerecord.settings import Settings  # noqa: E402


@pytest.fixture
def world(settings: Settings, clock: Any) -> Iterator[World]:
    built = build_world(settings, clock)
    try:
        yield built
    finally:
        built.close()
