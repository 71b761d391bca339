"""What the read repository returns: plain, immutable values (never rows or aggregates).

Every result that carries a client's data can build the ``AccessRecord`` the API
must write before it answers (``access_record(...)``), with everything an auditor
needs to replay the read exactly: the client's stream version the view reflected
(``view_version``), the aggregate version used for the read-time re-check
(``state_version``), the protocol version in force at the read, the basis, and the
``(entry_id, version)`` items with the ``slice_hash`` of what was returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import uuid4

import orjson

from carerecord.access_log import AccessRecord
from carerecord.ids import ClientId
from carerecord.policy import Decision, ViewerRelationship
from carerecord.slice import SharedEntry, slice_hash
from carerecord.values import Viewer
from carerecord.vocab import Purpose, RelationshipKind

T = TypeVar("T")

BasisKind = Literal[
    "care_relationship", "break_glass", "subject_access", "open_referral", "agency_involvement"
]
"""Why the caller may read: their own standing (care relationship, break-glass, the client
themself), an open referral addressed to their agency (involvement index only), or their
agency's involvement (safeguarding leads' concern summaries)."""
ReferralDirection = Literal["incoming", "outgoing", "overdue"]


@dataclass(frozen=True)
class ReadBasis:
    """Why the caller may read this client at all (their standing at the read)."""

    kind: BasisKind
    relationship_id: str | None = None
    grant_id: str | None = None


def basis_of(standing: ViewerRelationship) -> ReadBasis:
    """The read basis of a standing towards a client (care, break-glass, self)."""
    if standing.kind is RelationshipKind.BREAK_GLASS:
        grant = standing.grant
        return ReadBasis("break_glass", grant_id=None if grant is None else grant.grant_id)
    if standing.kind is RelationshipKind.SELF:
        return ReadBasis("subject_access")
    return ReadBasis("care_relationship", relationship_id=standing.relationship_id)


def _record(
    *,
    caller: Viewer,
    purpose: str,
    basis: ReadBasis,
    client_id: str | None,
    items: tuple[tuple[str, int], ...],
    response_hash: str,
    request_id: str,
    action: str,
    at: datetime,
    view_version: int | None,
    state_version: int | None,
    protocol_version: int | None,
    access_id: str | None,
) -> AccessRecord:
    return AccessRecord(
        access_id=access_id or str(uuid4()),
        at=at,
        request_id=request_id,
        action=action,
        viewer_kind=caller.kind.value,
        practitioner_id=caller.practitioner_id,
        agency_id=caller.agency_id,
        profession=caller.profession,
        roles=tuple(sorted(r.value for r in caller.roles)),
        purpose=purpose,
        basis=basis.kind,
        client_id=client_id,
        items=items,
        response_hash=response_hash,
        view_version=view_version,
        state_version=state_version,
        protocol_version=protocol_version,
        grant_id=basis.grant_id,
    )


def json_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON of a non-slice result (involvement, summaries)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


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
        return _record(
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
        return _record(
            caller=self.caller,
            purpose=Purpose.DIRECT_CARE.value
            if self.basis.kind != "subject_access"
            else Purpose.SUBJECT_ACCESS.value,
            basis=self.basis,
            client_id=str(self.client_id),
            items=(),
            response_hash=json_hash(self.to_json()),
            request_id=request_id,
            action=action,
            at=at,
            view_version=self.view_version,
            state_version=self.state_version,
            protocol_version=self.protocol_version,
            access_id=access_id,
        )


# --- lists ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. Pass ``next_after`` back as ``after`` for the next page;
    ``None`` means there is nothing more (right now)."""

    items: tuple[T, ...]
    next_after: str | None


@dataclass(frozen=True)
class CaseloadItem:
    """A client on the caller's (or their team's) caseload."""

    client_id: ClientId
    given_name: str
    family_name: str
    date_of_birth: str
    relationship_id: str
    via_team: str | None
    since: datetime


@dataclass(frozen=True)
class ReferralItem:
    """A referral between two agencies, as either party sees it."""

    referral_id: str
    client_id: ClientId
    from_agency: str
    to_agency: str
    category: str
    urgency: str
    status: str
    reason: str
    sent_by: str
    sent_at: datetime
    due_by: datetime
    acknowledged_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None
    overdue: bool
    response_seconds: float | None


@dataclass(frozen=True)
class ReferralStats:
    """Response times of the referrals an agency received (or sent)."""

    agency_id: str
    direction: Literal["incoming", "outgoing"]
    total: int
    open: int
    overdue: int
    responded: int
    median_response_seconds: float | None
    p90_response_seconds: float | None


@dataclass(frozen=True)
class ConcernItem:
    """One alert or safeguarding entry about the client. ``kind`` and ``severity`` are
    shown only when the policy lets the caller see the entry itself."""

    entry_id: str
    agency_id: str
    occurred_at: datetime
    resolved: bool
    kind: str | None
    severity: str | None


