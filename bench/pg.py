"""The benchmarks' PostgreSQL: ``CARERECORD_BENCH_POSTGRES_URL``, default the local test
database, created on first use (a fresh machine has the server but not the database)."""

from __future__ import annotations

import contextlib
import os

import psycopg
from psycopg import sql

from carerecord.settings import PostgresParams, Settings

PG_URL = os.environ.get(
    "CARERECORD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/carerecord_test"
)


def bench_postgres() -> PostgresParams:
    """The benchmark database's parameters (schema ``public``), the database created if missing."""
    params = Settings.from_env({"CARERECORD_DATABASE_URL": PG_URL}).postgres
    assert params is not None
    admin = params.conninfo().replace(f"dbname='{params.dbname}'", "dbname='postgres'")
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (params.dbname,)
        ).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(params.dbname)))
    return params
