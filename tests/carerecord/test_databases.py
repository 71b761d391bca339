"""The storage layer's two kinds of transaction, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from carerecord.db import Databases, create_postgres_database
from carerecord.settings import Settings


def _insert_from_another_thread(databases: Databases, value: int) -> None:
    def write() -> None:
        with databases.views.transaction() as tx:
            tx.execute("INSERT INTO db_probe (value) VALUES (?)", (value,))

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()


def test_a_snapshot_reads_one_state_keeps_nothing_and_leaves_later_transactions_writable(
    settings: Settings,
) -> None:
    databases = Databases(replace(settings, pool_size=1))
    try:
        with databases.views.transaction() as tx:
            tx.execute("CREATE TABLE db_probe (value INTEGER NOT NULL)")
            tx.execute("INSERT INTO db_probe (value) VALUES (1)")
        with databases.views.snapshot() as snap:
            assert snap.scalar("SELECT COUNT(*) FROM db_probe") == 1
            _insert_from_another_thread(databases, 2)  # committed while the snapshot is open
            assert snap.scalar("SELECT COUNT(*) FROM db_probe") == 1
        with databases.views.snapshot() as snap:
            assert snap.scalar("SELECT COUNT(*) FROM db_probe") == 2
        with databases.views.transaction() as tx:  # the same pooled connection, writable
            tx.execute("INSERT INTO db_probe (value) VALUES (3)")
        with databases.views.snapshot() as snap:
            assert snap.scalar("SELECT SUM(value) FROM db_probe") == 6
    finally:
        databases.close()


@pytest.mark.postgres_only  # SQLite has no read-only transactions: its snapshots roll back
def test_on_postgresql_a_snapshot_is_read_only_and_the_pooled_connection_is_put_back(
    settings: Settings,
) -> None:
    databases = Databases(replace(settings, pool_size=1))  # used one at a time: one connection
    try:
        with databases.views.snapshot() as snap:
            assert snap.scalar("SHOW transaction_isolation") == "repeatable read"
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                snap.execute("CREATE TABLE db_probe (value INTEGER)")
        with databases.views.transaction() as tx:
            assert tx.scalar("SHOW transaction_isolation") == "read committed"
            assert tx.scalar("SHOW transaction_read_only") == "off"
            tx.execute("CREATE TABLE db_probe (value INTEGER)")
    finally:
        databases.close()


@pytest.mark.postgres_only
def test_a_missing_postgresql_database_is_created_once(settings: Settings) -> None:
    # The test suite and the benchmarks start from a server without their database.
    assert settings.postgres is not None
    name = f"carerecord_new_{uuid.uuid4().hex[:8]}"
    fresh = replace(settings.postgres, dbname=name, schema="public")
    admin = settings.postgres.conninfo()
    try:
        assert create_postgres_database(fresh) is True
        assert create_postgres_database(fresh) is False
        with psycopg.connect(fresh.conninfo()) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
