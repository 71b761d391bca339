"""Checking the access log's hash chain, record by record.

Access records are chained globally (``position``, contiguous from 1 by
construction) and per client (``client_seq``); each record's hash covers its
canonical JSON (``record``). The columns beside it (who, which client, the response
hash, ...) are indexed copies for queries, so the check also proves each copy equals
the hashed record: editing a column to hide who looked is tampering too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from carerecord.access_log import AccessRecord, access_digest
from carerecord.audit.chains import (
    ACCESS,
    ACCESS_TABLE,
    DEFAULT_PAGE,
    Anchor,
    BreakKind,
    ChainBreak,
    ChainCheck,
    Pin,
    as_bytes,
)
from carerecord.chain import GENESIS, link_hash
from carerecord.db import Database

_COLUMNS = (
    "access_id",
    "at",
    "request_id",
    "action",
    "viewer_kind",
    "practitioner_id",
    "agency_id",
    "profession",
    "purpose",
    "basis",
    "response_hash",
)
# Row layout: position, client_id, client_seq, record, stream_prev, prev, hash,
# the copied columns, then the client predecessor's position and hash.
_COPIES = 7
_PRED = _COPIES + len(_COLUMNS)


def access_head(db: Database) -> tuple[int, bytes]:
    """The access log's head: its last (position, hash)."""
    with db.snapshot() as tx:
        row = tx.fetchone(
            f"SELECT position, hash FROM {ACCESS_TABLE} ORDER BY position DESC LIMIT 1"
        )
    return (0, GENESIS) if row is None else (int(row[0]), as_bytes(row[1]))


def _rows(db: Database, after: int, upto: int, page: int) -> Iterator[tuple[Any, ...]]:
    copies = ", ".join(f"a.{c}" for c in _COLUMNS)
    sql = (
        "SELECT a.position, a.client_id, a.client_seq, a.record, a.stream_prev_hash, "
        f"a.prev_hash, a.hash, {copies}, p.position, p.hash "
        f"FROM {ACCESS_TABLE} a LEFT JOIN {ACCESS_TABLE} p "
        "ON p.client_id = a.client_id AND p.client_seq = a.client_seq - 1 "
        "WHERE a.position > ? AND a.position <= ? ORDER BY a.position"
    )
    # Position ranges rather than LIMIT (positions are contiguous): each query touches
    # only its range whatever the planner estimates.
    while after < upto:
        end = min(after + page, upto)
        with db.snapshot() as tx:
            rows = tx.fetchall(sql, (after, end))
        yield from rows
        after = end