@dataclass(frozen=True)
class ConcernSummary:
    """Concerns about one client across agencies; ``flagged`` when several agencies
    raised concerns within the configured window."""

    client_id: ClientId
    flagged: bool
    window_days: int
    agencies: tuple[str, ...]
    concern_count: int
    open_count: int
    first_at: datetime | None
    last_at: datetime | None
    concerns: tuple[ConcernItem, ...]
    state_version: int = 0
    protocol_version: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": str(self.client_id),
            "flagged": self.flagged,
            "agencies": list(self.agencies),
            "concerns": [
                [c.entry_id, c.agency_id, c.occurred_at.isoformat(), c.resolved, c.kind]
                for c in self.concerns
            ],
        }

    def access_record(
        self, caller: Viewer, *, request_id: str, action: str, at: datetime
    ) -> AccessRecord:
        """The access record for showing this summary to ``caller`` (a safeguarding lead)."""
        return _record(
            caller=caller,
            purpose=Purpose.SAFEGUARDING.value,
            basis=ReadBasis("agency_involvement"),
            client_id=str(self.client_id),
            items=(),
            response_hash=json_hash(self.to_json()),
            request_id=request_id,
            action=action,
            at=at,
            view_version=None,
            state_version=self.state_version,
            protocol_version=self.protocol_version,
            access_id=None,
        )


# --- explanation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """Why the caller can (or cannot) see one entry of a client they are involved with.

    ``decision`` is the sharing policy's read-time ``Decision`` (None if the entry
    does not exist on this record); ``in_view`` says whether the caller's curated
    view currently holds the entry (it lags the log by the projection delay).
    """

    client_id: ClientId
    entry_id: str
    purpose: Purpose
    basis: ReadBasis
    found: bool
    in_view: bool
    decision: Decision | None
    entered_in_error: bool = False

    @property
    def visible(self) -> bool:
        return self.found and self.in_view and self.decision is not None and self.decision.allowed


# --- the audience feed ------------------------------------------------------------------

FeedKind = Literal[
    "entry_shared",
    "entry_updated",
    "entry_recalled",
    "alert_raised",
    "alert_resolved",
    "referral_sent",
    "referral_acknowledged",
    "referral_accepted",
    "referral_declined",
    "referral_closed",
    "break_glass_granted",
]


@dataclass(frozen=True)
class BreakGlassNotice:
    """Someone outside the care team used emergency access to the client: who (agency and
    profession), when, until when. The reason is for the reviewing officer only."""

    grant_id: str
    agency_id: str
    profession: str
    purpose: str
    granted_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class FeedItem:
    """One change for the caller's audience. ``event_id`` is stable (also across view
    rebuilds): use it to de-duplicate. ``entry`` is the entry as the caller may see
    it now (None for recalls and referral items); ``referral`` for referral items;
    ``notice`` for break-glass notices."""

    seq: int
    kind: FeedKind
    client_id: ClientId
    event_id: str
    position: int
    entry_id: str | None
    entry: SharedEntry | None
    referral: ReferralItem | None
    notice: BreakGlassNotice | None = None


@dataclass(frozen=True)
class FeedClientRead:
    """What one feed page read of one client rested on (for its access record)."""

    client_id: ClientId
    basis: ReadBasis
    state_version: int
    view_version: int
    items: tuple[tuple[str, int], ...]
    entries: tuple[SharedEntry, ...]


@dataclass(frozen=True)
class FeedPage:
    """Feed items after the cursor; resume from ``next_after`` (a per-audience sequence).

    ``next_after`` always moves past every item scanned, including those filtered
    out for this caller, so a consumer never loops on items it may not see.
    """

    caller: Viewer
    audience: str
    items: tuple[FeedItem, ...]
    next_after: int
    has_more: bool
    protocol_version: int
    read_at: datetime
    reads: tuple[FeedClientRead, ...] = field(default=())

    def access_records(self, *, request_id: str, action: str, at: datetime) -> list[AccessRecord]:
        """One access record per client whose entries this page returned."""
        return [
            _record(
                caller=self.caller,
                purpose=Purpose.DIRECT_CARE.value,
                basis=read.basis,
                client_id=str(read.client_id),
                items=read.items,
                response_hash=slice_hash(read.entries),
                request_id=request_id,
                action=action,
                at=at,
                view_version=read.view_version,
                state_version=read.state_version,
                protocol_version=self.protocol_version,
                access_id=None,
            )
            for read in self.reads
            if read.items
        ]


# --- readiness --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectionStatus:
    """One projection's progress: its tracking position, how far behind the log it is,
    and whether it has stopped on an error."""

    name: str
    position: int
    lag: int
    failed: bool
    error: str | None
    updated_at: str | None


@dataclass(frozen=True)
class Readiness:
    """Health of the read side for ``/readyz``: ready when no projection has failed."""

    head: int
    projections: tuple[ProjectionStatus, ...]

    @property
    def ready(self) -> bool:
        return all(not p.failed for p in self.projections)

    @property
    def max_lag(self) -> int:
        return max((p.lag for p in self.projections), default=0)


def hash_entries(entries: Iterable[SharedEntry]) -> str:
    return slice_hash(entries)
