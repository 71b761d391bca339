"""Builders for sharing-policy cases: viewers, entries, consents, restrictions, standings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID

from carerecord.client_record import ClientRecord
from carerecord.ids import ClientId
from carerecord.policy import (
    Decision,
    SharingState,
    ViewerRelationship,
    decide_entry,
    viewer_key,
)
from carerecord.protocol import AGENCY_SYSTEM, Protocol, bundled_document, parse_protocol
from carerecord.values import (
    AudienceSelector,
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    ConsentScope,
    Demographics,
    Labels,
    Restriction,
    Viewer,
)
from carerecord.vocab import (
    ConsentDecisionKind,
    ConsentGiver,
    LawfulBasis,
    Purpose,
    RelationshipKind,
    RestrictionRequester,
    Role,
    Sector,
    Sensitivity,
    ViewerKind,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLIENT_ID = "7d1f3b7e-5b1a-4c55-9a51-1c2b3d4e5f60"

AGENCY_SECTORS = {
    "gp-north": Sector.HEALTH,
    "gp-south": Sector.HEALTH,
    "community-health": Sector.HEALTH,
    "mh-trust": Sector.HEALTH,
    "ambulance": Sector.HEALTH,
    "adult-care": Sector.SOCIAL_CARE,
    "children-north": Sector.SOCIAL_CARE,
    "police": Sector.POLICE,
    "housing": Sector.HOUSING,
    "school": Sector.EDUCATION,
    "charity": Sector.VOLUNTARY,
}


@cache
def document(version: int) -> dict[str, Any]:
    return bundled_document(version)


@cache
def protocol(version: int) -> Protocol:
    return parse_protocol(document(version))


def profession_sector(profession: str, version: int = 1) -> Sector:
    return Sector(document(version)["professions"][profession]["sector"])


def practitioner(
    profession: str,
    agency: str,
    *roles: Role,
    practitioner_id: str | None = None,
    sector: Sector | None = None,
) -> Viewer:
    """A practitioner as ``resolve_actor`` completes them (sector is their agency's)."""
    return Viewer(
        kind=ViewerKind.PRACTITIONER,
        agency_id=agency,
        sector=sector or AGENCY_SECTORS.get(agency) or profession_sector(profession),
        profession=profession,
        practitioner_id=practitioner_id or f"{profession}-at-{agency}",
        roles=frozenset(roles or (Role.PRACTITIONER,)),
    )


def agency_system(agency: str, sector: Sector | None = None) -> Viewer:
    return Viewer(
        kind=ViewerKind.AGENCY_SYSTEM,
        agency_id=agency,
        sector=sector or AGENCY_SECTORS[agency],
        profession=AGENCY_SYSTEM,
    )


def the_client(client_id: str = CLIENT_ID) -> Viewer:
    return Viewer(kind=ViewerKind.CLIENT, client_id=client_id)


def decided(
    viewer: Viewer,
    purpose: Purpose,
    labels: Labels,
    state: SharingState,
    relationship: ViewerRelationship,
    protocol: Protocol,
    now: datetime | None,
) -> Decision:
    """The policy's decision on a case given as a viewer and an entry's labels, converted
    to the policy's keys as the read path converts them."""
    return decide_entry(viewer_key(viewer), purpose, labels, state, relationship, protocol, now)


def heading_for(profession: str, category: str, version: int = 1) -> str | None:
    headings = document(version)["professions"][profession]["headings"]
    return next((h for h, c in headings.items() if c == category), None)


def contributor_for(category: str, version: int = 1) -> tuple[str, str]:
    """The first profession (in the document's order) with a heading for ``category``."""
    for profession in document(version)["professions"]:
        heading = heading_for(profession, category, version)
        if heading is not None:
            return profession, heading
    raise LookupError(category)


def floor(category: str, version: int = 1) -> Sensitivity:
    return Sensitivity(document(version)["categories"][category].get("min_sensitivity", "normal"))


def entry(
    category: str,
    *,
    by: str | None = None,
    agency: str = "gp-north",
    sensitivity: Sensitivity | None = None,
    basis: LawfulBasis = LawfulBasis.CONSENT,
    exemption: str | None = None,
    entry_id: str = "entry-1",
    heading: str | None = None,
) -> Labels:
    """The labels of an entry in ``category`` (by default at the category's minimum)."""
    profession, default_heading = (
        (by, heading_for(by, category)) if by else contributor_for(category)
    )
    return Labels(
        entry_id=entry_id,
        agency_id=agency,
        sector=AGENCY_SECTORS.get(agency) or profession_sector(profession),
        author_id=f"{profession}-author",
        profession=profession,
        category=category,
        heading=heading or default_heading or "Notes",
        sensitivity=sensitivity or floor(category),
        lawful_basis=basis,
        occurred_at=NOW - timedelta(days=3),
        subject_access_exemption=exemption,
    )


def audience(
    *,
    everyone: bool = False,
    agencies: tuple[str, ...] = (),
    sectors: tuple[Sector, ...] = (),
    professions: tuple[str, ...] = (),
) -> AudienceSelector:
    return AudienceSelector(
        frozenset(agencies), frozenset(sectors), frozenset(professions), everyone
    )


def consent(
    decision: ConsentDecisionKind,
    *,
    categories: frozenset[str] | None = None,
    purposes: frozenset[Purpose] | None = None,
    to: AudienceSelector | None = None,
    decided_at: datetime = NOW - timedelta(days=10),
    expires_at: datetime | None = None,
    consent_id: str = "consent-1",
) -> ConsentDecision:
    return ConsentDecision(
        consent_id=consent_id,
        decision=decision,
        scope=ConsentScope(categories, to or audience(everyone=True), purposes),
        given_by=ConsentGiver.CLIENT,
        representative_name=None,
        recorded_by="gp-at-gp-north",
        agency_id="gp-north",
        decided_at=decided_at,
        expires_at=expires_at,
    )


def granted(**scope: Any) -> ConsentDecision:
    return consent(ConsentDecisionKind.GRANTED, **scope)


def refused(**scope: Any) -> ConsentDecision:
    return consent(ConsentDecisionKind.REFUSED, **scope)


def sealed(
    *,
    entry_id: str | None = None,
    category: str | None = None,
    hidden_from: AudienceSelector | None = None,
    requested_by: RestrictionRequester = RestrictionRequester.CLIENT,
    placed_by_agency: str = "gp-north",
    restriction_id: str = "restriction-1",
) -> Restriction:
    return Restriction(
        restriction_id=restriction_id,
        entry_id=entry_id,
        category=category,
        hidden_from=hidden_from or audience(everyone=True),
        requested_by=requested_by,
        placed_by="gp-at-gp-north",
        agency_id=placed_by_agency,
        placed_at=NOW - timedelta(days=1),
    )


def state(*items: ConsentDecision | Restriction) -> SharingState:
    return SharingState(
        consents=tuple(i for i in items if isinstance(i, ConsentDecision)),
        restrictions=tuple(i for i in items if isinstance(i, Restriction)),
    )


CARE = ViewerRelationship(RelationshipKind.CARE, relationship_id="relationship-1")
NONE = ViewerRelationship(RelationshipKind.NONE)
SELF = ViewerRelationship(RelationshipKind.SELF)


def break_glass(
    viewer: Viewer,
    *,
    active: bool = True,
    purpose: Purpose = Purpose.EMERGENCY,
) -> ViewerRelationship:
    granted_at = NOW - timedelta(minutes=30) if active else NOW - timedelta(hours=3)
    return ViewerRelationship(
        RelationshipKind.BREAK_GLASS,
        grant=BreakGlassGrant(
            grant_id="grant-1",
            practitioner_id=viewer.practitioner_id or "nobody",
            agency_id=viewer.agency_id or "nowhere",
            profession=viewer.profession or "none",
            purpose=purpose,
            granted_at=granted_at,
            expires_at=granted_at + timedelta(hours=1),
        ),
    )


@cache
def withdrawn_state() -> SharingState:
    """The sharing state the aggregate keeps after a grant for everyone was withdrawn."""
    gp = practitioner("gp", "gp-north")
    record = ClientRecord.register(
        client_id=ClientId(UUID(CLIENT_ID)),
        nhs_number=None,
        local_ids={"north-shire": "NS1"},
        demographics=Demographics("Ann", "Bell", date(1950, 1, 1)),
        actor=gp,
        at=NOW - timedelta(days=20),
    )
    record.start_care_relationship(
        CareRelationship(
            "relationship-1",
            gp.practitioner_id,
            None,
            "gp-north",
            "gp",
            "Registered",
            str(gp.practitioner_id),
            NOW,
        ),
        actor=gp,
    )
    record.record_consent(granted(), actor=gp, now=NOW)
    record.withdraw_consent(
        "consent-1", reason="Changed mind", actor=gp, now=NOW, at=NOW - timedelta(days=1)
    )
    return record.sharing_state()