class _Walk:
    def __init__(self, db: Database, anchor: Anchor | None) -> None:
        self.db = db
        self.start = 0 if anchor is None else anchor.position
        self.last_position = self.start
        self.last_hash = GENESIS if anchor is None else anchor.hash
        self.before_last_hash: bytes | None = None
        self.last_client: str | None = None
        self.last_seq: int | None = None
        self.records = 0

    def broken(
        self, kind: BreakKind, position: int, client: str | None, seq: int | None, detail: str
    ) -> ChainBreak:
        return ChainBreak(ACCESS, kind, position, client, seq, detail, self.last_position)

    def check(self, row: tuple[Any, ...]) -> tuple[bytes, ChainBreak | None]:
        n = int(row[0])
        client = None if row[1] is None else str(row[1])
        seq = int(row[2])
        if n != self.last_position + 1:
            return b"", self.broken(
                BreakKind.RECORD_MISSING,
                self.last_position + 1,
                None,
                None,
                f"positions {self.last_position + 1} to {n - 1} are missing "
                "(access log positions are contiguous)",
            )
        record = as_bytes(row[3])
        stream_prev = as_bytes(row[4])
        prev_hash = as_bytes(row[5])
        if prev_hash != self.last_hash:
            return b"", self._broken_global_link(n, client, seq, prev_hash)
        current = link_hash(prev_hash, stream_prev, access_digest(n, client, seq, record))
        if current != as_bytes(row[6]):
            if self._skipped_by_next(n):
                return b"", self._inserted(n, client, seq)
            return b"", self._altered(n, client, seq, record)
        problem = self._copies_agree(n, client, seq, record, row)
        if problem is None:
            problem = self._client_link(n, client, seq, stream_prev, row[_PRED], row[_PRED + 1])
            if problem is not None and self._skipped_by_next(n):
                return b"", self._inserted(n, client, seq)
        if problem is not None:
            return b"", problem
        self.before_last_hash = self.last_hash
        self.last_hash = current
        self.last_position = n
        self.last_client = client
        self.last_seq = seq
        self.records += 1
        return current, None

    def _skipped_by_next(self, n: int) -> bool:
        """Does the chain run past position ``n`` (the next record links to the one before)?"""
        with self.db.snapshot() as tx:
            nxt = tx.fetchone(f"SELECT prev_hash FROM {ACCESS_TABLE} WHERE position = ?", (n + 1,))
        return nxt is not None and as_bytes(nxt[0]) == self.last_hash

    def _inserted(self, n: int, client: str | None, seq: int) -> ChainBreak:
        return self.broken(
            BreakKind.RECORD_INSERTED,
            n,
            client,
            seq,
            f"an access record is stored at position {n} that the chain never contained: "
            "the next record links past it",
        )

    def _copies_agree(
        self, n: int, client: str | None, seq: int, record: bytes, row: tuple[Any, ...]
    ) -> ChainBreak | None:
        data = orjson.loads(record)
        if data.get("client_id") != client:
            return self.broken(
                BreakKind.CONTENT_ALTERED,
                n,
                client,
                seq,
                f"the client id column at position {n} differs from the hashed record",
            )
        for offset, column in enumerate(_COLUMNS):
            if row[_COPIES + offset] != data.get(column):
                return self.broken(
                    BreakKind.CONTENT_ALTERED,
                    n,
                    client,
                    seq,
                    f"the {column} column at position {n} differs from the hashed record",
                )
        return None

    def _client_link(
        self, n: int, client: str | None, seq: int, stream_prev: bytes, pred_pos: Any, pred: Any
    ) -> ChainBreak | None:
        if seq == 1:
            if stream_prev != GENESIS:
                return self.broken(
                    BreakKind.OUT_OF_ORDER, n, client, seq, "a client's first record has a link"
                )
            return None
        if client is None:
            # Records about no client (lookups) join on NULL, which SQL never matches.
            with self.db.snapshot() as tx:
                found = tx.fetchone(
                    f"SELECT position, hash FROM {ACCESS_TABLE} "
                    "WHERE client_id IS NULL AND client_seq = ?",
                    (seq - 1,),
                )
            pred_pos, pred = (None, None) if found is None else found
        if pred_pos is None:
            return self.broken(
                BreakKind.RECORD_MISSING,
                n,
                client,
                seq - 1,
                f"the client's record number {seq - 1} (before position {n}) is missing",
            )
        if int(pred_pos) >= n or as_bytes(pred) != stream_prev:
            return self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                client,
                seq,
                f"the client's record number {seq} (position {n}) does not follow number "
                f"{seq - 1} (position {int(pred_pos)})",
            )
        return None

    def _broken_global_link(
        self, n: int, client: str | None, seq: int, prev_hash: bytes
    ) -> ChainBreak:
        if self.before_last_hash is not None and prev_hash == self.before_last_hash:
            return ChainBreak(
                ACCESS,
                BreakKind.RECORD_INSERTED,
                self.last_position,
                self.last_client,
                self.last_seq,
                f"the record at position {self.last_position} was inserted: the next record "
                f"(position {n}) links past it",
                self.last_position - 1,
            )
        with self.db.snapshot() as tx:
            elsewhere = tx.fetchone(
                f"SELECT position FROM {ACCESS_TABLE} WHERE hash = ?", (prev_hash,)
            )
        if elsewhere is not None:
            return self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                client,
                seq,
                f"position {n} links back to position {int(elsewhere[0])}, not to the record "
                f"before it (position {self.last_position})",
            )
        return self.broken(
            BreakKind.RECORD_MISSING,
            n,
            client,
            seq,
            f"a record was removed before position {n} and the positions after it renumbered: "
            f"position {n} links to a record no longer in the log",
        )

    def _altered(self, n: int, client: str | None, seq: int, record: bytes) -> ChainBreak:
        try:
            owner = orjson.loads(record).get("client_id")
        except orjson.JSONDecodeError:
            owner = client
        where = "client_id IS NULL" if owner is None else "client_id = ?"
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                f"SELECT position, client_seq, stream_prev_hash, prev_hash, hash "
                f"FROM {ACCESS_TABLE} WHERE {where}",
                () if owner is None else (owner,),
            )
        for row in rows:
            position, other = int(row[0]), int(row[1])
            if position == n:
                continue
            digest = access_digest(position, owner, other, record)
            if link_hash(as_bytes(row[3]), as_bytes(row[2]), digest) == as_bytes(row[4]):
                return self.broken(
                    BreakKind.OUT_OF_ORDER,
                    n,
                    client,
                    seq,
                    f"position {n} holds the record the chain placed at position {position}",
                )
        return self.broken(
            BreakKind.CONTENT_ALTERED,
            n,
            client,
            seq,
            f"the access record at position {n} does not hash to its chain hash: "
            "its content was altered",
        )


