"""Immutable values carried by events and read by the sharing policy.

Each value knows how to turn itself into JSON-native data and back
(``to_json`` / ``from_json``); the transcoder tags them by ``json_name`` so stored
events decode to the same objects (sets become sorted lists on the way out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Protocol, Self

from carerecord.vocab import (
    LAWFUL_BASES,
    SECTORS,
    SENSITIVITIES,
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
    command was the dominant cost for long records (10.6 ms at 1,000 entries)."""

    __slots__ = ()

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


class JsonValue(Protocol):
    json_name: ClassVar[str]

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self: ...


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class Demographics(_Immutable):
    """Who the client is. Corrections replace the whole value (a new fact)."""

    json_name: ClassVar[str] = "demographics"

    given_name: str
    family_name: str
    date_of_birth: date
    gender: str | None = None
    postcode: str | None = None
    preferred_language: str | None = None
    phone: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "gender": self.gender,
            "postcode": self.postcode,
            "preferred_language": self.preferred_language,
            "phone": self.phone,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Demographics:
        return cls(
            given_name=data["given_name"],
            family_name=data["family_name"],
            date_of_birth=date.fromisoformat(data["date_of_birth"]),
            gender=data.get("gender"),
            postcode=data.get("postcode"),
            preferred_language=data.get("preferred_language"),
            phone=data.get("phone"),
        )


@dataclass(frozen=True, slots=True)  # slots: built for every entry a read decodes
class Labels(_Immutable):
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

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "agency_id": self.agency_id,
            "sector": self.sector.value,
            "author_id": self.author_id,
            "profession": self.profession,
            "category": self.category,
            "heading": self.heading,
            "sensitivity": self.sensitivity.value,
            "lawful_basis": self.lawful_basis.value,
            "occurred_at": self.occurred_at.isoformat(),
            "subject_access_exemption": self.subject_access_exemption,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Labels:
        return cls(
            entry_id=data["entry_id"],
            agency_id=data["agency_id"],
            sector=SECTORS[data["sector"]],
            author_id=data["author_id"],
            profession=data["profession"],
            category=data["category"],
            heading=data["heading"],
            sensitivity=SENSITIVITIES[data["sensitivity"]],
            lawful_basis=LAWFUL_BASES[data["lawful_basis"]],
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            subject_access_exemption=data.get("subject_access_exemption"),
        )


