"""Fixtures for the governance tests: the live API over a real store, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gov_stack import GovStack, fresh_store, running


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def gov(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GovStack]:
    """The API (production mode, views and audit index in-process, checkpoint timer on)
    over a fresh store with the test partnership; shared by one module's tests."""
    folder = tmp_path_factory.mktemp("gov")
    with fresh_store(request.param, folder) as settings, running(settings, folder) as stack:
        yield stack
