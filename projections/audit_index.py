"""The access audit index: every recorded read, findable by client, practitioner, agency,
basis, purpose, action and time.

A projection over the access log (``AccessLogSource``) writing to the ``access``
storage area. One row per access record (``ai_accesses``), plus one row per basis it
rests on (``ai_bases``): the record's own basis (the caller's standing:
``care_relationship``, ``break_glass``, ``subject_access``, ``audit``...) and the
read-time basis of each entry it returned (``consent``, ``implied_consent``,
``controller``, ``safeguarding``...), recovered from the event log by
``carerecord.audit.details.ReadDetails``. The contributing agencies of the returned
entries are kept too (for "whose information did they see").

No clinical text is stored: ids, labels, counts and times only. Queries are for
auditors and information-governance officers (the API and CLI check the role).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from carerecord.access_log import AccessLog, AccessRecord, StoredAccess
from carerecord.audit.details import ReadDetails
from carerecord.db import Database, Tx
from projections.reading import PostgresReader, SQLiteReader, ViewReader, pick
from projections.rows import parse_ts, ts

INDEX = "access_index"


class AccessLogSource:
    """The access log as a projection source: its positions are contiguous from 1."""

    name = "access"

    def __init__(self, access: Database) -> None:
        self.log = AccessLog(access)

    def head(self) -> int:
        return self.log.head()[0]

    def read(self, after: int, limit: int) -> list[StoredAccess]:
        return self.log.read(after=after, limit=limit)


def _words(values: Sequence[str] | frozenset[str]) -> str:
    return " ".join(sorted(values))


def index_row(
    position: int, record: AccessRecord, details: ReadDetails
) -> tuple[tuple[object, ...], list[tuple[str, str, int]]]:
    """The index row of one access record, and its (basis, at, position) rows."""
    detail = details.details(record)
    at = ts(record.at)
    bases = detail.bases(record)
    row = (
        position,
        record.access_id,
        at,
        record.action,
        record.viewer_kind,
        record.practitioner_id,
        record.agency_id,
        record.profession,
        _words(record.roles),
        record.purpose,
        record.basis,
        record.client_id,
        record.grant_id,
        record.request_id,
        len(record.items),
        _words(detail.entry_bases),
        _words(detail.source_agencies),
    )
    return row, [(basis, at, position) for basis in sorted(bases)]


_COLUMNS = (
    "position, access_id, at, action, viewer_kind, practitioner_id, agency_id, profession, "
    "roles, purpose, basis, client_id, grant_id, request_id, item_count, entry_bases, "
    "source_agencies"
)


class AccessIndexProjection:
    """Keeps ``ai_accesses`` and ``ai_bases`` (append-only, like the log it indexes)."""

    name = INDEX
    tables = ("ai_accesses", "ai_bases")

    def __init__(self, details: ReadDetails) -> None:
        self.details = details

    def process(self, tx: Tx, items: Sequence[StoredAccess]) -> None:
        rows = []
        bases: list[tuple[str, str, int]] = []
        for stored in items:
            row, basis_rows = index_row(stored.position, stored.record, self.details)
            rows.append(row)
            bases.extend(basis_rows)
        tx.executemany(f"INSERT INTO ai_accesses ({_COLUMNS}) VALUES ({','.join('?' * 17)})", rows)
        tx.executemany("INSERT INTO ai_bases (basis, at, position) VALUES (?, ?, ?)", bases)

    def forget(self) -> None:
        self.details.forget()


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessQuery:
    """Which accesses to list: every given condition must hold (none: all of them)."""

    client_id: str | None = None
    practitioner_id: str | None = None
    agency_id: str | None = None
    basis: str | None = None
    purpose: str | None = None
    action: str | None = None
    viewer_kind: str | None = None
    grant_id: str | None = None
    since: datetime | None = None
    """Inclusive."""
    until: datetime | None = None
    """Exclusive."""


@dataclass(frozen=True)
class IndexedAccess:
    """One access as the index holds it (no clinical content)."""

    position: int
    access_id: str
    at: datetime
    action: str
    viewer_kind: str
    practitioner_id: str | None
    agency_id: str | None
    profession: str | None
    roles: tuple[str, ...]
    purpose: str
    basis: str
    client_id: str | None
    grant_id: str | None
    request_id: str
    item_count: int
    entry_bases: tuple[str, ...]
    source_agencies: tuple[str, ...]

    @property
    def bases(self) -> tuple[str, ...]:
        return tuple(sorted({self.basis, *self.entry_bases}))

    @property
    def cursor(self) -> tuple[str, int]:
        return (ts(self.at), self.position)

    def to_json(self) -> dict[str, object]:
        return {
            "position": self.position,
            "access_id": self.access_id,
            "at": self.at.isoformat(),
            "action": self.action,
            "viewer_kind": self.viewer_kind,
            "practitioner_id": self.practitioner_id,
            "agency_id": self.agency_id,
            "profession": self.profession,
            "roles": list(self.roles),
            "purpose": self.purpose,
            "basis": self.basis,
            "entry_bases": list(self.entry_bases),
            "client_id": self.client_id,
            "grant_id": self.grant_id,
            "request_id": self.request_id,
            "item_count": self.item_count,
            "source_agencies": list(self.source_agencies),
        }


def _split(text: object) -> tuple[str, ...]:
    return tuple(str(text).split()) if text else ()


def _indexed(row: tuple[object, ...]) -> IndexedAccess:
    return IndexedAccess(
        position=int(str(row[0])),
        access_id=str(row[1]),
        at=parse_ts(str(row[2])),
        action=str(row[3]),
        viewer_kind=str(row[4]),
        practitioner_id=None if row[5] is None else str(row[5]),
        agency_id=None if row[6] is None else str(row[6]),
        profession=None if row[7] is None else str(row[7]),
        roles=_split(row[8]),
        purpose=str(row[9]),
        basis=str(row[10]),
        client_id=None if row[11] is None else str(row[11]),
        grant_id=None if row[12] is None else str(row[12]),
        request_id=str(row[13]),
        item_count=int(str(row[14])),
        entry_bases=_split(row[15]),
        source_agencies=_split(row[16]),
    )


class AccessIndexReader(ViewReader):
    """Queries of the access audit index (keyset-paged by time, then position)."""

    def page(
        self,
        query: AccessQuery,
        *,
        after: tuple[str, int] | None = None,
        limit: int = 50,
        newest_first: bool = True,
    ) -> list[IndexedAccess]:
        """Accesses matching ``query``; ``after`` is the previous page's last ``cursor``."""
        where: list[str] = []
        params: list[object] = []
        for column, value in (
            ("a.client_id", query.client_id),
            ("a.practitioner_id", query.practitioner_id),
            ("a.agency_id", query.agency_id),
            ("a.purpose", query.purpose),
            ("a.action", query.action),
            ("a.viewer_kind", query.viewer_kind),
            ("a.grant_id", query.grant_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        source, key = "ai_accesses a", "a"
        if query.basis is not None:
            # Driven by the basis index: rare bases (break-glass) are found without a scan.
            source, key = "ai_bases b JOIN ai_accesses a ON a.position = b.position", "b"
            where.append("b.basis = ?")
            params.append(query.basis)
        if query.since is not None:
            where.append(f"{key}.at >= ?")
            params.append(ts(query.since))
        if query.until is not None:
            where.append(f"{key}.at < ?")
            params.append(ts(query.until))
        if after is not None:
            where.append(f"({key}.at, {key}.position) {'<' if newest_first else '>'} (?, ?)")
            params += [after[0], after[1]]
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))} "
            f"FROM {source} {'WHERE ' + ' AND '.join(where) if where else ''} "
            f"ORDER BY {key}.at {order}, {key}.position {order} LIMIT ?"
        )
        with self.db.snapshot() as tx:
            rows = tx.fetchall(sql, (*params, limit))
        return [_indexed(r) for r in rows]

    def by_access_ids(self, access_ids: Sequence[str]) -> dict[str, IndexedAccess]:
        if not access_ids:
            return {}
        cond, params = self.any_of("access_id", sorted(set(access_ids)))
        with self.db.snapshot() as tx:
            rows = tx.fetchall(f"SELECT {_COLUMNS} FROM ai_accesses WHERE {cond}", params)
        return {str(r[1]): _indexed(r) for r in rows}

    def reads_under_grants(self, grant_ids: Sequence[str]) -> dict[str, int]:
        """How many recorded reads rested on each break-glass grant."""
        if not grant_ids:
            return {}
        cond, params = self.any_of("grant_id", sorted(set(grant_ids)))
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                f"SELECT grant_id, COUNT(*) FROM ai_accesses WHERE {cond} GROUP BY grant_id",
                params,
            )
        return {str(r[0]): int(r[1]) for r in rows}

    def position(self) -> int:
        """How far the index has got in the access log."""
        with self.db.snapshot() as tx:
            found = tx.scalar("SELECT position FROM projection_tracking WHERE name = ?", (INDEX,))
        return 0 if found is None else int(found)


class SQLiteAccessIndexReader(SQLiteReader, AccessIndexReader):
    pass


class PostgresAccessIndexReader(PostgresReader, AccessIndexReader):
    pass


def access_index_reader(access: Database) -> AccessIndexReader:
    return pick(access, SQLiteAccessIndexReader, PostgresAccessIndexReader)
