"""Event store configuration: SQLite by default, PostgreSQL when configured.

The eventsourcing library is configured from an explicit environment built here
(never from the process environment directly). Both recorders are subclassed so
that every insert also appends to the ``event_chain`` table in the same
transaction: on PostgreSQL the library's exclusive table lock already serialises
inserts, on SQLite the write lock does, so each chain record can safely read its
predecessor's hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import ConnectionPool as LibraryPool
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import Environment, EnvType, get_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from carerecord.chain import GENESIS, link_hash, record_digest
from carerecord.db import CheckOrDrain
from carerecord.settings import KEEPALIVES, Settings

CHAIN_TABLE = "event_chain"


def _chain_rows(
    stored_events: Sequence[StoredEvent],
    ids: Sequence[int],
    prev: bytes,
    stream_heads: dict[str, bytes],
) -> list[tuple[int, str, int, bytes, bytes, bytes]]:
    rows = []
    for stored, position in zip(stored_events, ids, strict=True):
        stream = str(stored.originator_id)
        stream_prev = stream_heads.get(stream, GENESIS)
        digest = record_digest(
            position, stored.originator_id, stored.originator_version, stored.topic, stored.state
        )
        current = link_hash(prev, stream_prev, digest)
        rows.append((position, stream, stored.originator_version, stream_prev, prev, current))
        prev = current
        stream_heads[stream] = current
    return rows


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite application recorder, plus the hash chain."""

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
            "notification_id INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, "
            "stream_prev_hash BLOB NOT NULL, "
            "prev_hash BLOB NOT NULL, "
            "hash BLOB NOT NULL)"
        )
        statements.append(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {CHAIN_TABLE}_stream_idx "
            f"ON {CHAIN_TABLE} (originator_id, originator_version)"
        )
        return statements

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if not ids:
            return ids
        c.execute(f"SELECT hash FROM {CHAIN_TABLE} ORDER BY notification_id DESC LIMIT 1")
        row = c.fetchone()
        prev = bytes(row[0]) if row else GENESIS
        heads: dict[str, bytes] = {}
        for stream in {str(s.originator_id) for s in stored_events}:
            c.execute(
                f"SELECT hash FROM {CHAIN_TABLE} WHERE originator_id=? "
                "ORDER BY originator_version DESC LIMIT 1",
                (stream,),
            )
            head = c.fetchone()
            if head:
                heads[stream] = bytes(head[0])
        c.executemany(
            f"INSERT INTO {CHAIN_TABLE} VALUES (?,?,?,?,?,?)",
            _chain_rows(stored_events, ids, prev, heads),
        )
        return ids

    def notification_id_of(self, originator_id: UUID, version: int) -> int | None:
        """The log position of one stored event (``None`` if there is no such event)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT notification_id FROM {CHAIN_TABLE} "
                "WHERE originator_id=? AND originator_version=?",
                (str(originator_id), version),
            )
            row = c.fetchone()
        return None if row is None else int(row[0])


def _once(method: Any) -> Any:
    """The library's method without its retry decorator (10 attempts, 0.2 s apart)."""
    return method.__wrapped__


_insert_once = _once(PostgresApplicationRecorder.insert_events)
_insert_snapshots_once = _once(PostgresAggregateRecorder.insert_events)
_select_events_once = _once(PostgresAggregateRecorder.select_events)
_select_notifications_once = _once(PostgresApplicationRecorder.select_notifications)
_max_notification_id_once = _once(PostgresApplicationRecorder.max_notification_id)


class _ReadsTriedOnce:
    """``select_events`` without the library's retries (see the recorder below)."""

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        found: Sequence[StoredEvent] = _select_events_once(
            self, originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        )
        return found


