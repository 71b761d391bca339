"""Audience views, storage: loading working states and writing a batch's changes.

One interface, two implementations: they differ in how rows are bulk-inserted
(``executemany`` on SQLite, ``COPY`` on PostgreSQL); everything else is the same SQL.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from carerecord.db import Database, Tx
from carerecord.protocol import parse_protocol
from carerecord.slice import EntryState
from carerecord.values import (
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    Labels,
    Restriction,
)
from carerecord.vocab import (
    LAWFUL_BASES,
    SECTORS,
    SENSITIVITIES,
    Role,
    Sector,
)
from projections.audience.core import Changes, ClientWork, Context
from projections.audience.keys import AudienceKey, Staff
from projections.engine.rows import chunks, placeholders

ENTRY_COLUMNS = (
    "client_no",
    "entry_no",
    "entry_id",
    "kind",
    "version",
    "agency_id",
    "sector",
    "author_id",
    "profession",
    "category",
    "heading",
    "sensitivity",
    "lawful_basis",
    "occurred_at",
    "exemption",
    "recorded_at",
    "text",
    "amended",
    "amended_at",
    "in_error",
    "alert_kind",
    "severity",
    "resolved",
)
META_COLUMNS = tuple(c for c in ENTRY_COLUMNS if c != "text")
FEED_COLUMNS = ("audience_id", "last_seq", "first_seq", "items")
FEED_CHUNK = 256
"""Most feed items one ``av_feed`` row holds."""


def pack_entries(entry_nos: Iterable[int]) -> bytes:
    """A view's entry numbers as stored: sorted unsigned 32-bit little-endian integers."""
    ordered = sorted(entry_nos)
    return struct.pack(f"<{len(ordered)}I", *ordered)


def unpack_entries(data: Any) -> tuple[int, ...]:
    raw = bytes(data)
    return struct.unpack(f"<{len(raw) // 4}I", raw)


FeedItemRow = tuple[int, int, int, str, int | None, str | None]
"""One item as stored in a chunk: ``(seq, position, client_no, kind, entry_no, subject)``."""


def feed_chunks(
    feed: Sequence[tuple[int, int, int, int, str, int | None, str | None]],
    tails: dict[int, list[FeedItemRow]] | None = None,
) -> list[tuple[int, int, int, bytes]]:
    """A batch's feed items - ``(audience, seq, position, client_no, kind, entry_no,
    subject)`` in the order given, sequence numbers rising per audience - as ``av_feed``
    rows: per audience, runs of up to ``FEED_CHUNK`` items, in key order. ``tails``: per
    audience, the items of its last stored row when that row had room (taken out by the
    caller): they come first, so the rows are filled to ``FEED_CHUNK`` however the items
    were split into batches."""
    by_audience: dict[int, list[FeedItemRow]] = {
        a: list(items) for a, items in (tails or {}).items()
    }
    for audience, seq, position, client_no, kind, entry_no, subject in feed:
        by_audience.setdefault(audience, []).append(
            (seq, position, client_no, kind, entry_no, subject)
        )
    rows = []
    for audience in sorted(by_audience):
        items = by_audience[audience]
        for start in range(0, len(items), FEED_CHUNK):
            part = items[start : start + FEED_CHUNK]
            rows.append((audience, part[-1][0], part[0][0], orjson.dumps(part)))
    return rows


def unpack_feed(data: Any) -> list[FeedItemRow]:
    """The items of one ``av_feed`` row: ``(seq, position, client_no, kind, entry_no,
    subject)``."""
    return [(a, b, c, d, e, f) for a, b, c, d, e, f in orjson.loads(bytes(data))]


def entry_row(client_no: int, entry_no: int, e: EntryState) -> tuple[Any, ...]:
    lb = e.labels
    return (
        client_no, entry_no, lb.entry_id, e.kind, e.version, lb.agency_id, lb.sector.value,
        lb.author_id, lb.profession, lb.category, lb.heading, lb.sensitivity.value,
        lb.lawful_basis.value, lb.occurred_at.isoformat(), lb.subject_access_exemption,
        e.recorded_at.isoformat(), e.text, int(e.amended),
        None if e.amended_at is None else e.amended_at.isoformat(), int(e.in_error),
        e.alert_kind, e.severity, int(e.resolved),
    )  # fmt: skip


