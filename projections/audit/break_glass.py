"""Break-glass review: every grant, waiting for the accessing agency's information-governance
officers until one of them records a decision.

Built from ``BreakGlassGranted`` and ``BreakGlassReviewed`` (views area, ``bg_grants``).
A grant is in its agency's queue until reviewed; the review is due a configurable
period after the grant (``CARERECORD_BREAK_GLASS_REVIEW_HOURS``, default 72) and a
grant past it is *overdue* - decided at read time against the real clock, so the
period can change without a rebuild.

The grantee's reason is kept for the reviewer; the care team's notice and the
client's own access log never carry it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from carerecord.client_record import ClientRecord
from carerecord.db import Database, Tx
from projections.engine.framework import Envelope
from projections.engine.reading import PostgresReader, SQLiteReader, ViewReader, pick
from projections.engine.rows import RowStore, parse_ts, parse_ts_opt, ts

REVIEWS = "break_glass_reviews"


@dataclass(frozen=True)
class GrantRow:
    grant_id: str
    client_id: str
    practitioner_id: str
    agency_id: str
    profession: str
    purpose: str
    reason: str
    granted_at: str
    expires_at: str
    reviewed: bool = False
    outcome: str | None = None
    reviewer_id: str | None = None
    review_note: str | None = None
    reviewed_at: str | None = None

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.grant_id,
            self.client_id,
            self.practitioner_id,
            self.agency_id,
            self.profession,
            self.purpose,
            self.reason,
            self.granted_at,
            self.expires_at,
            int(self.reviewed),
            self.outcome,
            self.reviewer_id,
            self.review_note,
            self.reviewed_at,
        )

    @classmethod
    def of(cls, r: tuple[Any, ...]) -> GrantRow:
        return cls(
            grant_id=r[0],
            client_id=r[1],
            practitioner_id=r[2],
            agency_id=r[3],
            profession=r[4],
            purpose=r[5],
            reason=r[6],
            granted_at=r[7],
            expires_at=r[8],
            reviewed=bool(r[9]),
            outcome=r[10],
            reviewer_id=r[11],
            review_note=r[12],
            reviewed_at=r[13],
        )


COLUMNS = (
    "grant_id",
    "client_id",
    "practitioner_id",
    "agency_id",
    "profession",
    "purpose",
    "reason",
    "granted_at",
    "expires_at",
    "reviewed",
    "outcome",
    "reviewer_id",
    "review_note",
    "reviewed_at",
)


def evolve(row: GrantRow | None, event: Any, client_id: str) -> GrantRow | None:
    """The grant's row after ``event`` (a grant or its review, from the client's stream)."""
    if isinstance(event, ClientRecord.BreakGlassGranted):
        grant = event.grant
        return GrantRow(
            grant_id=grant.grant_id,
            client_id=client_id,
            practitioner_id=grant.practitioner_id,
            agency_id=grant.agency_id,
            profession=grant.profession,
            purpose=grant.purpose.value,
            reason=event.reason,
            granted_at=ts(grant.granted_at),
            expires_at=ts(grant.expires_at),
        )
    if isinstance(event, ClientRecord.BreakGlassReviewed):
        if row is None:
            raise LookupError("break-glass review before its grant")
        return replace(
            row,
            reviewed=True,
            outcome=event.outcome,
            reviewer_id=event.by,
            review_note=event.note,
            reviewed_at=ts(event.at),
        )
    return row


_EVENTS = (ClientRecord.BreakGlassGranted, ClientRecord.BreakGlassReviewed)


def _grant_id(event: Any) -> str:
    if isinstance(event, ClientRecord.BreakGlassGranted):
        return str(event.grant.grant_id)
    return str(event.grant_id)


class BreakGlassReviewProjection:
    """Keeps ``bg_grants``."""

    name = REVIEWS
    tables = ("bg_grants",)

    def __init__(self) -> None:
        self.rows: RowStore[GrantRow] = RowStore(
            "bg_grants", COLUMNS, to_row=GrantRow.as_tuple, from_row=GrantRow.of
        )

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        relevant = [e for e in items if isinstance(e.event, _EVENTS)]
        if not relevant:
            return
        self.rows.load(tx, (_grant_id(e.event) for e in relevant))
        for item in relevant:
            key = _grant_id(item.event)
            self.rows.put(key, evolve(self.rows.get(key), item.event, str(item.originator_id)))
        self.rows.flush(tx)

    def forget(self) -> None:
        self.rows.clear()


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakGlassGrantView:
    """A grant as the reviewing officer sees it (the reason included)."""

    grant_id: str
    client_id: str
    practitioner_id: str
    agency_id: str
    profession: str
    purpose: str
    reason: str
    granted_at: datetime
    expires_at: datetime
    reviewed: bool
    outcome: str | None
    reviewer_id: str | None
    reviewed_at: datetime | None

    @classmethod
    def of(cls, row: GrantRow) -> BreakGlassGrantView:
        return cls(
            grant_id=row.grant_id,
            client_id=row.client_id,
            practitioner_id=row.practitioner_id,
            agency_id=row.agency_id,
            profession=row.profession,
            purpose=row.purpose,
            reason=row.reason,
            granted_at=parse_ts(row.granted_at),
            expires_at=parse_ts(row.expires_at),
            reviewed=row.reviewed,
            outcome=row.outcome,
            reviewer_id=row.reviewer_id,
            reviewed_at=parse_ts_opt(row.reviewed_at),
        )


_SELECT = f"SELECT {', '.join(COLUMNS)} FROM bg_grants "


class BreakGlassReader(ViewReader):
    def queue(
        self,
        agency_id: str,
        *,
        granted_before: datetime | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 50,
    ) -> list[BreakGlassGrantView]:
        """The agency's grants awaiting review, oldest first; ``granted_before``: only those
        granted before then (the overdue ones, given the review period)."""
        where, params = "agency_id = ? AND reviewed = 0", [agency_id]
        if granted_before is not None:
            where += " AND granted_at < ?"
            params.append(ts(granted_before))
        if after is not None:
            where += " AND (granted_at, grant_id) > (?, ?)"
            params += [after[0], after[1]]
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                _SELECT + f"WHERE {where} ORDER BY granted_at, grant_id LIMIT ?",
                (*params, limit),
            )
        return [BreakGlassGrantView.of(GrantRow.of(r)) for r in rows]

    def for_client(self, client_id: str) -> dict[str, BreakGlassGrantView]:
        """The client's grants by id (for the client's own access log: review status)."""
        with self.db.snapshot() as tx:
            rows = tx.fetchall(_SELECT + "WHERE client_id = ? ORDER BY granted_at", (client_id,))
        return {str(r[0]): BreakGlassGrantView.of(GrantRow.of(r)) for r in rows}


class SQLiteBreakGlassReader(SQLiteReader, BreakGlassReader):
    pass


class PostgresBreakGlassReader(PostgresReader, BreakGlassReader):
    pass


def break_glass_reader(views: Database) -> BreakGlassReader:
    return pick(views, SQLiteBreakGlassReader, PostgresBreakGlassReader)
