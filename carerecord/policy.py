"""The sharing policy: one pure function that decides who may see what.

``decide(viewer, purpose, labels, state, relationship, protocol, now)`` is used by
the projections when they build curated views, by the read path when it re-checks
the latest consent state, by the "why can I (not) see this?" explanation and by the
auditors' reconstruction, so there is exactly one definition of who may see what.
It does no I/O and never reads the clock.

The rules, in the order they are applied (the first that decides, wins):

1. Subject access: only the client, for entries not withheld under an exemption
   the protocol names.
2. Audit: only auditors and information-governance officers.
3. The purpose of use must be open to the viewer (protocol ``purposes.who``).
4. A legitimate relationship is required: an active care relationship, or an
   unexpired break-glass grant for a break-glass purpose. No browsing.
5. The purpose must reach the entry's category (e.g. the minimal crisis view).
6. Sensitivity: "restricted" stays in the contributing agency (author's profession
   and those the protocol names); "sensitive" reaches only the protocol's named
   audiences for the category (and the author's own profession in their agency).
7. Restrictions ("sealed") hide what they cover from their audiences; they beat
   everything except the contributing agency itself.
8. The contributing agency sees its own entries (it is their controller).
9. Lawful bases other than consent, and break-glass, allow sharing without
   consent where the protocol says so; a refusal still wins unless the rule
   overrides refusals.
10. Consent: a refusal in scope denies; a grant in scope allows.
11. Implied consent for direct care within the sectors the protocol names.
12. Otherwise: no consent, no sharing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from carerecord.protocol import Protocol, any_matches
from carerecord.values import (
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    Labels,
    Restriction,
    Viewer,
)
from carerecord.vocab import (
    ConsentDecisionKind,
    Purpose,
    RelationshipKind,
    Role,
    Sensitivity,
    ViewerKind,
)

AUDIT_ROLES = frozenset({Role.AUDITOR, Role.IG_OFFICER})


@dataclass(frozen=True)
class SharingState:
    """The client's consent decisions and restrictions in force (withdrawn/lifted removed)."""

    consents: tuple[ConsentDecision, ...] = ()
    restrictions: tuple[Restriction, ...] = ()


@dataclass(frozen=True)
class ViewerRelationship:
    """How the viewer stands towards the client at the time of the decision."""

    kind: RelationshipKind
    grant: BreakGlassGrant | None = None
    relationship_id: str | None = None


NO_RELATIONSHIP = ViewerRelationship(RelationshipKind.NONE)
CARE = ViewerRelationship(RelationshipKind.CARE)
SELF = ViewerRelationship(RelationshipKind.SELF)


@dataclass(frozen=True)
class Decision:
    """The outcome for one entry: allowed or not, which rule and basis decided, and why."""

    allowed: bool
    rule: str
    basis: str | None
    reason: str
    redactions: frozenset[str] = frozenset()
    protocol_version: int = 0


def _deny(rule: str, reason: str, protocol: Protocol) -> Decision:
    return Decision(False, rule, None, reason, frozenset(), protocol.version)


def _allow(
    rule: str,
    basis: str,
    reason: str,
    protocol: Protocol,
    redactions: frozenset[str] = frozenset(),
) -> Decision:
    return Decision(True, rule, basis, reason, redactions, protocol.version)


