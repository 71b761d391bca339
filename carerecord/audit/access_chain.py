"""Checking the access log's hash chain, record by record.

Access records are chained globally (``position``, contiguous from 1 by
construction) and per client (``client_seq``); each record's hash covers its
canonical JSON (``record``). The columns beside it (who, which client, the response
hash, ...) are indexed copies for queries, so the check also proves each copy equals
the hashed record: editing a column to hide who looked is tampering too.
"""

from __future__ import annotations

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
from carerecord.audit.walk import ChainLog, Link, Walker, walk_chain
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


class _AccessLog(ChainLog):
    """The access log: one table, its indexed columns copies of the hashed record."""

    log = ACCESS

    def __init__(self, db: Database) -> None:
        self.db = db

    def name(self, stream: str | None, version: int) -> str:
        return f"client record number {version}"

    def head(self) -> int:
        return access_head(self.db)[0]

    def links(self, walk: Walker, upto: int, page: int) -> Iterator[Link | ChainBreak]:
        for row in _rows(self.db, walk.last_position, upto, page):
            yield self._link(walk, row)

    def _link(self, walk: Walker, row: tuple[Any, ...]) -> Link | ChainBreak:
        n = int(row[0])
        client = None if row[1] is None else str(row[1])
        seq = int(row[2])
        if n != walk.last_position + 1:
            return walk.broken(
                BreakKind.RECORD_MISSING,
                walk.last_position + 1,
                None,
                None,
                f"positions {walk.last_position + 1} to {n - 1} are missing "
                "(access log positions are contiguous)",
            )
        record = as_bytes(row[3])
        prev_hash, stream_prev = as_bytes(row[5]), as_bytes(row[4])
        computed = link_hash(prev_hash, stream_prev, access_digest(n, client, seq, record))
        stored = as_bytes(row[6])
        if prev_hash == walk.last_hash and computed == stored:
            copy = _copy_differing(record, client, row)
            if copy is not None:
                return walk.broken(
                    BreakKind.CONTENT_ALTERED,
                    n,
                    client,
                    seq,
                    f"the {copy} column at position {n} differs from the hashed record",
                )
        return Link(
            position=n,
            stream=client,
            version=seq,
            prev_hash=prev_hash,
            stream_prev=stream_prev,
            stored=stored,
            computed=computed,
            predecessor=self._predecessor(client, seq, row[_PRED], row[_PRED + 1]),
            content=record,
        )

    def _predecessor(
        self, client: str | None, seq: int, position: Any, hash_: Any
    ) -> tuple[int, bytes] | None:
        if client is None and seq > 1:
            # Records about no client (lookups) join on NULL, which SQL never matches.
            with self.db.snapshot() as tx:
                found = tx.fetchone(
                    f"SELECT position, hash FROM {ACCESS_TABLE} "
                    "WHERE client_id IS NULL AND client_seq = ?",
                    (seq - 1,),
                )
            position, hash_ = (None, None) if found is None else found
        return None if position is None else (int(position), as_bytes(hash_))

    def next_prev_hash(self, position: int) -> bytes | None:
        with self.db.snapshot() as tx:
            row = tx.fetchone(
                f"SELECT prev_hash FROM {ACCESS_TABLE} WHERE position = ?", (position + 1,)
            )
        return None if row is None else as_bytes(row[0])

    def position_of(self, hash_: bytes) -> int | None:
        with self.db.snapshot() as tx:
            row = tx.fetchone(f"SELECT position FROM {ACCESS_TABLE} WHERE hash = ?", (hash_,))
        return None if row is None else int(row[0])

    def successor_of(self, hash_: bytes) -> tuple[str | None, int] | None:
        with self.db.snapshot() as tx:
            row = tx.fetchone(
                f"SELECT client_id, client_seq FROM {ACCESS_TABLE} WHERE stream_prev_hash = ?",
                (hash_,),
            )
        return None if row is None else (None if row[0] is None else str(row[0]), int(row[1]))

    def placed_elsewhere(self, link: Link) -> tuple[int, int] | None:
        try:
            owner = orjson.loads(link.content).get("client_id")
        except orjson.JSONDecodeError:
            owner = link.stream
        where = "client_id IS NULL" if owner is None else "client_id = ?"
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                f"SELECT position, client_seq, stream_prev_hash, prev_hash, hash "
                f"FROM {ACCESS_TABLE} WHERE {where}",
                () if owner is None else (owner,),
            )
        for row in rows:
            position, other = int(row[0]), int(row[1])
            if position == link.position:
                continue
            digest = access_digest(position, owner, other, link.content)
            if link_hash(as_bytes(row[3]), as_bytes(row[2]), digest) == as_bytes(row[4]):
                return position, other
        return None


def _copy_differing(record: bytes, client: str | None, row: tuple[Any, ...]) -> str | None:
    """The first indexed column whose value differs from the hashed record, if any."""
    data = orjson.loads(record)
    if data.get("client_id") != client:
        return "client id"
    for offset, column in enumerate(_COLUMNS):
        if row[_COPIES + offset] != data.get(column):
            return column
    return None


def check_access_chain(
    db: Database,
    *,
    pins: Sequence[Pin] = (),
    anchor: Anchor | None = None,
    upto: int | None = None,
    page: int = DEFAULT_PAGE,
) -> ChainCheck:
    """Walk the access log from the genesis (or ``anchor``) to ``upto`` (default: its end)."""
    return walk_chain(_AccessLog(db), pins=pins, anchor=anchor, upto=upto, page=page)


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