def entry_from_row(row: Sequence[Any], text: str = "") -> EntryState:
    """An ``EntryState`` from the columns ``ENTRY_COLUMNS[2:]`` minus text (ids first)."""
    (entry_id, kind, version, agency, sector, author, profession, category, heading,
     sensitivity, basis, occurred, exemption, recorded, amended, amended_at, in_error,
     alert_kind, severity, resolved) = row  # fmt: skip
    return EntryState(
        labels=Labels(
            entry_id=entry_id,
            agency_id=agency,
            sector=SECTORS[sector],
            author_id=author,
            profession=profession,
            category=category,
            heading=heading,
            sensitivity=SENSITIVITIES[sensitivity],
            lawful_basis=LAWFUL_BASES[basis],
            occurred_at=datetime.fromisoformat(occurred),
            subject_access_exemption=exemption,
        ),
        kind=kind,
        text=text,
        version=int(version),
        recorded_at=datetime.fromisoformat(recorded),
        amended=bool(amended),
        amended_at=None if amended_at is None else datetime.fromisoformat(amended_at),
        in_error=bool(in_error),
        alert_kind=alert_kind,
        severity=severity,
        resolved=bool(resolved),
    )


def encode_state(work: ClientWork) -> bytes:
    return orjson.dumps(
        {
            "c": [c.to_json() for c in work.consents.values()],
            "r": [r.to_json() for r in work.restrictions.values()],
            "rel": [r.to_json() for r in work.relationships.values()],
            "g": [g.to_json() for g in work.grants.values()],
            "ref": {k: list(v) for k, v in work.referrals.items()},
        }
    )


def decode_state(work: ClientWork, data: bytes) -> None:
    state = orjson.loads(data)
    work.consents = {c.consent_id: c for c in map(ConsentDecision.from_json, state["c"])}
    work.restrictions = {r.restriction_id: r for r in map(Restriction.from_json, state["r"])}
    work.relationships = {
        r.relationship_id: r for r in map(CareRelationship.from_json, state["rel"])
    }
    work.grants = {g.grant_id: g for g in map(BreakGlassGrant.from_json, state["g"])}
    work.referrals = {k: (v[0], v[1]) for k, v in state["ref"].items()}