def decide(
    viewer: Viewer,
    purpose: Purpose,
    labels: Labels,
    state: SharingState,
    relationship: ViewerRelationship,
    protocol: Protocol,
    now: datetime | None,
) -> Decision:
    """Decide whether ``viewer`` may see the entry with ``labels`` for ``purpose`` at ``now``.

    ``now=None`` is the projection-time decision: time limits (consent expiry,
    break-glass expiry) are not applied, which can only allow more than a decision
    at any real time; the read path always re-decides with the real time.
    """
    if purpose is Purpose.SUBJECT_ACCESS:
        return _subject_access(viewer, labels, relationship, protocol)
    if viewer.kind is ViewerKind.CLIENT:
        return _deny(
            "purpose-not-permitted",
            "A client reads their own record through subject access only.",
            protocol,
        )
    if purpose is Purpose.AUDIT:
        if viewer.roles & AUDIT_ROLES:
            return _allow("audit", "audit", "Auditors may read records to audit them.", protocol)
        return _deny(
            "audit-role-required",
            "Only auditors and information-governance officers may read for audit.",
            protocol,
        )

    purpose_rule = protocol.purposes.get(purpose)
    if purpose_rule is None or not any_matches(purpose_rule.who, viewer, purpose):
        return _deny(
            "purpose-not-permitted",
            f"The protocol does not open the purpose '{purpose.value}' to your profession or role.",
            protocol,
        )

    if relationship.kind is RelationshipKind.BREAK_GLASS:
        grant = relationship.grant
        if grant is None or (now is not None and not grant.active_at(now)):
            return _deny("break-glass-expired", "Your break-glass access has expired.", protocol)
        if purpose not in protocol.break_glass.purposes or purpose is not grant.purpose:
            return _deny(
                "break-glass-purpose",
                "Break-glass access covers only the emergency purpose it was granted for.",
                protocol,
            )
    elif relationship.kind is not RelationshipKind.CARE:
        return _deny(
            "no-relationship",
            "You have no active care relationship with this client.",
            protocol,
        )

    if purpose_rule.categories is not None and labels.category not in purpose_rule.categories:
        return _deny(
            "category-outside-purpose",
            f"The purpose '{purpose.value}' does not reach the category '{labels.category}'.",
            protocol,
        )

    own_agency = viewer.agency_id is not None and viewer.agency_id == labels.agency_id
    own_profession = own_agency and viewer.profession == labels.profession

    if labels.sensitivity is Sensitivity.RESTRICTED:
        if not own_agency or not (
            own_profession or viewer.profession in protocol.restricted_audience(labels.category)
        ):
            return _deny(
                "restricted-sensitivity",
                "This entry is restricted to the contributing agency's named professions.",
                protocol,
            )
    elif labels.sensitivity is Sensitivity.SENSITIVE and not (
        own_profession or any_matches(protocol.sensitive_audience(labels.category), viewer, purpose)
    ):
        return _deny(
            "sensitive-audience",
            f"Sensitive '{labels.category}' entries are shared only with the audiences "
            "the protocol names.",
            protocol,
        )

    if not own_agency:
        for restriction in state.restrictions:
            if restriction.covers(labels.entry_id, labels.category) and (
                restriction.hidden_from.matches(viewer.agency_id, viewer.sector, viewer.profession)
            ):
                return _deny(
                    "restricted-by-request",
                    "This entry is sealed from your audience at the request of the "
                    f"{restriction.requested_by.value}.",
                    protocol,
                )

    redactions = _redactions(viewer, purpose, protocol)
    if own_agency:
        return _allow(
            "own-agency",
            "controller",
            "Your agency contributed this entry.",
            protocol,
        )

    exceptions = _exceptions(viewer, purpose, labels, relationship, protocol)
    covering = [
        c
        for c in state.consents
        if _counts(c, now)
        and c.scope.covers(
            labels.category, viewer.agency_id, viewer.sector, viewer.profession, purpose
        )
    ]
    refused = any(c.decision is ConsentDecisionKind.REFUSED for c in covering)
    if refused:
        overriding = next((e for e in exceptions if e[2]), None)
        if overriding is not None:
            rule, basis, _ = overriding
            return _allow(
                rule,
                basis,
                f"Shared without consent, overriding a refusal, under '{basis}' "
                "as the protocol allows.",
                protocol,
                redactions,
            )
        return _deny(
            "consent-refused",
            "The client (or their representative) has refused consent to this sharing.",
            protocol,
        )
    if exceptions:
        rule, basis, _ = exceptions[0]
        return _allow(
            rule,
            basis,
            f"Shared without consent under '{basis}' as the protocol allows.",
            protocol,
            redactions,
        )
    if any(c.decision is ConsentDecisionKind.GRANTED for c in covering):
        return _allow(
            "consent",
            "consent",
            "The client (or their representative) has consented to this sharing.",
            protocol,
            redactions,
        )
    for implied in protocol.implied_consent:
        if (
            purpose in implied.purposes
            and viewer.sector in implied.sectors
            and labels.sector in implied.sectors
        ):
            return _allow(
                "implied-consent",
                "implied_consent",
                "Shared for direct care between services where consent is implied.",
                protocol,
                redactions,
            )
    return _deny(
        "no-consent",
        "There is no consent or other lawful basis for sharing this entry with you.",
        protocol,
    )


def decision_key(labels: Labels, state: SharingState) -> tuple[object, ...]:
    """Exactly what ``decide`` reads of an entry: its labels apart from id, author, heading
    and time, plus which of the client's restrictions cover it. Two entries with the same
    key get the same decision for the same viewer, purpose, state, standing, protocol and
    time (a test holds ``decide`` to this)."""
    covering = tuple(
        i for i, r in enumerate(state.restrictions) if r.covers(labels.entry_id, labels.category)
    )
    return (
        labels.agency_id,
        labels.sector,
        labels.profession,
        labels.category,
        labels.sensitivity,
        labels.lawful_basis,
        labels.subject_access_exemption,
        covering,
    )


