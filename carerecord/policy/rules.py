"""The sharing policy's decision: who may see an entry, by which rule and basis.

The rules, in the order they are applied (the first that decides, wins):

1. Subject access: only the client, for entries not withheld under an exemption
   the protocol names.
2. Audit: only auditors and information-governance officers.
3. The purpose of use must be open to the viewer (protocol ``purposes.who``;
   ``purpose_open``).
4. A legitimate relationship is required: an active care relationship, or an
   unexpired break-glass grant for a break-glass purpose. No browsing.
5. The purpose must reach the entry's category (e.g. the minimal crisis view).
5b. Need to know: where the protocol gives the purpose a matrix (``reach``), the
   viewer's audience must need the category - the union of the categories of the
   rows matching the viewer; matching no row reaches nothing. Without a matrix
   (versions 1 and 2) rule 5 alone bounds the purpose.
6. Sensitivity: "restricted" stays in the contributing agency (author's profession
   and those the protocol names); "sensitive" reaches only the protocol's named
   audiences for the category (and the author's own profession in their agency).
7. Restrictions ("sealed") hide what they cover from their audiences; they beat
   everything except the contributing agency itself.
8. The contributing agency sees its own entries (it is their controller).
9. Lawful bases other than consent, and break-glass, allow sharing without
   consent where the protocol says so; a refusal still wins unless the rule
   overrides refusals. Break-glass is such a basis only for the categories
   ``break_glass.reach`` names for the viewer (every category when it names
   none: versions 1 and 2), so a grant never shows more than a care relationship
   would for the emergency purpose plus what the protocol names for break-glass.
10. Consent: a refusal in scope denies; a grant in scope allows.
11. Implied consent for direct care within the sectors the protocol names.
12. Otherwise: no consent, no sharing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from carerecord.policy.keys import (
    Coverage,
    EntryFacts,
    EntryKey,
    SharingState,
    ViewerKey,
    consent_coverage,
    consent_terms,
    coverage,
    decision_key,
    entry_key,
    own_agency,
)
from carerecord.policy.standing import ViewerRelationship
from carerecord.protocol import Protocol, any_matches, matrix_reach
from carerecord.values import Labels
from carerecord.vocab import Purpose, RelationshipKind, Role, Sensitivity, ViewerKind

AUDIT_ROLES = frozenset({Role.AUDITOR, Role.IG_OFFICER})


@dataclass(frozen=True)
class Decision:
    """The outcome for one entry: allowed or not, which rule and basis decided, and why."""

    allowed: bool
    rule: str
    basis: str | None
    reason: str
    redactions: frozenset[str] = frozenset()
    protocol_version: int = 0


def purpose_open(protocol: Protocol, viewer: ViewerKey, purpose: Purpose) -> bool:
    """Whether the protocol opens ``purpose`` to the viewer (rule 3)."""
    rule = protocol.purposes.get(purpose)
    return rule is not None and any_matches(rule.who, viewer, purpose)


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
    viewer: ViewerKey,
    purpose: Purpose,
    entry: EntryKey,
    consent: Coverage,
    relationship: ViewerRelationship,
    protocol: Protocol,
    now: datetime | None,
) -> Decision:
    """Decide whether ``viewer`` may see ``entry`` for ``purpose`` at ``now``, given the
    client's ``consent`` decisions as they cover it (``consent_coverage`` at ``now``).

    ``now=None`` is the projection-time decision: time limits (consent expiry,
    break-glass expiry) are not applied, which can only allow more than a decision
    at any real time; the read path always re-decides with the real time.
    """
    facts = entry.facts
    if purpose is Purpose.SUBJECT_ACCESS:
        return _subject_access(viewer, facts, relationship, protocol)
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

    if not purpose_open(protocol, viewer, purpose):
        return _deny(
            "purpose-not-permitted",
            f"The protocol does not open the purpose '{purpose.value}' to your profession or role.",
            protocol,
        )
    purpose_rule = protocol.purposes[purpose]

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

    if purpose_rule.categories is not None and facts.category not in purpose_rule.categories:
        return _deny(
            "category-outside-purpose",
            f"The purpose '{purpose.value}' does not reach the category '{facts.category}'.",
            protocol,
        )

    if purpose_rule.reach is not None:
        needed = matrix_reach(purpose_rule.reach, viewer, purpose)
        if needed is not None and facts.category not in needed:
            return _deny(
                "category-outside-need-to-know",
                f"The protocol does not give your audience the category '{facts.category}' "
                f"for the purpose '{purpose.value}' (need to know).",
                protocol,
            )

    own = own_agency(viewer, entry)
    own_profession = own and viewer.profession == facts.profession

    if facts.sensitivity is Sensitivity.RESTRICTED:
        if not own or not (
            own_profession or viewer.profession in protocol.restricted_audience(facts.category)
        ):
            return _deny(
                "restricted-sensitivity",
                "This entry is restricted to the contributing agency's named professions.",
                protocol,
            )
    elif facts.sensitivity is Sensitivity.SENSITIVE and not (
        own_profession or any_matches(protocol.sensitive_audience(facts.category), viewer, purpose)
    ):
        return _deny(
            "sensitive-audience",
            f"Sensitive '{facts.category}' entries are shared only with the audiences "
            "the protocol names.",
            protocol,
        )

    if not own:
        for seal in facts.seals:
            if seal.hidden_from.matches(viewer.agency_id, viewer.sector, viewer.profession):
                return _deny(
                    "restricted-by-request",
                    "This entry is sealed from your audience at the request of the "
                    f"{seal.requested_by.value}.",
                    protocol,
                )

    redactions = _redactions(viewer, purpose, protocol)
    if own:
        return _allow(
            "own-agency",
            "controller",
            "Your agency contributed this entry.",
            protocol,
        )

    exceptions = _exceptions(viewer, purpose, facts, relationship, protocol)
    if consent is Coverage.REFUSED:
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
    if consent is Coverage.GRANTED:
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
            and facts.sector in implied.sectors
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


def decide_entry(
    viewer: ViewerKey,
    purpose: Purpose,
    labels: Labels,
    state: SharingState,
    relationship: ViewerRelationship,
    protocol: Protocol,
    now: datetime | None,
) -> Decision:
    """``decide`` for one entry, from its labels and the client's sharing state."""
    entry = entry_key(labels, state.restrictions)
    consent = consent_coverage(state, entry, viewer, purpose, now)
    return decide(viewer, purpose, entry, consent, relationship, protocol, now)


