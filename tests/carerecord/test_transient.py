"""Which database errors pass by themselves: real errors from real drivers, classified.

Each error here is produced for real (a refused connection, a terminated session, a lock
held by another connection, bad SQL, a duplicate key) rather than constructed, so the
classifier is checked against what the drivers and the eventsourcing library raise.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import OperationalError as LibraryOperationalError
from eventsourcing.utils import Environment
from pg_support import fresh_schema
from psycopg_pool import ConnectionPool, PoolClosed

from carerecord.errors import ClientNotFound
from carerecord.persistence import CarePostgresFactory, library_env
from carerecord.settings import PostgresParams, Settings
from carerecord.transient import MAX_BACKOFF_SECONDS, Backoff, is_transient


def raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except BaseException as exc:
        return exc
    raise AssertionError("expected an error")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


@pytest.fixture
def pg() -> Iterator[PostgresParams]:
    with fresh_schema("tr") as params:
        yield params


def test_a_refused_connection_is_transient() -> None:
    nowhere = PostgresParams("127.0.0.1", _closed_port(), "x", "postgres", "", connect_timeout=1)
    error = raised(lambda: psycopg.connect(nowhere.conninfo()))
    assert isinstance(error, psycopg.OperationalError)
    assert is_transient(error)


def test_the_librarys_wrapped_connection_error_is_transient(tmp_path: Path) -> None:
    nowhere = PostgresParams("127.0.0.1", _closed_port(), "x", "postgres", "", connect_timeout=1)
    settings = Settings(data_dir=tmp_path, postgres=nowhere, identifier_key=b"k" * 32)
    factory = CarePostgresFactory(
        Environment("CareRecord", library_env(settings, create_tables=False))
    )
    try:

        def read() -> None:
            with factory.datastore.get_connection() as conn:
                conn.execute("SELECT 1")

        error = raised(read)
    finally:
        factory.close()
    assert isinstance(error, LibraryOperationalError)  # not a psycopg error: wrapped
    assert not isinstance(error, psycopg.Error)
    assert is_transient(error)


@pytest.mark.postgres
def test_a_session_terminated_by_the_server_is_transient(pg: PostgresParams) -> None:
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        error = raised(lambda: conn.execute("SELECT pg_terminate_backend(pg_backend_pid())"))
    assert isinstance(error, psycopg.errors.AdminShutdown)
    assert is_transient(error)


@pytest.mark.postgres
def test_a_lock_timeout_is_transient_and_bad_sql_or_a_duplicate_is_not(
    pg: PostgresParams,
) -> None:
    schema = psycopg.sql.Identifier(pg.schema)
    with (
        psycopg.connect(pg.conninfo(), autocommit=True) as holder,
        psycopg.connect(pg.conninfo(), autocommit=True) as waiter,
    ):
        for conn in (holder, waiter):
            conn.execute(psycopg.sql.SQL("SET search_path TO {}").format(schema))
        holder.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        holder.execute("INSERT INTO t VALUES (1)")
        with holder.transaction():
            holder.execute("LOCK TABLE t IN EXCLUSIVE MODE")
            waiter.execute("SET lock_timeout = '50ms'")

            def lock() -> None:
                with waiter.transaction():
                    waiter.execute("LOCK TABLE t IN EXCLUSIVE MODE")

            locked = raised(lock)
        duplicate = raised(lambda: waiter.execute("INSERT INTO t VALUES (1)"))
        missing = raised(lambda: waiter.execute("SELECT * FROM no_such_table"))
        syntax = raised(lambda: waiter.execute("SELEKT 1"))
    assert isinstance(locked, psycopg.errors.LockNotAvailable)
    assert is_transient(locked)
    assert isinstance(duplicate, psycopg.errors.UniqueViolation)
    assert isinstance(missing, psycopg.errors.UndefinedTable)
    assert isinstance(syntax, psycopg.errors.SyntaxError)
    assert not any(is_transient(e) for e in (duplicate, missing, syntax))


@pytest.mark.postgres
def test_a_closed_pool_is_not_transient(pg: PostgresParams) -> None:
    pool: ConnectionPool[psycopg.Connection[object]] = ConnectionPool(
        pg.conninfo(), min_size=1, open=True
    )
    pool.close()

    def borrow() -> None:
        with pool.connection():
            pass

    error = raised(borrow)
    assert isinstance(error, PoolClosed)
    assert not is_transient(error)


def test_sqlite_busy_is_transient_and_a_missing_table_or_a_constraint_is_not(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "t.sqlite3")
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0.01)
    try:
        holder.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        holder.execute("INSERT INTO t VALUES (1)")
        holder.execute("BEGIN IMMEDIATE")
        busy = raised(lambda: waiter.execute("BEGIN IMMEDIATE"))
        holder.execute("ROLLBACK")
        duplicate = raised(lambda: waiter.execute("INSERT INTO t VALUES (1)"))
        missing = raised(lambda: waiter.execute("SELECT * FROM no_such_table"))
    finally:
        holder.close()
        waiter.close()
    assert isinstance(busy, sqlite3.OperationalError)
    assert is_transient(busy)
    assert isinstance(missing, sqlite3.OperationalError)  # same class, not transient
    assert not is_transient(missing)
    assert not is_transient(duplicate)


def test_a_coded_refusal_raised_from_none_and_a_plain_bug_are_not_transient() -> None:
    def refuse() -> None:
        try:
            psycopg.connect(
                PostgresParams(
                    "127.0.0.1", _closed_port(), "x", "postgres", "", connect_timeout=1
                ).conninfo()
            )
        except psycopg.OperationalError:
            raise ClientNotFound() from None

    assert not is_transient(raised(refuse))
    assert not is_transient(raised(lambda: {}["missing"]))


def test_back_off_doubles_up_to_its_cap_and_starts_again_after_a_success() -> None:
    backoff = Backoff(0.5)
    pauses = [backoff.next() for _ in range(6)]
    assert pauses == [0.5, 1.0, 2.0, 4.0, MAX_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS]
    backoff.reset()
    assert backoff.next() == 0.5
    assert Backoff(30.0, cap=2.0).next() == 2.0  # the first pause is capped too