def decide_many(
    viewer: Viewer,
    purpose: Purpose,
    labels: Iterable[Labels],
    state: SharingState,
    relationship: ViewerRelationship,
    protocol: Protocol,
    now: datetime | None,
) -> list[Decision]:
    """``decide`` for many entries of one client at once (a read of a whole slice): each
    distinct ``decision_key`` is decided once. The same answers as deciding one by one."""
    memo: dict[tuple[object, ...], Decision] = {}
    found = []
    for entry in labels:
        key = decision_key(entry, state)
        decision = memo.get(key)
        if decision is None:
            decision = memo[key] = decide(
                viewer, purpose, entry, state, relationship, protocol, now
            )
        found.append(decision)
    return found


def _counts(consent: ConsentDecision, now: datetime | None) -> bool:
    """Whether a consent decision counts for this decision.

    At projection time (``now=None``) only time limits that could narrow access are
    lifted: a grant counts however old, but a refusal that lapses does not, since it may
    have lapsed by the time of any read (which re-decides with the real time). Counting
    it would keep the entry out of the view for ever after the refusal expired.
    """
    if now is not None:
        return consent.in_force_at(now)
    return consent.decision is ConsentDecisionKind.GRANTED or consent.expires_at is None


def _subject_access(
    viewer: Viewer, labels: Labels, relationship: ViewerRelationship, protocol: Protocol
) -> Decision:
    if viewer.kind is not ViewerKind.CLIENT or relationship.kind is not RelationshipKind.SELF:
        return _deny(
            "subject-access-self-only",
            "Subject access is only for the client or their authorised representative.",
            protocol,
        )
    exemption = labels.subject_access_exemption
    if exemption is not None:
        title = protocol.subject_access_exemptions.get(exemption, exemption)
        return _deny(
            "exempt-from-subject-access",
            f"Withheld from subject access under a lawful exception: {title}.",
            protocol,
        )
    return _allow("subject-access", "subject_access", "This is your own record.", protocol)


def _exceptions(
    viewer: Viewer,
    purpose: Purpose,
    labels: Labels,
    relationship: ViewerRelationship,
    protocol: Protocol,
) -> list[tuple[str, str, bool]]:
    """Bases for sharing without consent: (rule, basis, overrides_refusal), in preference order."""
    found = []
    rule = protocol.lawful_bases.get(labels.lawful_basis)
    if rule is not None and purpose in rule.purposes and any_matches(rule.who, viewer, purpose):
        found.append(("lawful-basis", labels.lawful_basis.value, rule.overrides_refusal))
    if relationship.kind is RelationshipKind.BREAK_GLASS:
        found.append(("break-glass", "break_glass", protocol.break_glass.overrides_refusal))
    return found


def _redactions(viewer: Viewer, purpose: Purpose, protocol: Protocol) -> frozenset[str]:
    fields: frozenset[str] = frozenset()
    for rule in protocol.redactions:
        if any_matches(rule.who, viewer, purpose):
            fields |= rule.fields
    return fields


# --- relationships --------------------------------------------------------------------


def relationship_for(
    viewer: Viewer,
    client_id: str,
    relationships: Iterable[CareRelationship],
    grants: Iterable[BreakGlassGrant],
    now: datetime,
) -> ViewerRelationship:
    """How ``viewer`` stands towards the client, from the client's active relationships.

    A practitioner has a care relationship if one names them, or names a team they
    belong to in their agency; an agency system if any active relationship is with
    its agency. Otherwise an unexpired break-glass grant gives break-glass standing.
    """
    if viewer.kind is ViewerKind.CLIENT:
        return SELF if viewer.client_id == client_id else NO_RELATIONSHIP
    for rel in relationships:
        if rel.agency_id != viewer.agency_id:
            continue
        if viewer.kind is ViewerKind.AGENCY_SYSTEM:
            return ViewerRelationship(RelationshipKind.CARE, relationship_id=rel.relationship_id)
        if (rel.practitioner_id is not None and rel.practitioner_id == viewer.practitioner_id) or (
            rel.team_id is not None and rel.team_id in viewer.teams
        ):
            return ViewerRelationship(RelationshipKind.CARE, relationship_id=rel.relationship_id)
    if viewer.kind is ViewerKind.PRACTITIONER:
        for grant in grants:
            if grant.practitioner_id == viewer.practitioner_id and grant.active_at(now):
                return ViewerRelationship(RelationshipKind.BREAK_GLASS, grant=grant)
    return NO_RELATIONSHIP
