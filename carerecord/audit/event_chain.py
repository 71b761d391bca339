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

import time
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


class _Walk:
    """The state of one walk along the event chain."""

    def __init__(self, db: Database, tables: EventTables, anchor: Anchor | None) -> None:
        self.db = db
        self.tables = tables
        self.start = 0 if anchor is None else anchor.position
        self.last_position = self.start
        self.last_hash = GENESIS if anchor is None else anchor.hash
        self.last_stream: str | None = None
        self.last_version: int | None = None
        self.before_last_hash: bytes | None = None
        self.before_last_position: int | None = None
        self.records = 0

    def broken(
        self,
        kind: BreakKind,
        position: int,
        stream: str | None,
        version: int | None,
        detail: str,
    ) -> ChainBreak:
        return ChainBreak(EVENTS, kind, position, stream, version, detail, self.last_position)

    def check(
        self, n: int, e: EventRow | None, c: ChainRow | None
    ) -> tuple[bytes, ChainBreak | None]:
        if c is None:
            assert e is not None
            return b"", self._without_chain_row(n, e)
        stream = str(c[1])
        version = int(c[2])
        if e is None:
            return b"", self.broken(
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
            return b"", self.broken(
                BreakKind.CONTENT_ALTERED,
                n,
                stream,
                version,
                f"the event stored at position {n} has a stream id that is not an id",
            )
        event_stream = str(stream_id)
        event_version = int(e[2])
        if (event_stream, event_version) != (stream, version):
            return b"", self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                event_stream,
                event_version,
                f"position {n} holds stream {event_stream} version {event_version}, but the "
                f"chain recorded stream {stream} version {version} there",
            )
        prev_hash = as_bytes(c[4])
        if prev_hash != self.last_hash:
            return b"", self._broken_global_link(n, stream, version, prev_hash)
        stream_prev = as_bytes(c[3])
        topic = str(e[3])
        state = as_bytes(e[4])
        digest = record_digest(n, stream_id, version, topic, state)
        current = link_hash(prev_hash, stream_prev, digest)
        if current != as_bytes(c[5]):
            if self._skipped_by_next(n):
                return b"", self._inserted(n, stream, version)
            return b"", self._altered(n, stream, version, topic, state)
        problem = self._stream_link(n, stream, version, stream_prev, c[6], c[7])
        if problem is not None:
            if self._skipped_by_next(n):
                return b"", self._inserted(n, stream, version)
            return b"", problem
        self.before_last_hash = self.last_hash
        self.before_last_position = self.last_position
        self.last_hash = current
        self.last_position = n
        self.last_stream = stream
        self.last_version = version
        self.records += 1
        return current, None

    def _stream_link(
        self,
        n: int,
        stream: str,
        version: int,
        stream_prev: bytes,
        pred_id: Any,
        pred_hash: Any,
    ) -> ChainBreak | None:
        if version == 1:
            if stream_prev != GENESIS:
                return self.broken(
                    BreakKind.OUT_OF_ORDER,
                    n,
                    stream,
                    version,
                    "the first version of a stream links to a predecessor",
                )
            return None
        if pred_id is None:
            return self.broken(
                BreakKind.RECORD_MISSING,
                n,
                stream,
                version - 1,
                f"stream {stream} version {version - 1} (before position {n}) is missing "
                "from the chain",
            )
        if int(pred_id) >= n:
            return self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                stream,
                version,
                f"version {version} is stored at position {n}, before version {version - 1} "
                f"(position {int(pred_id)})",
            )
        if as_bytes(pred_hash) != stream_prev:
            return self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                stream,
                version,
                f"version {version}'s stream link does not point to version {version - 1} "
                f"(position {int(pred_id)})",
            )
        return None

    # --- diagnosis (only ever runs once, on the first failure) ----------------------------

    def _skipped_by_next(self, n: int, *, at_end: bool = False) -> bool:
        """Does the chain run past position ``n`` (the next record links to the one before)?

        ``at_end``: the answer when no chain record follows ``n``.
        """
        with self.db.snapshot() as tx:
            nxt = tx.fetchone(
                f"SELECT prev_hash FROM {self.tables.chain} "
                "WHERE notification_id > ? ORDER BY notification_id LIMIT 1",
                (n,),
            )
        return at_end if nxt is None else as_bytes(nxt[0]) == self.last_hash

    def _inserted(self, n: int, stream: str, version: int) -> ChainBreak:
        return self.broken(
            BreakKind.RECORD_INSERTED,
            n,
            stream,
            version,
            f"an event (stream {stream} version {version}) is stored at position {n} "
            "that the chain never contained: the chain runs past it intact",
        )

    def _without_chain_row(self, n: int, e: EventRow) -> ChainBreak:
        stream = stream_str(e[1])
        version = int(e[2])
        if self._skipped_by_next(n, at_end=True):
            return self._inserted(n, stream, version)
        return self.broken(
            BreakKind.CHAIN_ROW_MISSING,
            n,
            stream,
            version,
            f"the chain record of position {n} (stream {stream} version {version}) "
            "has been removed",
        )

    def _broken_global_link(
        self, n: int, stream: str, version: int, prev_hash: bytes
    ) -> ChainBreak:
        if self.before_last_hash is not None and prev_hash == self.before_last_hash:
            # The chain skips the record before this one: it was slotted in afterwards
            # (with a chain row computed from its neighbours, but this link was not redone).
            return ChainBreak(
                EVENTS,
                BreakKind.RECORD_INSERTED,
                self.last_position,
                self.last_stream,
                self.last_version,
                f"the record at position {self.last_position} was inserted: the next record "
                f"(position {n}) links past it",
                self.before_last_position,
            )
        with self.db.snapshot() as tx:
            elsewhere = tx.fetchone(
                f"SELECT notification_id FROM {self.tables.chain} WHERE hash = ?", (prev_hash,)
            )
            successor = tx.fetchone(
                f"SELECT originator_id, originator_version FROM {self.tables.chain} "
                "WHERE stream_prev_hash = ?",
                (prev_hash,),
            )
        if elsewhere is not None:
            return self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                stream,
                version,
                f"position {n} links back to position {int(elsewhere[0])}, not to the record "
                f"before it (position {self.last_position})",
            )
        gone_stream: str | None = None
        gone_version: int | None = None
        missing = "a record"
        if successor is not None:
            gone_stream, gone_version = str(successor[0]), int(successor[1]) - 1
            missing = f"stream {gone_stream} version {gone_version}"
        return self.broken(
            BreakKind.RECORD_MISSING,
            n,
            gone_stream,
            gone_version,
            f"{missing} was removed between positions {self.last_position} and {n}: "
            f"position {n} links to a record no longer in the log",
        )

    def _altered(self, n: int, stream: str, version: int, topic: str, state: bytes) -> ChainBreak:
        ids = self.tables.id_column
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                "SELECT c.notification_id, c.originator_version, c.stream_prev_hash, "
                f"c.prev_hash, c.hash, e.topic FROM {self.tables.chain} c "
                f"LEFT JOIN {self.tables.events} e ON e.{ids} = c.notification_id "
                "WHERE c.originator_id = ?",
                (stream,),
            )
        for row in rows:
            position, other = int(row[0]), int(row[1])
            if position == n:
                continue
            for candidate in {topic, str(row[5])}:
                digest = record_digest(position, stream, other, candidate, state)
                if link_hash(as_bytes(row[3]), as_bytes(row[2]), digest) == as_bytes(row[4]):
                    return self.broken(
                        BreakKind.OUT_OF_ORDER,
                        n,
                        stream,
                        version,
                        f"position {n} (version {version}) holds the content the chain "
                        f"recorded for version {other} at position {position}",
                    )
        return self.broken(
            BreakKind.CONTENT_ALTERED,
            n,
            stream,
            version,
            f"the stored event at position {n} (stream {stream} version {version}) does not "
            "hash to its chain record: its content was altered",
        )


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
    started = time.perf_counter()
    walk = _Walk(db, tables, anchor)
    upper = _upper_bound(db, tables) if upto is None else upto
    pending = sorted((p for p in pins if p.position > walk.start), key=lambda p: p.position)
    pin_index = 0
    pins_checked = 0
    first_break: ChainBreak | None = None
    rows = _merged(_pages(db, tables, walk.start, upper, page))
    for n, event_row, chain_row in rows:
        current, first_break = walk.check(n, event_row, chain_row)
        if first_break is not None:
            break
        if pin_index < len(pending) and pending[pin_index].position < n:
            pin = pending[pin_index]
            first_break = walk.broken(
                BreakKind.RECORD_MISSING,
                pin.position,
                None,
                None,
                f"checkpoint {pin.label} was signed at position {pin.position}, "
                "which is no longer in the log",
            )
            break
        while pin_index < len(pending) and pending[pin_index].position == n:
            pin = pending[pin_index]
            pin_index += 1
            pins_checked += 1
            if pin.hash != current:
                first_break = walk.broken(
                    BreakKind.CHECKPOINT_MISMATCH,
                    n,
                    walk.last_stream,
                    walk.last_version,
                    f"the recomputed chain at position {n} differs from the head signed in "
                    f"checkpoint {pin.label}: the log up to there was rewritten",
                )
                break
        if first_break is not None:
            break
    if first_break is None and pin_index < len(pending):
        pin = pending[pin_index]
        first_break = walk.broken(
            BreakKind.RECORD_MISSING,
            pin.position,
            None,
            None,
            f"the log ends at position {walk.last_position} but checkpoint {pin.label} was "
            f"signed at position {pin.position}: records were removed from the end",
        )
    return ChainCheck(
        log=EVENTS,
        records=walk.records,
        first_position=walk.start,
        head_position=walk.last_position,
        head_hash=walk.last_hash,
        pins_checked=pins_checked,
        first_break=first_break,
        seconds=time.perf_counter() - started,
    )
