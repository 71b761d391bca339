"""What the read repository returns: plain, immutable values (never rows or aggregates).

Every result that carries a client's data can build the ``AccessRecord`` the API
must write before it answers (``access_record(...)``), with everything an auditor
needs to replay the read exactly: the client's stream version the view reflected
(``view_version``), the aggregate version used for the read-time re-check
(``state_version``), the protocol version in force at the read, the basis, and the
``(entry_id, version)`` items with the ``slice_hash`` of what was returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carerecord.access_log import AccessRecord, response_hash
from carerecord.ids import ClientId
from carerecord.slice import SharedEntry, slice_hash
from carerecord.values import Viewer
from carerecord.vocab import Purpose
from projections.engine.access import ReadBasis, access_record_for

# --- a client's curated slice -----------------------------------------------------------


@dataclass(frozen=True)
class ClientSlice:
    """What ``caller`` may see of one client for ``purpose``: view ∩ read-time policy.

    ``entries`` are in slice order; each is the entry as the view held it (at
    ``view_version``) rendered with the read-time decision (its basis, rule and
    redactions). Entries entered in error never appear; amended entries show the
    current text with ``amended=True``.
    """

    caller: Viewer
    client_id: ClientId
    purpose: Purpose
    basis: ReadBasis
    entries: tuple[SharedEntry, ...]
    view_version: int
    state_version: int
    protocol_version: int
    read_at: datetime

    @property
    def items(self) -> tuple[tuple[str, int], ...]:
        """The ``(entry_id, version)`` pairs returned, for the access log."""
        return tuple((e.entry_id, e.version) for e in self.entries)

    @property
    def response_hash(self) -> str:
        return slice_hash(self.entries)

    def access_record(
        self, *, request_id: str, action: str, at: datetime, access_id: str | None = None
    ) -> AccessRecord:
        """The access record the API must write (durably) before returning this slice."""
        return access_record_for(
            caller=self.caller,
            purpose=self.purpose.value,
            basis=self.basis,
            client_id=str(self.client_id),
            items=self.items,
            response_hash=self.response_hash,
            request_id=request_id,
            action=action,
            at=at,
            view_version=self.view_version,
            state_version=self.state_version,
            protocol_version=self.protocol_version,
            access_id=access_id,
        )


# --- profession overview ----------------------------------------------------------------


@dataclass(frozen=True)
class OverviewSection:
    """One shared category of the overview, as the caller's profession sees it.

    ``headings`` are the caller's own profession's headings that map to this
    category (how they would record it); ``latest_by_profession`` holds the newest
    entry each contributing profession recorded under the category.
    """

    category: str
    title: str
    headings: tuple[str, ...]
    entry_count: int
    agencies: tuple[str, ...]
    professions: tuple[str, ...]
    last_occurred_at: datetime | None
    latest: SharedEntry | None
    latest_by_profession: tuple[SharedEntry, ...]


@dataclass(frozen=True)
class ProfessionOverview:
    """A per-profession summary of a client: the shared categories, built from the slice.

    It is computed from the caller's ``ClientSlice`` (so it shows exactly what the
    caller may see, re-checked at read time); ``slice`` is what to audit.
    """

    slice: ClientSlice
    profession: str | None
    sections: tuple[OverviewSection, ...]

    def access_record(
        self, *, request_id: str, action: str, at: datetime, access_id: str | None = None
    ) -> AccessRecord:
        return self.slice.access_record(
            request_id=request_id, action=action, at=at, access_id=access_id
        )


# --- involvement index ------------------------------------------------------------------


@dataclass(frozen=True)
class InvolvedWorker:
    """A named worker (or a team) involved with the client, and how to reach them."""

    relationship_id: str
    practitioner_id: str | None
    team_id: str | None
    name: str | None
    profession: str | None
    phone: str | None
    email: str | None
    since: datetime


@dataclass(frozen=True)
class InvolvedReferral:
    """An open referral that involves an agency (no reason text: existence only)."""

    referral_id: str
    from_agency: str
    to_agency: str
    status: str
    urgency: str
    due_by: datetime


@dataclass(frozen=True)
class InvolvedAgency:
    """An agency currently involved with the client: its contact details and workers."""

    agency_id: str
    name: str | None
    sector: str | None
    phone: str | None
    email: str | None
    workers: tuple[InvolvedWorker, ...]
    referrals: tuple[InvolvedReferral, ...]


@dataclass(frozen=True)
class Involvement:
    """Which agencies and named workers are involved with a client (no clinical content)."""

    caller: Viewer
    client_id: ClientId
    basis: ReadBasis
    agencies: tuple[InvolvedAgency, ...]
    view_version: int
    state_version: int
    protocol_version: int
    read_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": str(self.client_id),
            "agencies": [
                {
                    "agency_id": a.agency_id,
                    "workers": sorted(w.relationship_id for w in a.workers),
                    "referrals": sorted(r.referral_id for r in a.referrals),
                }
                for a in self.agencies
            ],
        }

    def access_record(
        self, *, request_id: str, action: str, at: datetime, access_id: str | None = None
    ) -> AccessRecord:
        return access_record_for(
            caller=self.caller,
            purpose=Purpose.DIRECT_CARE.value
            if self.basis.kind != "subject_access"
            else Purpose.SUBJECT_ACCESS.value,
            basis=self.basis,
            client_id=str(self.client_id),
            items=(),
            response_hash=response_hash(self.to_json()),
            request_id=request_id,
            action=action,
            at=at,
            view_version=self.view_version,
            state_version=self.state_version,
            protocol_version=self.protocol_version,
            access_id=access_id,
        )


def hash_entries(entries: Iterable[SharedEntry]) -> str:
    return slice_hash(entries)
