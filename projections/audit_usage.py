"""Usage and flow figures for evaluation (counts only, never client data).

Two projections and a report:

- ``usage_contributions`` (views area, from the event log): contributions (entries and
  alerts recorded) per month by agency and profession, and per enrolled practitioner
  their training date, whether they are active and when they last contributed;
- ``usage_reads`` (access area, from the access log): reads per month by the reader's
  agency, profession, kind and purpose, and the cross-agency flow - how many entries
  contributed by one agency were returned to readers of another (entry labels from
  the event log, ``carerecord.audit.details``);
- ``usage_report``: those figures for a period, the share of trained practitioners
  who contributed in the last 90 days (by profession), and referral response times
  against their due dates (from the referrals view).

Months are calendar months of the recording time (contributions) or of the read (UTC).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from carerecord.access_log import StoredAccess
from carerecord.audit.details import ReadDetails
from carerecord.client_record import ClientRecord
from carerecord.db import Database, Tx
from carerecord.practitioner import Practitioner
from projections.framework import Envelope
from projections.rows import RowStore, parse_ts, ts

CONTRIBUTIONS = "usage_contributions"
READS = "usage_reads"
TRAINED_WINDOW = timedelta(days=90)


def month_of(at: datetime) -> str:
    utc = at.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"  # strftime's %Y does not pad years before 1000


def _add(tx: Tx, table: str, keys: Sequence[str], counts: Sequence[str], rows: Any) -> None:
    """Add counts to rows keyed by ``keys`` (inserting missing rows)."""
    columns = [*keys, *counts]
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counts)
    tx.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
        [(*k, *v) for k, v in sorted(rows.items())],
    )


# --- contributions (event log) --------------------------------------------------------------


@dataclass(frozen=True)
class PractitionerRow:
    practitioner_id: str
    agency_id: str
    profession: str
    trained_on: str | None
    active: bool
    last_contribution_at: str | None = None

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.practitioner_id,
            self.agency_id,
            self.profession,
            self.trained_on,
            int(self.active),
            self.last_contribution_at,
        )


def evolve_practitioner(row: PractitionerRow | None, event: Any) -> PractitionerRow | None:
    """A practitioner's row after an event of their own stream, or one of their contributions."""
    if isinstance(event, Practitioner.Enrolled):
        trained = None if event.trained_on is None else event.trained_on.isoformat()
        return PractitionerRow(
            event.practitioner_id, event.agency_id, event.profession, trained, True
        )
    if row is None:
        raise LookupError("usage: an event of a practitioner who was never enrolled")
    if isinstance(event, Practitioner.LeftService):
        return replace(row, active=False)
    if isinstance(event, ClientRecord.ContributionRecorded | ClientRecord.AlertRaised):
        at = ts(event.timestamp)
        if row.last_contribution_at is None or at > row.last_contribution_at:
            return replace(row, last_contribution_at=at)
    return row


_CONTRIBUTED = (ClientRecord.ContributionRecorded, ClientRecord.AlertRaised)
_DIRECTORY = (Practitioner.Enrolled, Practitioner.LeftService)


class UsageContributionsProjection:
    """Keeps ``us_contributions`` (monthly counters) and ``us_practitioners``."""

    name = CONTRIBUTIONS
    tables = ("us_contributions", "us_practitioners")

    def __init__(self) -> None:
        self.people: RowStore[PractitionerRow] = RowStore(
            "us_practitioners",
            (
                "practitioner_id",
                "agency_id",
                "profession",
                "trained_on",
                "active",
                "last_contribution_at",
            ),
            to_row=PractitionerRow.as_tuple,
            from_row=lambda r: PractitionerRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5]),
        )
        self._codes: dict[Any, str] = {}

    def _who(self, tx: Tx, item: Envelope) -> str:
        event = item.event
        if isinstance(event, _CONTRIBUTED):
            return str(event.labels.author_id)
        if isinstance(event, Practitioner.Enrolled):
            self._codes[item.originator_id] = event.practitioner_id
        if item.originator_id not in self._codes:
            # Practitioner ids are uuid5 of the code: recover codes enrolled in earlier batches.
            for (code,) in tx.fetchall("SELECT practitioner_id FROM us_practitioners"):
                self._codes[Practitioner.id_for(str(code))] = str(code)
        return self._codes[item.originator_id]

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        relevant = [e for e in items if isinstance(e.event, _CONTRIBUTED + _DIRECTORY)]
        if not relevant:
            return
        keyed = [(self._who(tx, e), e) for e in relevant]
        self.people.load(tx, (k for k, _ in keyed))
        counts: dict[tuple[str, ...], tuple[int]] = defaultdict(lambda: (0,))
        for key, item in keyed:
            event = item.event
            self.people.put(key, evolve_practitioner(self.people.get(key), event))
            if isinstance(event, _CONTRIBUTED):
                labels = event.labels
                bucket = (month_of(event.timestamp), labels.agency_id, labels.profession)
                counts[bucket] = (counts[bucket][0] + 1,)
        self.people.flush(tx)
        if counts:
            _add(
                tx,
                "us_contributions",
                ("month", "agency_id", "profession"),
                ("contributions",),
                counts,
            )

    def forget(self) -> None:
        self.people.clear()
        self._codes.clear()


