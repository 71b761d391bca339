"""Reader of the audience views and the audience feed (what the repository builds on)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from carerecord.db import Tx
from carerecord.slice import EntryState
from projections.audience.keys import AudienceKey
from projections.audience.store import (
    META_COLUMNS,
    entry_from_row,
    unpack_entries,
    unpack_feed,
)
from projections.engine.reading import PostgresReader, SQLiteReader, ViewReader
from projections.engine.rows import chunks as chunks_of

_ENTRY_SELECT = ", ".join(f"e.{c}" for c in META_COLUMNS[1:]) + ", e.text"
FEED_READ_CHUNKS = 8
"""Feed rows fetched per query while a page of the feed is gathered."""
_NO_ENTRY = ", ".join(["NULL"] * len(META_COLUMNS))  # as many as _ENTRY_SELECT's columns
_CLIENT_VIEW = (
    "SELECT 0, s.value, c.client_no, c.version, v.entries, " + _NO_ENTRY + " "
    "FROM (SELECT 1 AS one) o "
    "LEFT JOIN av_state s ON s.name = 'protocol_version' "
    "LEFT JOIN av_clients c ON c.client_id = ? "
    "LEFT JOIN av_audiences a ON a.key = ? "
    "LEFT JOIN av_visible v ON v.client_no = c.client_no AND v.audience_id = a.audience_id "
    "UNION ALL "
    "SELECT 1, NULL, NULL, NULL, NULL, " + _ENTRY_SELECT + " "
    "FROM av_entries e JOIN av_clients c ON c.client_no = e.client_no "
    "JOIN av_audiences a ON a.key = ? "
    "JOIN av_visible v ON v.client_no = e.client_no AND v.audience_id = a.audience_id "
    "WHERE c.client_id = ?"
)
"""The head row (0) and, if the audience's view of the client exists, its entry rows (1).
The audience is found by its key in the same statement: looked up separately (in another
snapshot) it could be missing while the client's version is already past the projection
of the grant or relationship that created it, and the read would wrongly take an empty
record for a built one."""


def _entry(row: Sequence[Any]) -> tuple[int, EntryState]:
    """``(entry_no, state)`` from ``_ENTRY_SELECT`` columns."""
    return int(row[0]), entry_from_row(row[1:-1], text=str(row[-1]))


@dataclass(frozen=True)
class ViewSnapshot:
    """One audience's view of one client, read in one snapshot."""

    client_no: int | None
    view_version: int
    protocol_version: int | None
    entries: tuple[EntryState, ...]
    materialised: bool = True
    """False when the projection has not (yet) built this audience's view of the client,
    e.g. just after a care relationship or break-glass grant gave the caller standing."""


@dataclass(frozen=True)
class FeedRow:
    seq: int
    position: int
    client_no: int
    client_id: str
    kind: str
    entry_no: int | None
    subject: str | None


class ClientEntries(NamedTuple):
    """Some of a client's entries as the audience views hold them (``client_entries``)."""

    view_version: int
    """The client's stream version the views reflect."""
    entries: dict[int, EntryState]
    """The entries' current state, by entry number."""
    visible: set[int]
    """Which of the entry numbers asked for the audience sees now."""


