"""A small database layer for the tables the care record owns (views, access log, chain).

Two implementations behind one interface: SQLite (one file per storage area, WAL
mode) and PostgreSQL (one psycopg pool, one schema). SQL is written once with
``?`` placeholders and translated for psycopg. Transactions are explicit:
``transaction()`` for writes (``BEGIN IMMEDIATE`` on SQLite, so writers queue
instead of failing on a stale snapshot) and ``snapshot()`` for consistent reads.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg_pool import ConnectionPool

from carerecord.settings import PostgresParams, Settings

Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]
Params = Sequence[Any]
AREAS = ("events", "views", "access")
CACHE_KIB = 16_384
"""SQLite page cache per connection, at most (16 MiB against the default 2 MiB: a
rebuild writing millions of rows keeps more of the B-trees' inner pages in memory; one
connection per thread, so this bounds memory per thread and area)."""
MMAP_BYTES = 1 << 30
"""SQLite reads the file through a memory map of up to 1 GiB (no read() call per page)."""


class Tx(ABC):
    """One open transaction."""

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the number of rows it changed (where known)."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abstractmethod
    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.fetchone(sql, params)
        return None if row is None else row[0]


class Database(ABC):
    dialect: Dialect

    @abstractmethod
    def transaction(self) -> Any:
        """Context manager yielding a ``Tx`` that commits on success, rolls back on error."""

    @abstractmethod
    def snapshot(self) -> Any:
        """Context manager yielding a read-only ``Tx`` over one consistent snapshot."""

    @abstractmethod
    def read(self, sql: str, params: Params = ()) -> list[Row]:
        """The rows of one read-only statement, outside any transaction: a single
        statement sees one consistent snapshot by itself, so a read that fits in one
        statement needs no ``BEGIN``/``ROLLBACK`` (one round trip on PostgreSQL)."""

    @abstractmethod
    def close(self) -> None: ...


# --- SQLite ---------------------------------------------------------------------------


class _SQLiteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._conn.executemany(sql, rows)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else tuple(row)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return [tuple(r) for r in self._conn.execute(sql, params).fetchall()]

    def executescript(self, script: str) -> None:
        self._conn.executescript(script)


class SQLiteDatabase(Database):
    """One SQLite file; one connection per thread; WAL mode for concurrent readers."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._synchronous = synchronous
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[_SQLiteTx]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _SQLiteTx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[_SQLiteTx]:
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            yield _SQLiteTx(conn)
        finally:
            conn.execute("ROLLBACK")

    def read(self, sql: str, params: Params = ()) -> list[Row]:
        # isolation_level=None: the statement runs in its own implicit read transaction.
        return [tuple(r) for r in self._connection().execute(sql, params).fetchall()]

    @contextmanager
    def attached(self, path: Path, name: str) -> Iterator[None]:
        """Another SQLite file attached to this thread's connection as ``name`` (for
        copying tables between files in one transaction); detached afterwards."""
        conn = self._connection()
        conn.execute("ATTACH DATABASE ? AS " + _identifier(name), (str(path),))
        try:
            yield
        finally:
            conn.execute("DETACH DATABASE " + _identifier(name))

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise ValueError("not an SQL identifier")
    return name