def decide_many(
    viewer: ViewerKey,
    purpose: Purpose,
    labels: Iterable[Labels],
    state: SharingState,
    relationship: ViewerRelationship,
    protocol: Protocol,
    now: datetime | None,
) -> list[Decision]:
    """``decide_entry`` for many entries of one client at once (a read of a whole slice):
    each distinct ``decision_key`` is decided once. The same answers as one by one."""
    terms = consent_terms(state.consents, now)
    restrictions = state.restrictions
    covered: dict[str, Coverage] = {}
    memo: dict[tuple[EntryFacts, bool, Coverage], Decision] = {}
    # For one viewer and state an entry key determines its decision key: entries with
    # the same key (most of a slice) skip deriving it.
    by_entry: dict[EntryKey, Decision] = {}
    found = []
    for entry_labels in labels:
        entry = entry_key(entry_labels, restrictions)
        decision = by_entry.get(entry)
        if decision is None:
            category = entry.facts.category
            consent = covered.get(category)
            if consent is None:
                consent = covered[category] = coverage(terms, category, viewer, purpose)
            key = decision_key(viewer, entry, consent)
            decision = memo.get(key)
            if decision is None:
                decision = memo[key] = decide(
                    viewer, purpose, entry, consent, relationship, protocol, now
                )
            by_entry[entry] = decision
        found.append(decision)
    return found


def _subject_access(
    viewer: ViewerKey, facts: EntryFacts, relationship: ViewerRelationship, protocol: Protocol
) -> Decision:
    if viewer.kind is not ViewerKind.CLIENT or relationship.kind is not RelationshipKind.SELF:
        return _deny(
            "subject-access-self-only",
            "Subject access is only for the client or their authorised representative.",
            protocol,
        )
    exemption = facts.subject_access_exemption
    if exemption is not None:
        title = protocol.subject_access_exemptions.get(exemption, exemption)
        return _deny(
            "exempt-from-subject-access",
            f"Withheld from subject access under a lawful exception: {title}.",
            protocol,
        )
    return _allow("subject-access", "subject_access", "This is your own record.", protocol)


def _exceptions(
    viewer: ViewerKey,
    purpose: Purpose,
    facts: EntryFacts,
    relationship: ViewerRelationship,
    protocol: Protocol,
) -> list[tuple[str, str, bool]]:
    """Bases for sharing without consent: (rule, basis, overrides_refusal), in preference order."""
    found = []
    rule = protocol.lawful_bases.get(facts.lawful_basis)
    if rule is not None and purpose in rule.purposes and any_matches(rule.who, viewer, purpose):
        found.append(("lawful-basis", facts.lawful_basis.value, rule.overrides_refusal))
    if relationship.kind is RelationshipKind.BREAK_GLASS:
        named = protocol.break_glass_reach(viewer, purpose)
        if named is None or facts.category in named:
            found.append(("break-glass", "break_glass", protocol.break_glass.overrides_refusal))
    return found


def _redactions(viewer: ViewerKey, purpose: Purpose, protocol: Protocol) -> frozenset[str]:
    fields: frozenset[str] = frozenset()
    for rule in protocol.redactions:
        if any_matches(rule.who, viewer, purpose):
            fields |= rule.fields
    return fields