class AudienceStore(ABC):
    """Reads and writes the ``av_*`` tables for the audience-views projection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @abstractmethod
    def insert(self, tx: Tx, table: str, columns: Sequence[str], rows: list[Any]) -> None:
        """Bulk-insert rows."""

    @abstractmethod
    def update(self, tx: Tx, table: str, columns: Sequence[str], key: str, rows: list[Any]) -> None:
        """Set ``columns`` of the rows whose ``key`` is given: each row is the new values
        followed by the key."""

    @abstractmethod
    def upsert(
        self, tx: Tx, table: str, keys: Sequence[str], columns: Sequence[str], rows: list[Any]
    ) -> None:
        """Insert rows (``keys`` then ``columns``), replacing ``columns`` where the keys
        exist."""

    # --- loading -----------------------------------------------------------------------

    def load_context(self, tx: Tx) -> tuple[Context, int]:
        """The decision context and the next client number."""
        ctx = Context()
        for audience_id, key, seq in tx.fetchall(
            "SELECT audience_id, key, feed_seq FROM av_audiences"
        ):
            parsed = AudienceKey.parse(str(key))
            ctx.audience_ids[parsed] = int(audience_id)
            ctx.audience_keys[int(audience_id)] = parsed
            ctx.feed_seq[int(audience_id)] = int(seq)
        state: dict[str, Any] = {
            str(k): v for k, v in tx.fetchall("SELECT name, value FROM av_state")
        }
        if "directory" in state:
            directory = orjson.loads(bytes(state["directory"]))
            ctx.sectors = {k: Sector(v) for k, v in directory["sectors"].items()}
            for pid, agency, profession, roles, teams, active in directory["staff"]:
                staff = Staff(
                    pid,
                    agency,
                    profession,
                    frozenset(Role(r) for r in roles),
                    frozenset(teams),
                    bool(active),
                )
                ctx.staff[pid] = staff
                if staff.active:
                    for team in teams:
                        ctx.team_members.setdefault((agency, team), set()).add(pid)
        if "protocol" in state:
            document = orjson.loads(bytes(state["protocol"]))
            ctx.protocol = parse_protocol(document)
            ctx.protocol_document = document
        next_no = int(tx.scalar("SELECT COALESCE(MAX(client_no), 0) FROM av_clients")) + 1
        return ctx, next_no

    def load_clients(self, tx: Tx, column: str, keys: Sequence[Any]) -> list[ClientWork]:
        """Working states by ``client_id`` or ``client_no``: their sharing state, audiences
        and views, but not their entries (not ``full``)."""
        works: dict[int, ClientWork] = {}
        for part in chunks(list(keys)):
            rows = tx.fetchall(
                "SELECT client_no, client_id, version, state FROM av_clients "
                f"WHERE {column} IN ({placeholders(len(part))})",
                tuple(part),
            )
            for no, client_id, version, state in rows:
                work = ClientWork(int(no), str(client_id), int(version))
                decode_state(work, bytes(state))
                works[work.no] = work
        for part in chunks(sorted(works)):
            for no, audience in tx.fetchall(
                "SELECT client_no, audience_id FROM av_client_audiences "
                f"WHERE client_no IN ({placeholders(len(part))})",
                tuple(part),
            ):
                works[int(no)].audiences.add(int(audience))
            for no, audience, entries in tx.fetchall(
                "SELECT client_no, audience_id, entries FROM av_visible "
                f"WHERE client_no IN ({placeholders(len(part))})",
                tuple(part),
            ):
                works[int(no)].visible[int(audience)] = set(unpack_entries(entries))
        return list(works.values())

    def load_full(self, tx: Tx, works: Iterable[ClientWork]) -> None:
        """Load every entry (without text); views were loaded with the working state."""
        by_no = {w.no: w for w in works if not w.full}
        for work in by_no.values():
            work.entries, work.entry_no = {}, {}
        cols = ", ".join(META_COLUMNS)
        for part in chunks(sorted(by_no)):
            marks = placeholders(len(part))
            for row in tx.fetchall(
                f"SELECT {cols} FROM av_entries WHERE client_no IN ({marks})", tuple(part)
            ):
                work = by_no[int(row[0])]
                state = entry_from_row(row[2:])
                work.entries[state.labels.entry_id] = state
                work.entry_no[state.labels.entry_id] = int(row[1])
        for work in by_no.values():
            work.full = True

    def involved_client_nos(
        self, tx: Tx, practitioner_id: str, agency_id: str, teams: Iterable[str]
    ) -> list[int]:
        """Clients with a relationship or grant naming the practitioner or their teams."""
        found = {
            int(r[0])
            for r in tx.fetchall(
                "SELECT client_no FROM av_relationships WHERE practitioner_id = ?",
                (practitioner_id,),
            )
        }
        for team in sorted(teams):
            found.update(
                int(r[0])
                for r in tx.fetchall(
                    "SELECT client_no FROM av_relationships WHERE agency_id = ? AND team_id = ?",
                    (agency_id, team),
                )
            )
        return sorted(found)

    def all_client_nos(self, tx: Tx) -> list[int]:
        return [int(r[0]) for r in tx.fetchall("SELECT client_no FROM av_clients ORDER BY 1")]

    # --- writing -----------------------------------------------------------------------

    def write(self, tx: Tx, ctx: Context, out: Changes, *, context: bool = True) -> None:
        """Write a batch's changes; afterwards memory and tables agree again (``context``:
        also the directory and protocol, which only the end of a batch needs)."""
        new_audiences = set(ctx.new_audiences)
        if new_audiences:
            self.insert(
                tx,
                "av_audiences",
                ("audience_id", "key", "feed_seq"),
                [(a, ctx.audience_keys[a].text, ctx.feed_seq[a]) for a in sorted(new_audiences)],
            )
        seqs = [(ctx.feed_seq[a], a) for a in sorted(ctx.dirty_seq - new_audiences)]
        if seqs:
            self.update(tx, "av_audiences", ("feed_seq",), "audience_id", seqs)
        ctx.new_audiences.clear()
        ctx.dirty_seq.clear()
        self._write_clients(tx, out)
        # Rows go in in key order: B-tree inserts stay local, which matters at millions of rows.
        if out.client_audiences:
            self.insert(
                tx,
                "av_client_audiences",
                ("client_no", "audience_id"),
                sorted(out.client_audiences),
            )
        self._write_relationships(tx, out)
        self._write_entries(tx, out)
        self._write_visible(tx, out)
        if out.feed:
            tails = self._take_feed_tails(tx, out.feed)
            self.insert(tx, "av_feed", FEED_COLUMNS, feed_chunks(out.feed, tails))
        if context:
            self._write_context(tx, ctx)
        out.clear()

    def _take_feed_tails(
        self, tx: Tx, feed: Sequence[tuple[int, int, int, int, str, int | None, str | None]]
    ) -> dict[int, list[FeedItemRow]]:
        """For each audience the batch adds items to, its last stored row if that row has
        room for more (fewer than ``FEED_CHUNK`` items): deleted here, its items returned
        to be written again at the head of the audience's new items. So a worker following
        the log a few events at a time fills its rows as a rebuild does (the same rows,
        not one small row per batch)."""
        first: dict[int, int] = {}
        for audience, seq, *_ in feed:
            first.setdefault(audience, seq)
        keys = sorted((audience, seq - 1) for audience, seq in first.items() if seq > 1)
        tails: dict[int, list[FeedItemRow]] = {}
        for part in chunks(keys, 200):
            cond = " OR ".join(["(audience_id = ? AND last_seq = ?)"] * len(part))
            params = tuple(v for key in part for v in key)
            partial = [
                (int(audience), int(last), items)
                for audience, first_seq, last, items in tx.fetchall(
                    f"SELECT audience_id, first_seq, last_seq, items FROM av_feed WHERE {cond}",
                    params,
                )
                if int(last) - int(first_seq) + 1 < FEED_CHUNK
            ]
            if not partial:
                continue
            for audience, _, items in partial:
                tails[audience] = unpack_feed(items)
            cond = " OR ".join(["(audience_id = ? AND last_seq = ?)"] * len(partial))
            tx.execute(
                f"DELETE FROM av_feed WHERE {cond}",
                tuple(v for audience, last, _ in partial for v in (audience, last)),
            )
        return tails

    def _write_clients(self, tx: Tx, out: Changes) -> None:
        works = [out.clients[n] for n in sorted(out.clients)]
        new = [(w.no, w.client_id, w.version, encode_state(w)) for w in works if w.new]
        if new:
            self.insert(tx, "av_clients", ("client_no", "client_id", "version", "state"), new)
        states = [(w.version, encode_state(w), w.no) for w in works if not w.new and w.state_dirty]
        if states:
            self.update(tx, "av_clients", ("version", "state"), "client_no", states)
        versions = [
            (w.version, w.no) for w in works if not w.new and not w.state_dirty and w.version_dirty
        ]
        if versions:
            self.update(tx, "av_clients", ("version",), "client_no", versions)
        for work in works:
            work.new = work.state_dirty = work.version_dirty = False

    def _write_relationships(self, tx: Tx, out: Changes) -> None:
        gone = [(k,) for k, v in sorted(out.relationships.items()) if v is None]
        if gone:
            tx.executemany("DELETE FROM av_relationships WHERE relationship_id = ?", gone)
        rows = [(k, *v) for k, v in sorted(out.relationships.items()) if v is not None]
        if rows:
            tx.executemany(
                "INSERT INTO av_relationships (relationship_id, client_no, agency_id, "
                "practitioner_id, team_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT (relationship_id) "
                "DO NOTHING",
                rows,
            )

    def _write_entries(self, tx: Tx, out: Changes) -> None:
        if out.new_entries:
            self.insert(
                tx,
                "av_entries",
                ENTRY_COLUMNS,
                [entry_row(c, e, s) for (c, e), s in sorted(out.new_entries.items())],
            )
        with_text, without_text = [], []
        for (client, entry), (s, text) in sorted(out.updated_entries.items()):
            flags = (
                s.version,
                int(s.amended),
                None if s.amended_at is None else s.amended_at.isoformat(),
                int(s.in_error),
                int(s.resolved),
            )
            if text:
                with_text.append((*flags, s.text, client, entry))
            else:
                without_text.append((*flags, client, entry))
        set_flags = "version = ?, amended = ?, amended_at = ?, in_error = ?, resolved = ?"
        if with_text:
            tx.executemany(
                f"UPDATE av_entries SET {set_flags}, text = ? WHERE client_no = ? AND entry_no = ?",
                with_text,
            )
        if without_text:
            tx.executemany(
                f"UPDATE av_entries SET {set_flags} WHERE client_no = ? AND entry_no = ?",
                without_text,
            )

    def _write_visible(self, tx: Tx, out: Changes) -> None:
        rows = [
            (client, audience, pack_entries(out.clients[client].visible[audience]))
            for client, audience in sorted(out.views)
        ]
        if rows:
            self.upsert(tx, "av_visible", ("client_no", "audience_id"), ("entries",), rows)

    def _write_context(self, tx: Tx, ctx: Context) -> None:
        values = []
        if ctx.directory_dirty:
            directory = {
                "sectors": {k: v.value for k, v in sorted(ctx.sectors.items())},
                "staff": [
                    [s.practitioner_id, s.agency_id, s.profession, sorted(s.roles),
                     sorted(s.teams), s.active]
                    for s in sorted(ctx.staff.values(), key=lambda s: s.practitioner_id)
                ],
            }  # fmt: skip
            values.append(("directory", orjson.dumps(directory)))
            ctx.directory_dirty = False
        if ctx.protocol_dirty and ctx.protocol is not None:
            values.append(("protocol", orjson.dumps(ctx.protocol_document)))
            values.append(("protocol_version", str(ctx.protocol.version).encode()))
            ctx.protocol_dirty = False
        if values:
            tx.executemany(
                "INSERT INTO av_state (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                values,
            )


class SQLiteAudienceStore(AudienceStore):
    def insert(self, tx: Tx, table: str, columns: Sequence[str], rows: list[Any]) -> None:
        marks = placeholders(len(columns))
        tx.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def update(self, tx: Tx, table: str, columns: Sequence[str], key: str, rows: list[Any]) -> None:
        sets = ", ".join(f"{c} = ?" for c in columns)
        tx.executemany(f"UPDATE {table} SET {sets} WHERE {key} = ?", rows)

    def upsert(
        self, tx: Tx, table: str, keys: Sequence[str], columns: Sequence[str], rows: list[Any]
    ) -> None:
        names = (*keys, *columns)
        tx.executemany(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders(len(names))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in columns),
            rows,
        )


PG_TYPES = {
    "audience_id": "integer",
    "client_no": "integer",
    "entries": "bytea",
    "feed_seq": "bigint",
    "state": "bytea",
    "version": "bigint",
}
"""Column types for the array parameters of the PostgreSQL bulk statements."""
FEED_TYPES = ("integer", "bigint", "bigint", "bytea")


class PostgresAudienceStore(AudienceStore):
    """Bulk writes in one statement each: ``COPY`` for inserts (binary for the feed's
    chunks, whose bytes would double as text), ``unnest`` of arrays for updates and
    upserts - a statement per row, even pipelined, cost the server most of a rebuild's
    write time."""

    def insert(self, tx: Tx, table: str, columns: Sequence[str], rows: list[Any]) -> None:
        cursor = tx.cursor  # type: ignore[attr-defined]
        binary = table == "av_feed"
        options = " (FORMAT BINARY)" if binary else ""
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{options}") as copy:
            if binary:
                copy.set_types(FEED_TYPES)
            for row in rows:
                copy.write_row(row)

    def update(self, tx: Tx, table: str, columns: Sequence[str], key: str, rows: list[Any]) -> None:
        names = (*columns, key)
        arrays = ", ".join(f"?::{PG_TYPES[n]}[]" for n in names)
        sets = ", ".join(f"{c} = u.{c}" for c in columns)
        tx.execute(
            f"UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS u({', '.join(names)}) "
            f"WHERE t.{key} = u.{key}",
            [list(values) for values in zip(*rows, strict=True)],
        )

    def upsert(
        self, tx: Tx, table: str, keys: Sequence[str], columns: Sequence[str], rows: list[Any]
    ) -> None:
        names = (*keys, *columns)
        arrays = ", ".join(f"?::{PG_TYPES[n]}[]" for n in names)
        tx.execute(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in columns),
            [list(values) for values in zip(*rows, strict=True)],
        )


def audience_store(db: Database) -> AudienceStore:
    return PostgresAudienceStore(db) if db.dialect == "postgres" else SQLiteAudienceStore(db)