# --- PostgreSQL -----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def to_pyformat(sql: str) -> str:
    """Translate ``?`` placeholders to psycopg's ``%s`` (and escape literal ``%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _PostgresTx(Tx):
    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Params = ()) -> int:
        self._cur.execute(to_pyformat(sql), params or None)
        return self._cur.rowcount

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._cur.executemany(to_pyformat(sql), list(rows))

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        self._cur.execute(to_pyformat(sql), params or None)
        row = self._cur.fetchone()
        return None if row is None else tuple(row)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._cur.execute(to_pyformat(sql), params or None)
        return [tuple(r) for r in self._cur.fetchall()]

    @property
    def cursor(self) -> psycopg.Cursor[Any]:
        """The underlying cursor, for COPY and other PostgreSQL-only paths."""
        return self._cur


class PostgresDatabase(Database):
    """A psycopg connection pool whose sessions use the configured schema."""

    dialect: Dialect = "postgres"

    def __init__(self, params: PostgresParams, *, min_size: int = 1, max_size: int = 10) -> None:
        self.params = params
        schema = params.schema

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.autocommit = True
            conn.execute(
                psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema))
            )

        check = CheckOrDrain()
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            params.conninfo(),
            min_size=min_size,
            max_size=max_size,
            configure=configure,
            check=check,
            open=False,
            timeout=float(params.connect_timeout),
            reconnect_timeout=reconnect_timeout(params),
            name=f"carerecord-{schema}",
        )
        check.pool = self.pool
        self._opened = False
        self._open_lock = threading.Lock()

    def _pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    # Not ``wait=True``: on a timeout that closes the pool for good
                    # (psycopg_pool cannot reopen a pool), so a process started while the
                    # server is down would never recover. Callers wait in ``connection()``.
                    self.pool.open(wait=False)
                    self._opened = True
        return self.pool

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTx]:
        with self._pool().connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _PostgresTx(cur)

    @contextmanager
    def snapshot(self) -> Iterator[_PostgresTx]:
        with self._pool().connection() as conn:
            # Set on the connection so that BEGIN itself carries them (one round trip less
            # than a SET TRANSACTION after it); put back before the pool lends it again.
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            try:
                with conn.transaction(force_rollback=True), conn.cursor() as cur:
                    yield _PostgresTx(cur)
            finally:
                conn.isolation_level = None
                conn.read_only = None

    def read(self, sql: str, params: Params = ()) -> list[Row]:
        # Pooled connections are in autocommit mode: the statement is its own transaction.
        with self._pool().connection() as conn, conn.cursor() as cur:
            cur.execute(to_pyformat(sql), params or None)
            return [tuple(r) for r in cur.fetchall()]

    def close(self) -> None:
        if self._opened:
            self.pool.close()
            self._opened = False


class CheckOrDrain:
    """A pool's ``check``: every connection is tried (an empty query, one round trip)
    before it is lent, and when one fails *all* the idle ones are dropped and replaced.

    After a server restart or crash every pooled connection is dead. Checking alone
    would find them one by one, and psycopg_pool spaces failed checks with a growing
    pause, so a request could spend its whole timeout discarding dead connections;
    draining at the first failure makes it wait for a fresh one instead.
    """

    def __init__(self) -> None:
        self.pool: ConnectionPool[Any] | None = None

    def __call__(self, conn: psycopg.Connection[Any]) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            if self.pool is not None:
                self.pool.drain()  # the others were connected to the same dead server
            raise


def reconnect_timeout(params: PostgresParams) -> float:
    """How long a pool keeps re-trying one lost connection before it gives that attempt up
    (psycopg_pool's back-off doubles from 1 s). Short, so that after a long outage the next
    caller starts a fresh attempt at once rather than waiting out a long back-off."""
    return float(max(5, params.connect_timeout))


def create_postgres_database(params: PostgresParams, *, timeout: float = 5.0) -> bool:
    """Create ``params.dbname`` on its server if it is missing (connecting to the server's
    ``postgres`` database); True if it was created. For the test suite and benchmarks on a
    fresh server: a deployment's database is made by its operators. Raises
    ``psycopg.OperationalError`` if the server cannot be reached."""
    from psycopg import sql

    admin = params.conninfo().replace(f"dbname='{params.dbname}'", "dbname='postgres'")
    with psycopg.connect(admin, autocommit=True, connect_timeout=int(timeout)) as conn:
        if conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (params.dbname,)
        ).fetchone():
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(params.dbname)))
        except psycopg.errors.DuplicateDatabase:
            return False  # made by a concurrent caller
        return True


class Databases:
    """The storage areas of one deployment: ``events``, ``views`` and ``access``.

    On SQLite each area is its own file (so projection writes, command writes and
    audit writes do not queue behind one another); on PostgreSQL they share one
    pool and schema.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._by_area: dict[str, Database] = {}
        self._lock = threading.Lock()

    def area(self, name: str) -> Database:
        if name not in AREAS:
            raise ValueError(f"unknown storage area: {name}")
        with self._lock:
            found = self._by_area.get(name)
            if found is None:
                found = self._open(name)
                self._by_area[name] = found
            return found

    def _open(self, name: str) -> Database:
        if self.settings.postgres is None:
            # The access log must survive a power cut once a read has been served.
            sync = "FULL" if name == "access" else "NORMAL"
            return SQLiteDatabase(self.settings.sqlite_path(name), synchronous=sync)
        shared = next((db for db in self._by_area.values()), None)
        if shared is not None:
            return shared
        return PostgresDatabase(
            self.settings.postgres, max_size=max(4, self.settings.pool_size * 2)
        )

    @property
    def events(self) -> Database:
        return self.area("events")

    @property
    def views(self) -> Database:
        return self.area("views")

    @property
    def access(self) -> Database:
        return self.area("access")

    def close(self) -> None:
        with self._lock:
            for db in {id(d): d for d in self._by_area.values()}.values():
                db.close()
            self._by_area.clear()
