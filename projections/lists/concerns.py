"""Concern aggregation: alerts and safeguarding concerns about one client, across agencies.

A concern is an alert (other than an access-needs note) or an entry recorded under
the shared ``safeguarding`` category. A client is *flagged* when concerns from at
least two different agencies fall within the configured window of each other
(``CARERECORD_CONCERN_WINDOW_DAYS``), whether or not they have since been
resolved; entries entered in error no longer count. Flags are surfaced to
safeguarding leads by the read repository.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from carerecord.client_record import ClientRecord
from carerecord.db import Tx
from carerecord.vocab import AlertKind
from projections.engine.framework import Envelope, topics
from projections.engine.rows import chunks, parse_ts, placeholders, ts

SAFEGUARDING_CATEGORY = "safeguarding"
NOT_CONCERNS = frozenset({AlertKind.ACCESS_NEEDS.value})


@dataclass(frozen=True)
class Concern:
    entry_id: str
    agency_id: str
    source: str  # "alert" or "contribution"
    alert_kind: str | None
    severity: str | None
    occurred_at: str
    resolved: bool = False


@dataclass(frozen=True)
class Summary:
    flagged: bool
    agencies: tuple[str, ...]
    concern_count: int
    open_count: int
    first_at: str | None
    last_at: str | None


def evolve(concerns: dict[str, Concern], event: Any) -> dict[str, Concern]:
    """The client's concerns after ``event`` (a new dict if anything changed)."""
    if isinstance(event, ClientRecord.AlertRaised):
        if event.kind in NOT_CONCERNS:
            return concerns
        labels = event.labels
        concern = Concern(
            labels.entry_id,
            labels.agency_id,
            "alert",
            event.kind,
            event.severity,
            ts(labels.occurred_at),
        )
        return {**concerns, concern.entry_id: concern}
    if isinstance(event, ClientRecord.ContributionRecorded):
        labels = event.labels
        if labels.category != SAFEGUARDING_CATEGORY:
            return concerns
        concern = Concern(
            labels.entry_id, labels.agency_id, "contribution", None, None, ts(labels.occurred_at)
        )
        return {**concerns, concern.entry_id: concern}
    if isinstance(event, ClientRecord.AlertResolved) and event.alert_id in concerns:
        return {**concerns, event.alert_id: replace(concerns[event.alert_id], resolved=True)}
    if isinstance(event, ClientRecord.ContributionEnteredInError) and event.entry_id in concerns:
        return {k: v for k, v in concerns.items() if k != event.entry_id}
    return concerns


def summarise(concerns: Iterable[Concern], window: timedelta) -> Summary:
    """Counts, and whether two agencies' concerns fall within ``window`` of each other.

    The closest pair of concerns from different agencies is always adjacent in time
    order, so checking neighbours is enough.
    """
    ordered = sorted(concerns, key=lambda c: (c.occurred_at, c.entry_id))
    flagged = any(
        a.agency_id != b.agency_id and parse_ts(b.occurred_at) - parse_ts(a.occurred_at) <= window
        for a, b in itertools.pairwise(ordered)
    )
    return Summary(
        flagged=flagged,
        agencies=tuple(sorted({c.agency_id for c in ordered})),
        concern_count=len(ordered),
        open_count=sum(1 for c in ordered if not c.resolved),
        first_at=ordered[0].occurred_at if ordered else None,
        last_at=ordered[-1].occurred_at if ordered else None,
    )


_ALWAYS = topics(
    ClientRecord.AlertRaised, ClientRecord.AlertResolved, ClientRecord.ContributionEnteredInError
)
_RECORDED = topics(ClientRecord.ContributionRecorded)


def _touches(item: Envelope) -> bool:
    return item.topic in _ALWAYS or (
        item.topic in _RECORDED and item.event.labels.category == SAFEGUARDING_CATEGORY
    )


class ConcernsProjection:
    """Keeps ``cc_concerns`` and ``cc_clients``."""

    name = "concerns"
    tables = ("cc_concerns", "cc_clients")

    def __init__(self, window: timedelta) -> None:
        self.window = window

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        relevant = [e for e in items if _touches(e)]
        if not relevant:
            return
        clients = sorted({str(e.originator_id) for e in relevant})
        state: dict[str, dict[str, Concern]] = {c: {} for c in clients}
        for part in chunks(clients):
            for row in tx.fetchall(
                "SELECT client_id, entry_id, agency_id, source, alert_kind, severity, "
                f"occurred_at, resolved FROM cc_concerns WHERE client_id IN "
                f"({placeholders(len(part))})",
                tuple(part),
            ):
                state[str(row[0])][str(row[1])] = Concern(
                    row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7])
                )
        before = {c: state[c] for c in clients}
        for item in relevant:
            client = str(item.originator_id)
            state[client] = evolve(state[client], item.event)
        changed = [c for c in clients if state[c] is not before[c]]
        if not changed:
            return
        tx.executemany("DELETE FROM cc_concerns WHERE client_id = ?", [(c,) for c in changed])
        tx.executemany(
            "INSERT INTO cc_concerns (client_id, entry_id, agency_id, source, alert_kind, "
            "severity, occurred_at, resolved) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (c, x.entry_id, x.agency_id, x.source, x.alert_kind, x.severity,
                 x.occurred_at, int(x.resolved))
                for c in changed
                for x in sorted(state[c].values(), key=lambda v: v.entry_id)
            ],
        )  # fmt: skip
        summaries = [(c, summarise(state[c].values(), self.window)) for c in changed]
        tx.executemany(
            "INSERT INTO cc_clients (client_id, flagged, agencies, concern_count, open_count, "
            "first_at, last_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE "
            "SET flagged = excluded.flagged, agencies = excluded.agencies, "
            "concern_count = excluded.concern_count, open_count = excluded.open_count, "
            "first_at = excluded.first_at, last_at = excluded.last_at",
            [
                (c, int(s.flagged), " ".join(s.agencies), s.concern_count, s.open_count,
                 s.first_at, s.last_at)
                for c, s in summaries
            ],
        )  # fmt: skip

    def forget(self) -> None:
        """Nothing is cached between batches."""