@dataclass(frozen=True)
class AudienceSelector(_Immutable):
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

    def to_json(self) -> dict[str, Any]:
        return {
            "agencies": sorted(self.agencies),
            "sectors": sorted(s.value for s in self.sectors),
            "professions": sorted(self.professions),
            "everyone": self.everyone,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AudienceSelector:
        return cls(
            agencies=frozenset(data.get("agencies", ())),
            sectors=frozenset(Sector(s) for s in data.get("sectors", ())),
            professions=frozenset(data.get("professions", ())),
            everyone=bool(data.get("everyone", False)),
        )


@dataclass(frozen=True)
class ConsentScope(_Immutable):
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

    def to_json(self) -> dict[str, Any]:
        return {
            "categories": None if self.categories is None else sorted(self.categories),
            "audience": self.audience.to_json(),
            "purposes": None if self.purposes is None else sorted(p.value for p in self.purposes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConsentScope:
        categories = data.get("categories")
        purposes = data.get("purposes")
        return cls(
            categories=None if categories is None else frozenset(categories),
            audience=AudienceSelector.from_json(data["audience"]),
            purposes=None if purposes is None else frozenset(Purpose(p) for p in purposes),
        )


@dataclass(frozen=True)
class ConsentDecision(_Immutable):
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

    def to_json(self) -> dict[str, Any]:
        return {
            "consent_id": self.consent_id,
            "decision": self.decision.value,
            "scope": self.scope.to_json(),
            "given_by": self.given_by.value,
            "representative_name": self.representative_name,
            "recorded_by": self.recorded_by,
            "agency_id": self.agency_id,
            "decided_at": self.decided_at.isoformat(),
            "expires_at": _iso(self.expires_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConsentDecision:
        return cls(
            consent_id=data["consent_id"],
            decision=ConsentDecisionKind(data["decision"]),
            scope=ConsentScope.from_json(data["scope"]),
            given_by=ConsentGiver(data["given_by"]),
            representative_name=data.get("representative_name"),
            recorded_by=data["recorded_by"],
            agency_id=data["agency_id"],
            decided_at=datetime.fromisoformat(data["decided_at"]),
            expires_at=_dt(data.get("expires_at")),
        )


@dataclass(frozen=True)
class Restriction(_Immutable):
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

    def to_json(self) -> dict[str, Any]:
        return {
            "restriction_id": self.restriction_id,
            "entry_id": self.entry_id,
            "category": self.category,
            "hidden_from": self.hidden_from.to_json(),
            "requested_by": self.requested_by.value,
            "placed_by": self.placed_by,
            "agency_id": self.agency_id,
            "placed_at": self.placed_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Restriction:
        return cls(
            restriction_id=data["restriction_id"],
            entry_id=data.get("entry_id"),
            category=data.get("category"),
            hidden_from=AudienceSelector.from_json(data["hidden_from"]),
            requested_by=RestrictionRequester(data["requested_by"]),
            placed_by=data["placed_by"],
            agency_id=data["agency_id"],
            placed_at=datetime.fromisoformat(data["placed_at"]),
        )


@dataclass(frozen=True)
class CareRelationship(_Immutable):
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

    def to_json(self) -> dict[str, Any]:
        return {
            "relationship_id": self.relationship_id,
            "practitioner_id": self.practitioner_id,
            "team_id": self.team_id,
            "agency_id": self.agency_id,
            "profession": self.profession,
            "reason": self.reason,
            "started_by": self.started_by,
            "started_at": self.started_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CareRelationship:
        return cls(
            relationship_id=data["relationship_id"],
            practitioner_id=data.get("practitioner_id"),
            team_id=data.get("team_id"),
            agency_id=data["agency_id"],
            profession=data.get("profession"),
            reason=data["reason"],
            started_by=data["started_by"],
            started_at=datetime.fromisoformat(data["started_at"]),
        )


@dataclass(frozen=True)
class BreakGlassGrant(_Immutable):
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

    def to_json(self) -> dict[str, Any]:
        return {
            "grant_id": self.grant_id,
            "practitioner_id": self.practitioner_id,
            "agency_id": self.agency_id,
            "profession": self.profession,
            "purpose": self.purpose.value,
            "granted_at": self.granted_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "review_outcome": None if self.review_outcome is None else self.review_outcome.value,
            "reviewed_by": self.reviewed_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BreakGlassGrant:
        outcome = data.get("review_outcome")
        return cls(
            grant_id=data["grant_id"],
            practitioner_id=data["practitioner_id"],
            agency_id=data["agency_id"],
            profession=data["profession"],
            purpose=Purpose(data["purpose"]),
            granted_at=datetime.fromisoformat(data["granted_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            review_outcome=None if outcome is None else BreakGlassOutcome(outcome),
            reviewed_by=data.get("reviewed_by"),
        )


@dataclass(frozen=True)
class ContributionMeta(_Immutable):
    """What the aggregate keeps about an entry: enough to guard amendments."""

    json_name: ClassVar[str] = "contribution_meta"

    author_id: str
    agency_id: str
    category: str
    in_error: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "author_id": self.author_id,
            "agency_id": self.agency_id,
            "category": self.category,
            "in_error": self.in_error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContributionMeta:
        return cls(
            author_id=data["author_id"],
            agency_id=data["agency_id"],
            category=data["category"],
            in_error=bool(data.get("in_error", False)),
        )


@dataclass(frozen=True)
class ReferralState(_Immutable):
    json_name: ClassVar[str] = "referral_state"

    from_agency: str
    to_agency: str
    status: ReferralStatus
    urgency: Urgency
    due_by: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "from_agency": self.from_agency,
            "to_agency": self.to_agency,
            "status": self.status.value,
            "urgency": self.urgency.value,
            "due_by": self.due_by.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReferralState:
        return cls(
            from_agency=data["from_agency"],
            to_agency=data["to_agency"],
            status=ReferralStatus(data["status"]),
            urgency=Urgency(data["urgency"]),
            due_by=datetime.fromisoformat(data["due_by"]),
        )


@dataclass(frozen=True)
class AlertState(_Immutable):
    json_name: ClassVar[str] = "alert_state"

    kind: AlertKind
    severity: Severity
    agency_id: str
    raised_by: str
    category: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "agency_id": self.agency_id,
            "raised_by": self.raised_by,
            "category": self.category,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertState:
        return cls(
            kind=AlertKind(data["kind"]),
            severity=Severity(data["severity"]),
            agency_id=data["agency_id"],
            raised_by=data["raised_by"],
            category=data["category"],
        )


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
