"""Directory read model: agencies and practitioners, and how to reach them.

Built from the directory events in the same log (``Agency.Registered``,
``Agency.ContactDetailsChanged``, ``Practitioner.Enrolled``, ``RolesReassigned``,
``LeftService``). The involvement index and caseloads join it for names and
contact details at read time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from carerecord.agency import Agency
from carerecord.db import Tx
from carerecord.practitioner import Practitioner
from projections.engine.framework import Envelope, topics
from projections.engine.rows import RowStore


@dataclass(frozen=True)
class AgencyRow:
    agency_id: str
    name: str
    sector: str
    local_authority_area: str
    phone: str
    email: str


@dataclass(frozen=True)
class PractitionerRow:
    practitioner_id: str
    agency_id: str
    profession: str
    name: str
    roles: str
    teams: str
    phone: str
    email: str
    active: bool


def evolve_agency(row: AgencyRow | None, event: Any) -> AgencyRow | None:
    """The agency's row after ``event`` (an event of the agency's own stream)."""
    if isinstance(event, Agency.Registered):
        return AgencyRow(
            event.code,
            event.name,
            event.sector,
            event.local_authority_area,
            event.phone,
            event.email,
        )
    if isinstance(event, Agency.ContactDetailsChanged) and row is not None:
        return replace(row, phone=event.phone, email=event.email)
    return row


def evolve_practitioner(row: PractitionerRow | None, event: Any) -> PractitionerRow | None:
    """The practitioner's row after ``event`` (an event of their own stream)."""
    if isinstance(event, Practitioner.Enrolled):
        return PractitionerRow(
            event.practitioner_id,
            event.agency_id,
            event.profession,
            event.name,
            " ".join(sorted(event.roles)),
            " ".join(sorted(event.teams)),
            event.phone,
            event.email,
            True,
        )
    if row is None:
        return None
    if isinstance(event, Practitioner.RolesReassigned):
        return replace(
            row, roles=" ".join(sorted(event.roles)), teams=" ".join(sorted(event.teams))
        )
    if isinstance(event, Practitioner.LeftService):
        return replace(row, active=False)
    return row


_AGENCY_EVENTS = topics(Agency.Registered, Agency.ContactDetailsChanged)
_PRACTITIONER_EVENTS = topics(
    Practitioner.Enrolled,
    Practitioner.RolesReassigned,
    Practitioner.LeftService,
)


class DirectoryProjection:
    """Keeps ``dir_agencies`` and ``dir_practitioners``."""

    name = "directory"
    tables = ("dir_agencies", "dir_practitioners")

    def __init__(self) -> None:
        self.agencies: RowStore[AgencyRow] = RowStore(
            "dir_agencies",
            ("agency_id", "name", "sector", "local_authority_area", "phone", "email"),
            to_row=lambda r: (
                r.agency_id,
                r.name,
                r.sector,
                r.local_authority_area,
                r.phone,
                r.email,
            ),
            from_row=lambda r: AgencyRow(*r),
        )
        self.practitioners: RowStore[PractitionerRow] = RowStore(
            "dir_practitioners",
            (
                "practitioner_id",
                "agency_id",
                "profession",
                "name",
                "roles",
                "teams",
                "phone",
                "email",
                "active",
            ),
            to_row=lambda r: (
                r.practitioner_id,
                r.agency_id,
                r.profession,
                r.name,
                r.roles,
                r.teams,
                r.phone,
                r.email,
                int(r.active),
            ),
            from_row=lambda r: PractitionerRow(
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8])
            ),
        )
        # Directory events name the aggregate by its uuid; the row key is the code,
        # which the creating event carries. Remember the mapping as we go.
        self._codes: dict[Any, str] = {}

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        agencies = [e for e in items if e.topic in _AGENCY_EVENTS]
        people = [e for e in items if e.topic in _PRACTITIONER_EVENTS]
        if not agencies and not people:
            return
        self._learn_codes(tx, agencies, people)
        self.agencies.load(tx, (self._codes[e.originator_id] for e in agencies))
        self.practitioners.load(tx, (self._codes[e.originator_id] for e in people))
        for item in agencies:
            key = self._codes[item.originator_id]
            self.agencies.put(key, evolve_agency(self.agencies.get(key), item.event))
        for item in people:
            key = self._codes[item.originator_id]
            self.practitioners.put(
                key, evolve_practitioner(self.practitioners.get(key), item.event)
            )
        self.agencies.flush(tx)
        self.practitioners.flush(tx)

    def _learn_codes(self, tx: Tx, agencies: list[Envelope], people: list[Envelope]) -> None:
        for item in agencies:
            if isinstance(item.event, Agency.Registered):
                self._codes[item.originator_id] = item.event.code
        for item in people:
            if isinstance(item.event, Practitioner.Enrolled):
                self._codes[item.originator_id] = item.event.practitioner_id
        unknown = {e.originator_id for e in agencies + people if e.originator_id not in self._codes}
        if unknown:
            # Ids are uuid5 of the code: recover codes of rows written in earlier batches.
            for (code,) in tx.fetchall("SELECT agency_id FROM dir_agencies"):
                self._codes[Agency.id_for(str(code))] = str(code)
            for (code,) in tx.fetchall("SELECT practitioner_id FROM dir_practitioners"):
                self._codes[Practitioner.id_for(str(code))] = str(code)
        missing = unknown - set(self._codes)
        if missing:
            raise LookupError(f"directory events for {len(missing)} unregistered entries")

    def forget(self) -> None:
        self.agencies.clear()
        self.practitioners.clear()
        self._codes.clear()
