"""Involvement index: which agencies and named workers are involved with a client.

One row per active care relationship (practitioner or team, with their agency)
and per open referral (for the receiving agency) - existence and contact only,
never content. Contact details come from the directory read model at read time.
``inv_clients`` records the client's stream version the index reflects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from carerecord.client_record import ClientRecord
from carerecord.db import Tx
from carerecord.vocab import ReferralStatus
from projections.engine.framework import Envelope, topics
from projections.engine.rows import RowStore, ts

RELATIONSHIP = "relationship"
REFERRAL = "referral"


@dataclass(frozen=True)
class InvolvementRow:
    ref_id: str
    client_id: str
    kind: str
    agency_id: str
    practitioner_id: str | None = None
    team_id: str | None = None
    profession: str | None = None
    since: str = ""
    from_agency: str | None = None
    status: str | None = None
    urgency: str | None = None
    due_by: str | None = None

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.ref_id,
            self.client_id,
            self.kind,
            self.agency_id,
            self.practitioner_id,
            self.team_id,
            self.profession,
            self.since,
            self.from_agency,
            self.status,
            self.urgency,
            self.due_by,
        )


COLUMNS = (
    "ref_id",
    "client_id",
    "kind",
    "agency_id",
    "practitioner_id",
    "team_id",
    "profession",
    "since",
    "from_agency",
    "status",
    "urgency",
    "due_by",
)


def ref_of(event: Any) -> str | None:
    """The relationship or referral an event is about, if it changes involvement."""
    if isinstance(event, ClientRecord.CareRelationshipStarted):
        return str(event.relationship.relationship_id)
    if isinstance(event, ClientRecord.CareRelationshipEnded):
        return str(event.relationship_id)
    if isinstance(
        event,
        ClientRecord.ReferralSent
        | ClientRecord.ReferralAcknowledged
        | ClientRecord.ReferralAccepted
        | ClientRecord.ReferralDeclined
        | ClientRecord.ReferralClosed,
    ):
        return str(event.referral_id)
    return None


def evolve(row: InvolvementRow | None, event: Any, client_id: str) -> InvolvementRow | None:
    """The involvement row after ``event`` (None: not, or no longer, involved)."""
    if isinstance(event, ClientRecord.CareRelationshipStarted):
        rel = event.relationship
        return InvolvementRow(
            ref_id=rel.relationship_id,
            client_id=client_id,
            kind=RELATIONSHIP,
            agency_id=rel.agency_id,
            practitioner_id=rel.practitioner_id,
            team_id=rel.team_id,
            profession=rel.profession,
            since=ts(rel.started_at),
        )
    if isinstance(
        event,
        ClientRecord.CareRelationshipEnded
        | ClientRecord.ReferralDeclined
        | ClientRecord.ReferralClosed,
    ):
        return None
    if isinstance(event, ClientRecord.ReferralSent):
        return InvolvementRow(
            ref_id=event.referral_id,
            client_id=client_id,
            kind=REFERRAL,
            agency_id=event.to_agency,
            since=ts(event.at),
            from_agency=event.agency_id,
            status=ReferralStatus.SENT.value,
            urgency=event.urgency,
            due_by=ts(event.due_by),
        )
    if row is None:
        return None
    if isinstance(event, ClientRecord.ReferralAcknowledged):
        return replace(row, status=ReferralStatus.ACKNOWLEDGED.value)
    if isinstance(event, ClientRecord.ReferralAccepted):
        return replace(row, status=ReferralStatus.ACCEPTED.value)
    return row


_CHANGES = topics(
    ClientRecord.CareRelationshipStarted,
    ClientRecord.CareRelationshipEnded,
    ClientRecord.ReferralSent,
    ClientRecord.ReferralAcknowledged,
    ClientRecord.ReferralAccepted,
    ClientRecord.ReferralDeclined,
    ClientRecord.ReferralClosed,
)
_CLIENT = next(iter(topics(ClientRecord.Registered))).rsplit(".", 1)[0] + "."


class InvolvementProjection:
    """Keeps ``inv_involvements`` and ``inv_clients``."""

    name = "involvement"
    tables = ("inv_involvements", "inv_clients")

    def __init__(self) -> None:
        self.rows: RowStore[InvolvementRow] = RowStore(
            "inv_involvements",
            COLUMNS,
            to_row=InvolvementRow.as_tuple,
            from_row=lambda r: InvolvementRow(*r),
        )

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        versions: dict[str, int] = {}
        changes: list[tuple[str, Envelope]] = []
        for item in items:
            if not item.topic.startswith(_CLIENT):
                continue
            versions[str(item.originator_id)] = item.originator_version
            if item.topic in _CHANGES:
                ref = ref_of(item.event)
                assert ref is not None
                changes.append((ref, item))
        if changes:
            self.rows.load(tx, (ref for ref, _ in changes))
            for ref, item in changes:
                self.rows.put(ref, evolve(self.rows.get(ref), item.event, str(item.originator_id)))
            self.rows.flush(tx)
        if versions:
            tx.executemany(
                "INSERT INTO inv_clients (client_id, version) VALUES (?, ?) "
                "ON CONFLICT (client_id) DO UPDATE SET version = excluded.version",
                sorted(versions.items()),
            )

    def forget(self) -> None:
        self.rows.clear()