# --- reads and flow (access log) ------------------------------------------------------------


class UsageReadsProjection:
    """Keeps ``ua_reads`` and ``ua_flow`` (monthly counters)."""

    name = READS
    tables = ("ua_reads", "ua_flow")

    def __init__(self, details: ReadDetails) -> None:
        self.details = details

    def process(self, tx: Tx, items: Sequence[StoredAccess]) -> None:
        reads: dict[tuple[str, ...], tuple[int, int]] = defaultdict(lambda: (0, 0))
        flow: dict[tuple[str, ...], tuple[int, int]] = defaultdict(lambda: (0, 0))
        for stored in items:
            record = stored.record
            month = month_of(record.at)
            reader = record.agency_id or ""
            key = (month, reader, record.profession or "", record.viewer_kind, record.purpose)
            done, returned = reads[key]
            reads[key] = (done + 1, returned + len(record.items))
            by_source: dict[str, int] = defaultdict(int)
            for item in self.details.details(record).items:
                by_source[item.agency_id] += 1
            for source, count in by_source.items():
                bucket = (month, source, record.viewer_kind, reader)
                done, returned = flow[bucket]
                flow[bucket] = (done + 1, returned + count)
        if reads:
            _add(
                tx,
                "ua_reads",
                ("month", "agency_id", "profession", "viewer_kind", "purpose"),
                ("reads", "items"),
                reads,
            )
        if flow:
            _add(
                tx,
                "ua_flow",
                ("month", "source_agency", "reader_kind", "reader_agency"),
                ("reads", "items"),
                flow,
            )

    def forget(self) -> None:
        self.details.forget()


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthlyCount:
    month: str
    agency_id: str
    profession: str
    count: int


@dataclass(frozen=True)
class TrainedShare:
    profession: str
    trained: int
    contributed: int

    @property
    def share(self) -> float | None:
        return None if self.trained == 0 else self.contributed / self.trained


@dataclass(frozen=True)
class Flow:
    source_agency: str
    reader_kind: str
    reader_agency: str
    reads: int
    items: int

    @property
    def cross_agency(self) -> bool:
        return self.reader_kind == "client" or self.source_agency != self.reader_agency


@dataclass(frozen=True)
class ReferralTimes:
    """Referrals an agency received in the period, and how it answered against due dates."""

    agency_id: str
    received: int
    responded: int
    on_time: int
    late: int
    awaiting: int
    overdue: int
    median_response_hours: float | None
    median_allowed_hours: float | None


@dataclass(frozen=True)
class UsageReport:
    since: datetime | None
    until: datetime | None
    generated_at: datetime
    contributions: tuple[MonthlyCount, ...]
    reads: tuple[MonthlyCount, ...]
    trained: tuple[TrainedShare, ...]
    flow: tuple[Flow, ...]
    referrals: tuple[ReferralTimes, ...]

    def rows(self) -> list[dict[str, Any]]:
        """Every figure as one flat row (for CSV): section, dimensions, measure, value."""
        out: list[dict[str, Any]] = []

        def add(section: str, measure: str, value: Any, **dims: Any) -> None:
            out.append({"section": section, **dims, "measure": measure, "value": value})

        for c in self.contributions:
            add(
                "contributions",
                "contributions",
                c.count,
                month=c.month,
                agency=c.agency_id,
                profession=c.profession,
            )
        for r in self.reads:
            add(
                "reads",
                "reads",
                r.count,
                month=r.month,
                agency=r.agency_id,
                profession=r.profession,
            )
        for t in self.trained:
            add("trained", "trained", t.trained, profession=t.profession)
            add("trained", "contributed_90_days", t.contributed, profession=t.profession)
        for f in self.flow:
            add(
                "flow",
                "reads",
                f.reads,
                source_agency=f.source_agency,
                reader_agency=f.reader_agency or f.reader_kind,
            )
            add(
                "flow",
                "entries",
                f.items,
                source_agency=f.source_agency,
                reader_agency=f.reader_agency or f.reader_kind,
            )
        for x in self.referrals:
            for measure in (
                "received",
                "responded",
                "on_time",
                "late",
                "awaiting",
                "overdue",
                "median_response_hours",
                "median_allowed_hours",
            ):
                add("referrals", measure, getattr(x, measure), agency=x.agency_id)
        return out


