"""Caseloads: for a practitioner or a team, the clients they have an active care
relationship with (and nothing else: there is no browsing of other caseloads).

``cl_relationships`` holds the active relationships; ``cl_clients`` the client's
current name and date of birth, for the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from carerecord.client_record import ClientRecord
from carerecord.db import Tx
from projections.engine.framework import Envelope, topics
from projections.engine.rows import RowStore, ts


@dataclass(frozen=True)
class CaseRow:
    relationship_id: str
    client_id: str
    agency_id: str
    practitioner_id: str | None
    team_id: str | None
    since: str


@dataclass(frozen=True)
class NameRow:
    client_id: str
    given_name: str
    family_name: str
    date_of_birth: str


def evolve_case(row: CaseRow | None, event: Any, client_id: str) -> CaseRow | None:
    """The relationship's caseload row after ``event`` (None once it has ended)."""
    if isinstance(event, ClientRecord.CareRelationshipStarted):
        rel = event.relationship
        return CaseRow(
            rel.relationship_id,
            client_id,
            rel.agency_id,
            rel.practitioner_id,
            rel.team_id,
            ts(rel.started_at),
        )
    if isinstance(event, ClientRecord.CareRelationshipEnded):
        return None
    return row


def evolve_name(row: NameRow | None, event: Any, client_id: str) -> NameRow | None:
    """The client's name row after ``event``."""
    if isinstance(event, ClientRecord.Registered | ClientRecord.DemographicsCorrected):
        person = event.demographics
        return NameRow(
            client_id, person.given_name, person.family_name, person.date_of_birth.isoformat()
        )
    return row


_CASES = topics(ClientRecord.CareRelationshipStarted, ClientRecord.CareRelationshipEnded)
_NAMES = topics(ClientRecord.Registered, ClientRecord.DemographicsCorrected)


class CaseloadProjection:
    """Keeps ``cl_relationships`` and ``cl_clients``."""

    name = "caseload"
    tables = ("cl_relationships", "cl_clients")

    def __init__(self) -> None:
        self.cases: RowStore[CaseRow] = RowStore(
            "cl_relationships",
            ("relationship_id", "client_id", "agency_id", "practitioner_id", "team_id", "since"),
            to_row=lambda r: (
                r.relationship_id,
                r.client_id,
                r.agency_id,
                r.practitioner_id,
                r.team_id,
                r.since,
            ),
            from_row=lambda r: CaseRow(*r),
        )
        self.names: RowStore[NameRow] = RowStore(
            "cl_clients",
            ("client_id", "given_name", "family_name", "date_of_birth"),
            to_row=lambda r: (r.client_id, r.given_name, r.family_name, r.date_of_birth),
            from_row=lambda r: NameRow(*r),
        )

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        cases: list[tuple[str, Envelope]] = []
        names: list[Envelope] = []
        for item in items:
            topic = item.topic
            if topic in _CASES:
                event = item.event
                if isinstance(event, ClientRecord.CareRelationshipStarted):
                    cases.append((event.relationship.relationship_id, item))
                else:
                    cases.append((event.relationship_id, item))
            elif topic in _NAMES:
                names.append(item)
        if cases:
            self.cases.load(tx, (key for key, _ in cases))
            for key, item in cases:
                client = str(item.originator_id)
                self.cases.put(key, evolve_case(self.cases.get(key), item.event, client))
            self.cases.flush(tx)
        if names:
            self.names.load(tx, (str(e.originator_id) for e in names))
            for item in names:
                client = str(item.originator_id)
                self.names.put(client, evolve_name(self.names.get(client), item.event, client))
            self.names.flush(tx)

    def forget(self) -> None:
        self.cases.clear()
        self.names.clear()
