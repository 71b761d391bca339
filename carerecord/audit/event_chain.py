"""Checking the event log's hash chain, record by record, against the stored events.

The chain table has one row per stored event (same notification id), written in the
same transaction by the chained recorders (``carerecord.persistence``). The check
walks both tables in notification-id order (merged, paged) and for each position:

1. an event with no chain row is an inserted record (if the chain runs intact past
   it) or a removed chain row (if the chain breaks there);
2. a chain row with no event means the event was removed;
3. the event must be the stream and version the chain recorded there;
4. the chain row's ``prev_hash`` must be the hash of the previous chain row
   (notification ids can have gaps on PostgreSQL - a failed insert consumes a
   sequence value - so only the hash links count, never contiguity);
5. the hash recomputed from the stored bytes must equal the chain's hash;
6. ``stream_prev_hash`` must be the hash of the same stream's previous version,
   stored earlier in the log.

When a check fails, a few targeted queries tell the kinds of tampering apart (a
forged record slotted in, a record removed, records swapped). Diagnosis runs only
once, on the first failure.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from carerecord.audit.chains import (
    DEFAULT_PAGE,
    EVENTS,
    Anchor,
    BreakKind,
    ChainBreak,
    ChainCheck,
    EventTables,
    Pin,
    as_bytes,
    stream_str,
    stream_uuid,
)
from carerecord.audit.walk import ChainLog, Link, Walker, walk_chain
from carerecord.chain import GENESIS, link_hash, record_digest
from carerecord.db import Database

EventRow = tuple[Any, ...]  # (id, originator_id, version, topic, state)
ChainRow = tuple[Any, ...]  # (id, stream, version, stream_prev, prev, hash, pred_id, pred_hash)


def event_head(db: Database, tables: EventTables) -> tuple[int, bytes]:
    """The chain's head: the last chain row's (notification id, hash)."""
    with db.snapshot() as tx:
        row = tx.fetchone(
            f"SELECT notification_id, hash FROM {tables.chain} "
            "ORDER BY notification_id DESC LIMIT 1"
        )
    return (0, GENESIS) if row is None else (int(row[0]), as_bytes(row[1]))


def _upper_bound(db: Database, tables: EventTables) -> int:
    with db.snapshot() as tx:
        chain_max = tx.scalar(f"SELECT MAX(notification_id) FROM {tables.chain}")
        events_max = tx.scalar(f"SELECT MAX({tables.id_column}) FROM {tables.events}")
    return max(int(chain_max or 0), int(events_max or 0))


def _pages(
    db: Database, tables: EventTables, after: int, upto: int, page: int
) -> Iterator[tuple[list[EventRow], list[ChainRow]]]:
    """Both tables in notification-id ranges of ``page`` ids, each range one snapshot.

    Ranges rather than LIMIT: each query touches only its range, whatever the planner
    thinks of the table's size (a LIMIT over a join can make it walk the whole rest of
    the log per page). An empty range skips straight to the next stored id, so gaps in
    PostgreSQL's notification ids cost one query each, however wide.
    """
    column = tables.id_column
    events_sql = (
        f"SELECT {column}, originator_id, originator_version, topic, state "
        f"FROM {tables.events} WHERE {column} > ? AND {column} <= ? ORDER BY {column}"
    )
    # The stream predecessor comes from the same query (unique index on stream, version),
    # so the check needs no per-stream state in memory however many clients there are.
    chain_sql = (
        "SELECT c.notification_id, c.originator_id, c.originator_version, "
        "c.stream_prev_hash, c.prev_hash, c.hash, p.notification_id, p.hash "
        f"FROM {tables.chain} c LEFT JOIN {tables.chain} p "
        "ON p.originator_id = c.originator_id AND p.originator_version = c.originator_version - 1 "
        "WHERE c.notification_id > ? AND c.notification_id <= ? "
        "ORDER BY c.notification_id"
    )
    while after < upto:
        end = min(after + page, upto)
        with db.snapshot() as tx:
            events = tx.fetchall(events_sql, (after, end))
            chain = tx.fetchall(chain_sql, (after, end))
            if not events and not chain:
                following = [
                    tx.scalar(
                        f"SELECT MIN(notification_id) FROM {tables.chain} WHERE "
                        "notification_id > ?",
                        (end,),
                    ),
                    tx.scalar(
                        f"SELECT MIN({column}) FROM {tables.events} WHERE {column} > ?", (end,)
                    ),
                ]
                found = [int(n) for n in following if n is not None]
                if not found:
                    return
                after = min(found) - 1
                continue
        yield events, chain
        after = end


def _merged(
    pages: Iterator[tuple[list[EventRow], list[ChainRow]]],
) -> Iterator[tuple[int, EventRow | None, ChainRow | None]]:
    """Events and chain rows side by side, by notification id (either may be missing)."""
    for event_rows, chain_rows in pages:
        events, chain = iter(event_rows), iter(chain_rows)
        e = next(events, None)
        c = next(chain, None)
        while e is not None or c is not None:
            if c is None or (e is not None and int(e[0]) < int(c[0])):
                assert e is not None
                yield int(e[0]), e, None
                e = next(events, None)
            elif e is None or int(c[0]) < int(e[0]):
                yield int(c[0]), None, c
                c = next(chain, None)
            else:
                yield int(e[0]), e, c
                e = next(events, None)
                c = next(chain, None)


class _EventLog(ChainLog):
    """The event log: the stored events and their chain table, side by side."""

    log = EVENTS

    def __init__(self, db: Database, tables: EventTables) -> None:
        self.db = db
        self.tables = tables

    def name(self, stream: str | None, version: int) -> str:
        return f"stream {stream} version {version}"

    def head(self) -> int:
        return _upper_bound(self.db, self.tables)

    def links(self, walk: Walker, upto: int, page: int) -> Iterator[Link | ChainBreak]:
        for n, e, c in _merged(_pages(self.db, self.tables, walk.last_position, upto, page)):
            yield self._link(walk, n, e, c)

    def _link(
        self, walk: Walker, n: int, e: EventRow | None, c: ChainRow | None
    ) -> Link | ChainBreak:
        if c is None:
            assert e is not None
            stream, version = stream_str(e[1]), int(e[2])
            if walk.skipped_by_next(n, at_end=True):
                return walk.inserted(n, stream, version)
            return walk.broken(
                BreakKind.CHAIN_ROW_MISSING,
                n,
                stream,
                version,
                f"the chain record of position {n} (stream {stream} version {version}) "
                "has been removed",
            )
        stream = str(c[1])
        version = int(c[2])
        if e is None:
            return walk.broken(
                BreakKind.RECORD_MISSING,
                n,
                stream,
                version,
                f"the chain records stream {stream} version {version} at position {n}, "
                "but that event is no longer stored",
            )
        # One parse of the stored id (hex text on SQLite, a uuid on PostgreSQL), reused
        # for the identity check and the digest.
        try:
            stream_id = stream_uuid(e[1])
        except ValueError:
            return walk.broken(
                BreakKind.CONTENT_ALTERED,
                n,
                stream,
                version,
                f"the event stored at position {n} has a stream id that is not an id",
            )
        event_stream, event_version = str(stream_id), int(e[2])
        if (event_stream, event_version) != (stream, version):
            return walk.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                event_stream,
                event_version,
                f"position {n} holds stream {event_stream} version {event_version}, but the "
                f"chain recorded stream {stream} version {version} there",
            )
        prev_hash, stream_prev = as_bytes(c[4]), as_bytes(c[3])
        topic, state = str(e[3]), as_bytes(e[4])
        digest = record_digest(n, stream_id, version, topic, state)
        return Link(
            position=n,
            stream=stream,
            version=version,
            prev_hash=prev_hash,
            stream_prev=stream_prev,
            stored=as_bytes(c[5]),
            computed=link_hash(prev_hash, stream_prev, digest),
            predecessor=None if c[6] is None else (int(c[6]), as_bytes(c[7])),
            content=state,
            topic=topic,
        )

    def next_prev_hash(self, position: int) -> bytes | None:
        with self.db.snapshot() as tx:
            row = tx.fetchone(
                f"SELECT prev_hash FROM {self.tables.chain} "
                "WHERE notification_id > ? ORDER BY notification_id LIMIT 1",
                (position,),
            )
        return None if row is None else as_bytes(row[0])

    def position_of(self, hash_: bytes) -> int | None:
        with self.db.snapshot() as tx:
            row = tx.fetchone(
                f"SELECT notification_id FROM {self.tables.chain} WHERE hash = ?", (hash_,)
            )
        return None if row is None else int(row[0])

    def successor_of(self, hash_: bytes) -> tuple[str | None, int] | None:
        with self.db.snapshot() as tx:
            row = tx.fetchone(
                f"SELECT originator_id, originator_version FROM {self.tables.chain} "
                "WHERE stream_prev_hash = ?",
                (hash_,),
            )
        return None if row is None else (str(row[0]), int(row[1]))

    def placed_elsewhere(self, link: Link) -> tuple[int, int] | None:
        topic, state = link.topic, link.content
        ids = self.tables.id_column
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                "SELECT c.notification_id, c.originator_version, c.stream_prev_hash, "
                f"c.prev_hash, c.hash, e.topic FROM {self.tables.chain} c "
                f"LEFT JOIN {self.tables.events} e ON e.{ids} = c.notification_id "
                "WHERE c.originator_id = ?",
                (link.stream,),
            )
        for row in rows:
            position, other = int(row[0]), int(row[1])
            if position == link.position:
                continue
            for candidate in {topic, str(row[5])}:
                digest = record_digest(position, str(link.stream), other, candidate, state)
                if link_hash(as_bytes(row[3]), as_bytes(row[2]), digest) == as_bytes(row[4]):
                    return position, other
        return None


def check_event_chain(
    db: Database,
    tables: EventTables,
    *,
    pins: Sequence[Pin] = (),
    anchor: Anchor | None = None,
    upto: int | None = None,
    page: int = DEFAULT_PAGE,
) -> ChainCheck:
    """Walk the event log from the genesis (or ``anchor``) to ``upto`` (default: its end).

    Every record's hash is recomputed from the stored event; the walk stops at the
    first broken link. The chain must pass through every pin beyond the start.
    """
    return walk_chain(_EventLog(db, tables), pins=pins, anchor=anchor, upto=upto, page=page)
