"""Fixtures of the fault suite: one private PostgreSQL cluster for the whole session.

The tests restart, crash and freeze it; each uses a database of its own on it. It is
never the shared server (see ``pg_cluster``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_cluster import PgCluster, private_cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[PgCluster]:
    with private_cluster() as made:
        yield made


@pytest.fixture
def healthy(cluster: PgCluster) -> Iterator[PgCluster]:
    """The cluster, running and thawed before and after the test (whatever it did to it)."""
    _recover(cluster)
    yield cluster
    _recover(cluster)


def _recover(cluster: PgCluster) -> None:
    if cluster.frozen:
        cluster.thaw()
    if not cluster.accepting():
        cluster.start()
