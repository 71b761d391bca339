"""Immutable values carried by events and read by the sharing policy.

Each value knows how to turn itself into JSON-native data and back
(``to_json`` / ``from_json``); the transcoder tags them by ``json_name`` so stored
events decode to the same objects (sets become sorted lists on the way out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Protocol, Self

from carerecord.codec import codec
from carerecord.vocab import (
    AlertKind,
    BreakGlassOutcome,
    ConsentDecisionKind,
    ConsentGiver,
    LawfulBasis,
    Purpose,
    ReferralStatus,
    RestrictionRequester,
    Role,
    Sector,
    Sensitivity,
    Severity,
    Urgency,
    ViewerKind,
)


class _Immutable:
    """Frozen values are shared, not copied: the application deep-copies cached
    aggregates for every command, and copying thousands of immutable values per
    command was the dominant cost for long records."""

    __slots__ = ()

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


class _Stored(_Immutable):
    """A value events carry: JSON through the one codec (``carerecord.codec``)."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return codec(type(self)).unstructure(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        value: Self = codec(cls).structure(data)
        return value


class JsonValue(Protocol):
    json_name: ClassVar[str]

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self: ...


@dataclass(frozen=True)
class Demographics(_Stored):
    """Who the client is. Corrections replace the whole value (a new fact)."""

    json_name: ClassVar[str] = "demographics"

    given_name: str
    family_name: str
    date_of_birth: date
    gender: str | None = None
    postcode: str | None = None
    preferred_language: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)  # slots: built for every entry a read decodes
class Labels(_Stored):
    """The sharing labels of one contribution (or alert), fixed when it is written."""

    json_name: ClassVar[str] = "labels"

    entry_id: str
    agency_id: str
    sector: Sector
    author_id: str
    profession: str
    category: str
    heading: str
    sensitivity: Sensitivity
    lawful_basis: LawfulBasis
    occurred_at: datetime
    subject_access_exemption: str | None = None


@dataclass(frozen=True)
class AudienceSelector(_Stored):
    """A set of audiences: any listed agency, sector or profession matches (a union).

    ``everyone`` matches every practitioner and agency system. An empty selector
    matches nobody.
    """

    json_name: ClassVar[str] = "audience"

    agencies: frozenset[str] = frozenset()
    sectors: frozenset[Sector] = frozenset()
    professions: frozenset[str] = frozenset()
    everyone: bool = False

    def matches(self, agency_id: str | None, sector: Sector | None, profession: str | None) -> bool:
        if self.everyone:
            return True
        return (
            (agency_id is not None and agency_id in self.agencies)
            or (sector is not None and sector in self.sectors)
            or (profession is not None and profession in self.professions)
        )

    def is_empty(self) -> bool:
        return not (self.everyone or self.agencies or self.sectors or self.professions)


@dataclass(frozen=True)
class ConsentScope(_Stored):
    """What a consent decision covers. ``None`` means "all" for that dimension."""

    json_name: ClassVar[str] = "consent_scope"

    categories: frozenset[str] | None = None
    audience: AudienceSelector = field(default_factory=lambda: AudienceSelector(everyone=True))
    purposes: frozenset[Purpose] | None = None

    def covers(
        self,
        category: str,
        agency_id: str | None,
        sector: Sector | None,
        profession: str | None,
        purpose: Purpose,
    ) -> bool:
        return (
            (self.categories is None or category in self.categories)
            and (self.purposes is None or purpose in self.purposes)
            and self.audience.matches(agency_id, sector, profession)
        )


@dataclass(frozen=True)
class ConsentDecision(_Stored):
    """A consent decision in force (granted or refused), as the policy reads it."""

    json_name: ClassVar[str] = "consent_decision"

    consent_id: str
    decision: ConsentDecisionKind
    scope: ConsentScope
    given_by: ConsentGiver
    representative_name: str | None
    recorded_by: str
    agency_id: str
    decided_at: datetime
    expires_at: datetime | None = None

    def in_force_at(self, now: datetime) -> bool:
        return self.decided_at <= now and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class Restriction(_Stored):
    """A "sealed" entry or category, hidden from named audiences."""

    json_name: ClassVar[str] = "restriction"

    restriction_id: str
    entry_id: str | None
    category: str | None
    hidden_from: AudienceSelector
    requested_by: RestrictionRequester
    placed_by: str
    agency_id: str
    placed_at: datetime

    def covers(self, entry_id: str, category: str) -> bool:
        return (self.entry_id is not None and self.entry_id == entry_id) or (
            self.category is not None and self.category == category
        )


@dataclass(frozen=True)
class CareRelationship(_Stored):
    """A practitioner's (or a team's) legitimate relationship with the client."""

    json_name: ClassVar[str] = "care_relationship"

    relationship_id: str
    practitioner_id: str | None
    team_id: str | None
    agency_id: str
    profession: str | None
    reason: str
    started_by: str
    started_at: datetime


@dataclass(frozen=True)
class BreakGlassGrant(_Stored):
    """Time-boxed, justified emergency access for one practitioner."""

    json_name: ClassVar[str] = "break_glass_grant"

    grant_id: str
    practitioner_id: str
    agency_id: str
    profession: str
    purpose: Purpose
    granted_at: datetime
    expires_at: datetime
    review_outcome: BreakGlassOutcome | None = None
    reviewed_by: str | None = None

    def active_at(self, now: datetime) -> bool:
        return self.granted_at <= now < self.expires_at


@dataclass(frozen=True)
class ContributionMeta(_Stored):
    """What the aggregate keeps about an entry: enough to guard amendments."""

    json_name: ClassVar[str] = "contribution_meta"

    author_id: str
    agency_id: str
    category: str
    in_error: bool = False


@dataclass(frozen=True)
class ReferralState(_Stored):
    json_name: ClassVar[str] = "referral_state"

    from_agency: str
    to_agency: str
    status: ReferralStatus
    urgency: Urgency
    due_by: datetime


@dataclass(frozen=True)
class AlertState(_Stored):
    json_name: ClassVar[str] = "alert_state"

    kind: AlertKind
    severity: Severity
    agency_id: str
    raised_by: str
    category: str


@dataclass(frozen=True)
class Viewer(_Immutable):
    """Who is reading, as established by authentication (never by request bodies)."""

    kind: ViewerKind
    agency_id: str | None = None
    sector: Sector | None = None
    profession: str | None = None
    practitioner_id: str | None = None
    roles: frozenset[Role] = frozenset()
    teams: frozenset[str] = frozenset()
    client_id: str | None = None

    @property
    def scope(self) -> str:
        """Whom something a caller holds belongs to (their cursors, their idempotency keys):
        the practitioner, the agency's system, or the client."""
        if self.kind is ViewerKind.PRACTITIONER:
            return f"practitioner:{self.practitioner_id}"
        if self.kind is ViewerKind.AGENCY_SYSTEM:
            return f"agency:{self.agency_id}"
        return f"client:{self.client_id}"


JSON_VALUE_TYPES: tuple[type[Any], ...] = (
    Demographics,
    Labels,
    AudienceSelector,
    ConsentScope,
    ConsentDecision,
    Restriction,
    CareRelationship,
    BreakGlassGrant,
    ContributionMeta,
    ReferralState,
    AlertState,
)