def _months(since: datetime | None, until: datetime | None) -> tuple[str, list[str]]:
    where, params = [], []
    if since is not None:
        where.append("month >= ?")
        params.append(month_of(since))
    if until is not None:
        where.append("month <= ?")
        params.append(month_of(until - timedelta(microseconds=1)))
    return (" WHERE " + " AND ".join(where)) if where else "", params


def usage_report(
    views: Database,
    access: Database,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> UsageReport:
    """The figures for the months from ``since`` to before ``until`` (all by default)."""
    months, params = _months(since, until)
    with views.snapshot() as tx:
        contributions = tx.fetchall(
            "SELECT month, agency_id, profession, contributions FROM us_contributions"
            f"{months} ORDER BY month, agency_id, profession",
            params,
        )
        trained = tx.fetchall(
            "SELECT profession, COUNT(*), SUM(CASE WHEN last_contribution_at >= ? THEN 1 "
            "ELSE 0 END) FROM us_practitioners WHERE active = 1 AND trained_on IS NOT NULL "
            "GROUP BY profession ORDER BY profession",
            (ts(now - TRAINED_WINDOW),),
        )
        sent = []
        if since is not None:
            sent.append(("sent_at >= ?", ts(since)))
        if until is not None:
            sent.append(("sent_at < ?", ts(until)))
        referrals = tx.fetchall(
            "SELECT to_agency, sent_at, due_by, responded_at, awaiting FROM rf_referrals"
            + (" WHERE " + " AND ".join(c for c, _ in sent) if sent else "")
            + " ORDER BY to_agency",
            [v for _, v in sent],
        )
    with access.snapshot() as tx:
        reads = tx.fetchall(
            "SELECT month, agency_id, profession, SUM(reads) FROM ua_reads"
            f"{months} GROUP BY month, agency_id, profession "
            "ORDER BY month, agency_id, profession",
            params,
        )
        flow = tx.fetchall(
            "SELECT source_agency, reader_kind, reader_agency, SUM(reads), SUM(items) "
            f"FROM ua_flow{months} GROUP BY source_agency, reader_kind, reader_agency "
            "ORDER BY source_agency, reader_kind, reader_agency",
            params,
        )
    return UsageReport(
        since=since,
        until=until,
        generated_at=now,
        contributions=tuple(MonthlyCount(r[0], r[1], r[2], int(r[3])) for r in contributions),
        reads=tuple(MonthlyCount(r[0], r[1], r[2], int(r[3])) for r in reads),
        trained=tuple(TrainedShare(r[0], int(r[1]), int(r[2] or 0)) for r in trained),
        flow=tuple(Flow(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in flow),
        referrals=_referral_times(referrals, now),
    )


def _hours(seconds: list[float]) -> float | None:
    return None if not seconds else round(statistics.median(seconds) / 3600, 2)


def _referral_times(rows: list[tuple[Any, ...]], now: datetime) -> tuple[ReferralTimes, ...]:
    by_agency: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_agency[str(row[0])].append(row)
    out = []
    now_text = ts(now)
    for agency, found in sorted(by_agency.items()):
        responses, allowed = [], []
        on_time = late = awaiting = overdue = 0
        for _, sent_at, due_by, responded_at, waiting in found:
            sent = parse_ts(sent_at)
            allowed.append((parse_ts(due_by) - sent).total_seconds())
            if responded_at is not None:
                responses.append((parse_ts(responded_at) - sent).total_seconds())
                if responded_at <= due_by:
                    on_time += 1
                else:
                    late += 1
            if waiting:
                awaiting += 1
                if due_by < now_text:
                    overdue += 1
        out.append(
            ReferralTimes(
                agency_id=agency,
                received=len(found),
                responded=len(responses),
                on_time=on_time,
                late=late,
                awaiting=awaiting,
                overdue=overdue,
                median_response_hours=_hours(responses),
                median_allowed_hours=_hours(allowed),
            )
        )
    return tuple(out)