class SnapshotPostgresRecorder(_ReadsTriedOnce, PostgresAggregateRecorder):
    """The library's aggregate recorder (the snapshots' store), its statements tried once
    like the application recorder's."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids: Sequence[int] | None = _insert_snapshots_once(self, stored_events, **kwargs)
        return ids


class ChainedPostgresApplicationRecorder(_ReadsTriedOnce, PostgresApplicationRecorder):
    """The library's PostgreSQL application recorder, plus the hash chain.

    Every statement is tried once; the library's retries (ten attempts) are not used.
    An insert: a connection can fail after the server committed (the acknowledgement is
    what was lost), and a retry then collides with its own events - the command would be
    run again on top of them or refused as a conflict. Instead the caller gets the error
    (``STORE_UNAVAILABLE`` at the API: the write may or may not have been saved) and
    retries with its idempotency key. A read: each attempt may wait the pool's whole
    timeout for a connection, so ten of them kept a request waiting for a minute in an
    outage; one wait of ``CARERECORD_DB_CONNECT_TIMEOUT`` is the store's answer. Pooled
    connections are checked before use (``CheckOrDrain``), so a connection broken by a
    restart is not what fails a statement; long-running loops retry on their own.
    """

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids: Sequence[int] | None = _insert_once(self, stored_events, **kwargs)
        return ids

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        found: Sequence[Notification] = _select_notifications_once(
            self, start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )
        return found

    def max_notification_id(self) -> int | None:
        found: int | None = _max_notification_id_once(self)
        return found

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        chain = Identifier(f"{self.events_table_name}_chain")
        self.chain_table_name = f"{self.events_table_name}_chain"
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
                "notification_id bigint PRIMARY KEY, "
                "originator_id text NOT NULL, "
                "originator_version bigint NOT NULL, "
                "stream_prev_hash bytea NOT NULL, "
                "prev_hash bytea NOT NULL, "
                "hash bytea NOT NULL)"
            ).format(schema=schema, chain=chain)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS {index} "
                "ON {schema}.{chain} (originator_id, originator_version)"
            ).format(
                index=Identifier(f"{self.chain_table_name}_stream_idx"), schema=schema, chain=chain
            )
        )
        self._select_head = SQL(
            "SELECT hash FROM {schema}.{chain} ORDER BY notification_id DESC LIMIT 1"
        ).format(schema=schema, chain=chain)
        self._select_stream_heads = SQL(
            "SELECT DISTINCT ON (originator_id) originator_id, hash FROM {schema}.{chain} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version DESC"
        ).format(schema=schema, chain=chain)
        self._insert_chain = SQL("INSERT INTO {schema}.{chain} VALUES (%s,%s,%s,%s,%s,%s)").format(
            schema=schema, chain=chain
        )
        self._select_position = SQL(
            "SELECT notification_id FROM {schema}.{chain} "
            "WHERE originator_id = %s AND originator_version = %s"
        ).format(schema=schema, chain=chain)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if not ids:
            return ids
        # The exclusive table lock taken before the insert is still held, so the
        # chain head read here is the true predecessor.
        curs.execute(self._select_head, prepare=True)
        row = curs.fetchone()
        prev = bytes(row["hash"]) if row else GENESIS
        streams = sorted({str(s.originator_id) for s in stored_events})
        curs.execute(self._select_stream_heads, (streams,), prepare=True)
        heads = {r["originator_id"]: bytes(r["hash"]) for r in curs.fetchall()}
        curs.executemany(self._insert_chain, _chain_rows(stored_events, ids, prev, heads))
        return ids

    def notification_id_of(self, originator_id: UUID, version: int) -> int | None:
        """The log position of one stored event (``None`` if there is no such event)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_position, (str(originator_id), version), prepare=True)
            row = curs.fetchone()
        return None if row is None else int(row["notification_id"])


class CarePostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory, its pool made to ride out server outages.

    The datastore's pool (not yet opened) is replaced by one with the same settings and
    three differences: every connection gets the same TCP keepalives and connect
    timeout as ours (``carerecord.settings.KEEPALIVES``); each is checked before it is
    lent, and the idle ones dropped when one fails (``carerecord.db.CheckOrDrain``:
    after a restart they are all dead); a lost connection is re-tried for a few seconds
    before the pool gives that attempt up and starts afresh on the next request
    (psycopg_pool's default is five minutes of doubling pauses).
    """

    aggregate_recorder_class = SnapshotPostgresRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        old = self.datastore.pool
        kwargs = dict(old.kwargs) if isinstance(old.kwargs, dict) else {}
        kwargs.update(connect_timeout=max(1, round(old.timeout)), **KEEPALIVES)
        check = CheckOrDrain()
        pool: LibraryPool[Any] = LibraryPool(
            get_password_func=old.get_password_func,
            connection_class=old.connection_class,
            kwargs=kwargs,
            min_size=old.min_size,
            max_size=old.max_size,
            open=False,
            configure=self.datastore.after_connect_func(),
            check=check,
            timeout=old.timeout,
            max_waiting=old.max_waiting,
            max_lifetime=old.max_lifetime,
            reconnect_timeout=max(5.0, old.timeout),
        )
        check.pool = pool
        self.datastore.pool = pool


def library_env(settings: Settings, *, create_tables: bool) -> dict[str, str]:
    """The eventsourcing library's configuration for the care record application."""
    env: dict[str, str] = {
        "CREATE_TABLE": "y" if create_tables else "n",
        "IS_SNAPSHOTTING_ENABLED": "y",
        "AGGREGATE_CACHE_MAXSIZE": "2000",
        "TRANSCODER_TOPIC": "carerecord.transcoder:OrjsonTranscoder",
    }
    if settings.cipher_key:
        env["CIPHER_TOPIC"] = "carerecord.cipher:AESGCMCipher"
        env["CIPHER_KEY"] = settings.cipher_key
    if settings.postgres is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=str(settings.sqlite_path("events")),
            SQLITE_LOCK_TIMEOUT="30",
            APPLICATION_RECORDER_TOPIC=get_topic(ChainedSQLiteApplicationRecorder),
        )
    else:
        pg = settings.postgres
        env.update(
            PERSISTENCE_MODULE=get_topic(CarePostgresFactory),
            POSTGRES_HOST=pg.host,
            POSTGRES_PORT=str(pg.port),
            POSTGRES_DBNAME=pg.dbname,
            POSTGRES_USER=pg.user,
            POSTGRES_PASSWORD=pg.password,
            POSTGRES_SCHEMA=pg.schema,
            POSTGRES_POOL_SIZE=str(settings.pool_size),
            POSTGRES_MAX_OVERFLOW=str(settings.pool_size * 2),
            POSTGRES_LOCK_TIMEOUT="10",
            POSTGRES_CONNECT_TIMEOUT=str(pg.connect_timeout),
            APPLICATION_RECORDER_TOPIC=get_topic(ChainedPostgresApplicationRecorder),
        )
    env.update(settings.extra)
    return env


def chain_table_name(settings: Settings, app_name: str = "CareRecord") -> str:
    """The chain table's name: ``event_chain`` on SQLite, ``<app>_events_chain`` on PostgreSQL."""
    return CHAIN_TABLE if settings.postgres is None else f"{app_name.lower()}_events_chain"


def as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