def check_access_chain(
    db: Database,
    *,
    pins: Sequence[Pin] = (),
    anchor: Anchor | None = None,
    upto: int | None = None,
    page: int = DEFAULT_PAGE,
) -> ChainCheck:
    """Walk the access log from the genesis (or ``anchor``) to ``upto`` (default: its end)."""
    started = time.perf_counter()
    walk = _Walk(db, anchor)
    upper = access_head(db)[0] if upto is None else upto
    pending = sorted((p for p in pins if p.position > walk.start), key=lambda p: p.position)
    pin_index = 0
    pins_checked = 0
    first_break: ChainBreak | None = None
    for row in _rows(db, walk.start, upper, page):
        current, first_break = walk.check(row)
        if first_break is not None:
            break
        while pin_index < len(pending) and pending[pin_index].position == walk.last_position:
            pin = pending[pin_index]
            pin_index += 1
            pins_checked += 1
            if pin.hash != current:
                first_break = walk.broken(
                    BreakKind.CHECKPOINT_MISMATCH,
                    walk.last_position,
                    walk.last_client,
                    walk.last_seq,
                    f"the recomputed chain at position {walk.last_position} differs from the "
                    f"head signed in checkpoint {pin.label}: the log up to there was rewritten",
                )
                break
        if first_break is not None:
            break
    if first_break is None and pin_index < len(pending):
        pin = pending[pin_index]
        first_break = walk.broken(
            BreakKind.RECORD_MISSING,
            walk.last_position + 1,
            None,
            None,
            f"the log ends at position {walk.last_position} but checkpoint {pin.label} was "
            f"signed at position {pin.position}: records were removed from the end",
        )
    return ChainCheck(
        log=ACCESS,
        records=walk.records,
        first_position=walk.start,
        head_position=walk.last_position,
        head_hash=walk.last_hash,
        pins_checked=pins_checked,
        first_break=first_break,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class FoundAccess:
    """An access record looked up by its id, and whether its own chain hash checks out."""

    position: int
    record: AccessRecord
    intact: bool


def find_access(db: Database, access_id: str) -> FoundAccess | None:
    """The access record with this id, if any (its own link is checked, not the whole log)."""
    with db.snapshot() as tx:
        row = tx.fetchone(
            f"SELECT position, client_id, client_seq, record, stream_prev_hash, prev_hash, hash "
            f"FROM {ACCESS_TABLE} WHERE access_id = ?",
            (access_id,),
        )
    if row is None:
        return None
    position, client, seq, body = int(row[0]), row[1], int(row[2]), as_bytes(row[3])
    digest = access_digest(position, None if client is None else str(client), seq, body)
    intact = link_hash(as_bytes(row[5]), as_bytes(row[4]), digest) == as_bytes(row[6])
    return FoundAccess(position, AccessRecord.from_json(orjson.loads(body)), intact)
