"""Referrals and tasks across agencies: open referrals per receiving agency with due
dates and overdue status, sent referrals per sending agency, and response times.

A referral is *open* until it is declined or closed, and *awaiting* a response
while it is only sent or acknowledged; it is overdue when it is awaiting past its
due date (decided at read time, against the real clock). The response time is from
sending to the first acceptance or refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from carerecord.client_record import ClientRecord
from carerecord.db import Tx
from carerecord.vocab import ReferralStatus
from projections.engine.framework import Envelope, topics
from projections.engine.rows import RowStore, parse_ts, ts

OPEN = frozenset({ReferralStatus.SENT, ReferralStatus.ACKNOWLEDGED, ReferralStatus.ACCEPTED})
AWAITING = frozenset({ReferralStatus.SENT, ReferralStatus.ACKNOWLEDGED})


@dataclass(frozen=True)
class ReferralRow:
    referral_id: str
    client_id: str
    from_agency: str
    to_agency: str
    category: str
    urgency: str
    status: str
    reason: str
    sent_by: str
    sent_at: str
    due_by: str
    acknowledged_at: str | None = None
    responded_at: str | None = None
    closed_at: str | None = None
    response_seconds: float | None = None

    @property
    def open(self) -> bool:
        return ReferralStatus(self.status) in OPEN

    @property
    def awaiting(self) -> bool:
        return ReferralStatus(self.status) in AWAITING

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.referral_id,
            self.client_id,
            self.from_agency,
            self.to_agency,
            self.category,
            self.urgency,
            self.status,
            self.reason,
            self.sent_by,
            self.sent_at,
            self.due_by,
            self.acknowledged_at,
            self.responded_at,
            self.closed_at,
            self.response_seconds,
            int(self.open),
            int(self.awaiting),
        )


COLUMNS = (
    "referral_id",
    "client_id",
    "from_agency",
    "to_agency",
    "category",
    "urgency",
    "status",
    "reason",
    "sent_by",
    "sent_at",
    "due_by",
    "acknowledged_at",
    "responded_at",
    "closed_at",
    "response_seconds",
    "open",
    "awaiting",
)

_TOPICS = topics(
    ClientRecord.ReferralSent,
    ClientRecord.ReferralAcknowledged,
    ClientRecord.ReferralAccepted,
    ClientRecord.ReferralDeclined,
    ClientRecord.ReferralClosed,
)


def evolve(row: ReferralRow | None, event: Any, client_id: str) -> ReferralRow | None:
    """The referral's row after ``event`` (one of the client's referral events)."""
    if isinstance(event, ClientRecord.ReferralSent):
        return ReferralRow(
            referral_id=event.referral_id,
            client_id=client_id,
            from_agency=event.agency_id,
            to_agency=event.to_agency,
            category=event.category,
            urgency=event.urgency,
            status=ReferralStatus.SENT.value,
            reason=event.reason,
            sent_by=event.by,
            sent_at=ts(event.at),
            due_by=ts(event.due_by),
        )
    if row is None:
        raise LookupError("referral event before the referral was sent")
    at = ts(event.at)
    if isinstance(event, ClientRecord.ReferralAcknowledged):
        return replace(row, status=ReferralStatus.ACKNOWLEDGED.value, acknowledged_at=at)
    if isinstance(event, ClientRecord.ReferralAccepted | ClientRecord.ReferralDeclined):
        status = (
            ReferralStatus.ACCEPTED
            if isinstance(event, ClientRecord.ReferralAccepted)
            else ReferralStatus.DECLINED
        )
        seconds = (event.at - parse_ts(row.sent_at)).total_seconds()
        return replace(
            row, status=status.value, responded_at=at, response_seconds=max(0.0, seconds)
        )
    if isinstance(event, ClientRecord.ReferralClosed):
        return replace(row, status=ReferralStatus.CLOSED.value, closed_at=at)
    return row


class ReferralsProjection:
    """Keeps ``rf_referrals``."""

    name = "referrals"
    tables = ("rf_referrals",)

    def __init__(self) -> None:
        self.rows: RowStore[ReferralRow] = RowStore(
            "rf_referrals",
            COLUMNS,
            to_row=ReferralRow.as_tuple,
            from_row=lambda r: ReferralRow(*r[:15]),
        )

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        relevant = [e for e in items if e.topic in _TOPICS]
        if not relevant:
            return
        self.rows.load(tx, (e.event.referral_id for e in relevant))
        for item in relevant:
            key = item.event.referral_id
            self.rows.put(key, evolve(self.rows.get(key), item.event, str(item.originator_id)))
        self.rows.flush(tx)

    def forget(self) -> None:
        self.rows.clear()