class AudienceViewReader(ViewReader):
    """Reads ``av_*``. Audience ids never change once given, so they are cached."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ids: dict[AudienceKey, int] = {}
        self._lock = threading.Lock()

    def audience_id(self, key: AudienceKey, tx: Tx | None = None) -> int | None:
        with self._lock:
            found = self._ids.get(key)
        if found is not None:
            return found
        if tx is None:
            with self.db.snapshot() as snap:
                value = snap.scalar(
                    "SELECT audience_id FROM av_audiences WHERE key = ?", (key.text,)
                )
        else:
            value = tx.scalar("SELECT audience_id FROM av_audiences WHERE key = ?", (key.text,))
        if value is None:
            return None
        with self._lock:
            self._ids[key] = int(value)
        return int(value)

    def forget(self) -> None:
        """Drop cached audience ids (after the views were rebuilt)."""
        with self._lock:
            self._ids.clear()

    @staticmethod
    def _protocol_version(tx: Tx) -> int | None:
        value = tx.scalar("SELECT value FROM av_state WHERE name = 'protocol_version'")
        return None if value is None else int(bytes(value).decode())

    def protocol_version(self) -> int | None:
        with self.db.snapshot() as tx:
            return self._protocol_version(tx)

    def client_view(self, client_id: str, key: AudienceKey) -> ViewSnapshot:
        """The entries ``key`` may see of the client (as decided at projection time).

        One statement (so one snapshot, and one round trip on PostgreSQL): a head row with
        the protocol the views were decided under, the client's view version and the
        audience's entry set (each may be missing: LEFT JOINs), then - only if that view
        exists - the client's entry rows, of which those in the set are decoded.
        """
        rows = self.db.read(_CLIENT_VIEW, (client_id, key.text, key.text, client_id))
        head = next(r for r in rows if r[0] == 0)  # the one-row select always yields it
        _, state, client_no, version, packed = head[:5]
        protocol_version = None if state is None else int(bytes(state).decode())
        if client_no is None:
            return ViewSnapshot(None, 0, protocol_version, (), materialised=False)
        client_no, version = int(client_no), int(version)
        seen = None if packed is None else frozenset(unpack_entries(packed))
        if not seen:
            return ViewSnapshot(
                client_no, version, protocol_version, (), materialised=seen is not None
            )
        entries = (_entry(r[5:])[1] for r in rows if r[0] == 1 and int(r[5]) in seen)
        return ViewSnapshot(
            client_no, version, protocol_version, tuple(s for s in entries if not s.in_error)
        )

    @staticmethod
    def _view_entries(tx: Tx, client_no: int, audience: int | None) -> frozenset[int] | None:
        """The entry numbers ``audience`` sees of the client; None when the projection has
        not materialised that audience for the client (every materialised audience has a
        row, possibly empty)."""
        if audience is None:
            return None
        value = tx.scalar(
            "SELECT entries FROM av_visible WHERE client_no = ? AND audience_id = ?",
            (client_no, audience),
        )
        return None if value is None else frozenset(unpack_entries(value))

    @classmethod
    def _seen(cls, tx: Tx, client_no: int, audience: int | None) -> frozenset[int]:
        return cls._view_entries(tx, client_no, audience) or frozenset()

    def entry(
        self, client_id: str, entry_id: str, key: AudienceKey
    ) -> tuple[EntryState | None, bool]:
        """One entry of the client (whatever its visibility) and whether ``key`` sees it."""
        with self.db.snapshot() as tx:
            row = tx.fetchone(
                f"SELECT e.client_no, {_ENTRY_SELECT} FROM av_entries e JOIN av_clients c "
                "ON c.client_no = e.client_no WHERE c.client_id = ? AND e.entry_id = ?",
                (client_id, entry_id),
            )
            if row is None:
                return None, False
            entry_no, state = _entry(row[1:])
            seen = self._seen(tx, int(row[0]), self.audience_id(key, tx))
        return state, entry_no in seen

    def feed_rows(self, audience_id: int, after: int, limit: int) -> list[FeedRow]:
        """Up to ``limit`` feed items of the audience with sequence numbers above ``after``,
        in order (read chunk by chunk, with their clients' ids, in one snapshot)."""
        found: list[tuple[int, int, int, str, int | None, str | None]] = []
        with self.db.snapshot() as tx:
            cursor = after
            while len(found) < limit:
                chunks = tx.fetchall(
                    "SELECT last_seq, items FROM av_feed WHERE audience_id = ? AND last_seq > ? "
                    "ORDER BY last_seq LIMIT ?",
                    (audience_id, cursor, FEED_READ_CHUNKS),
                )
                for last_seq, items in chunks:
                    found.extend(i for i in unpack_feed(items) if i[0] > after)
                    cursor = int(last_seq)
                    if len(found) >= limit:
                        break
                if len(chunks) < FEED_READ_CHUNKS:
                    break
            del found[limit:]
            clients = sorted({item[2] for item in found})
            ids: dict[int, str] = {}
            for part in chunks_of(clients):
                cond, params = self.any_of("client_no", part)
                ids.update(
                    (int(no), str(cid))
                    for no, cid in tx.fetchall(
                        f"SELECT client_no, client_id FROM av_clients WHERE {cond}", params
                    )
                )
        return [
            FeedRow(seq, position, client_no, ids[client_no], kind, entry_no, subject)
            for seq, position, client_no, kind, entry_no, subject in found
        ]

    def client_entries(
        self, client_no: int, entry_nos: Sequence[int], audience_id: int
    ) -> ClientEntries:
        """The client's view version, the current state of some entries, and which of
        them the audience sees now."""
        cond, params = self.any_of("e.entry_no", sorted(set(entry_nos)))
        with self.db.snapshot() as tx:
            version = tx.scalar("SELECT version FROM av_clients WHERE client_no = ?", (client_no,))
            rows = tx.fetchall(
                f"SELECT {_ENTRY_SELECT} FROM av_entries e WHERE e.client_no = ? AND {cond}",
                (client_no, *params),
            )
            seen = self._seen(tx, client_no, audience_id)
        return ClientEntries(
            int(version or 0), dict(_entry(r) for r in rows), set(seen & set(entry_nos))
        )


class SQLiteAudienceViewReader(SQLiteReader, AudienceViewReader):
    pass


class PostgresAudienceViewReader(PostgresReader, AudienceViewReader):
    pass
