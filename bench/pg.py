"""The benchmarks' PostgreSQL: ``CARERECORD_BENCH_POSTGRES_URL``, default the local test
database, created on first use (a fresh machine has the server but not the database)."""

from __future__ import annotations

import os

from carerecord.db import create_postgres_database
from carerecord.settings import PostgresParams, Settings

PG_URL = os.environ.get(
    "CARERECORD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/carerecord_test"
)


def bench_postgres() -> PostgresParams:
    """The benchmark database's parameters (schema ``public``), the database created if missing."""
    params = Settings.from_env({"CARERECORD_DATABASE_URL": PG_URL}).postgres
    assert params is not None
    create_postgres_database(params)
    return params
