"""The reach of a protocol version, for the partnership board: which categories each
profession reaches for each purpose - with the client's consent, without it, and under
break-glass - and how a proposed version changes that.

Computed by asking ``decide`` itself (never a second reading of the protocol), for an
ordinary entry of each category: contributed by another agency, at the category's
minimum sensitivity, recorded under consent, unrestricted; the viewer a practitioner
with a care relationship (or a break-glass grant for the emergency purpose). Higher
sensitivities, restrictions, refusals and lawful bases other than consent narrow or
widen single entries; this is the protocol's standing answer, not any one record's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from carerecord.policy.keys import Coverage, EntryFacts, EntryKey, ViewerKey
from carerecord.policy.rules import decide
from carerecord.policy.standing import CARE, ViewerRelationship, standing_at_projection
from carerecord.protocol import Protocol
from carerecord.vocab import (
    LawfulBasis,
    Purpose,
    RelationshipKind,
    Role,
    Sector,
    ViewerKind,
)

_VIEWER_AGENCY = "viewer-agency"
_OTHER_AGENCY = "contributing-agency"


@dataclass(frozen=True)
class AudienceReach:
    """What one profession reaches for one purpose under one protocol version.

    ``without_consent`` maps each category reached with no consent decision on record
    (implied consent) to the contributing sectors whose entries it reaches;
    ``under_break_glass`` is what a break-glass grant shows without consent (empty for
    purposes break-glass does not cover or professions who may not break the glass)."""

    profession: str
    sector: Sector
    purpose: Purpose
    with_consent: frozenset[str]
    without_consent: Mapping[str, frozenset[Sector]]
    under_break_glass: frozenset[str]


@dataclass(frozen=True)
class ReachChange:
    """How a proposed version changes one profession's reach for one purpose."""

    profession: str
    purpose: Purpose
    gains_with_consent: frozenset[str]
    loses_with_consent: frozenset[str]
    gains_without_consent: frozenset[str]
    loses_without_consent: frozenset[str]
    gains_under_break_glass: frozenset[str]
    loses_under_break_glass: frozenset[str]

    @property
    def changed(self) -> bool:
        return any(
            (
                self.gains_with_consent,
                self.loses_with_consent,
                self.gains_without_consent,
                self.loses_without_consent,
                self.gains_under_break_glass,
                self.loses_under_break_glass,
            )
        )


def _entry(protocol: Protocol, category: str, sector: Sector) -> EntryKey:
    author = next((p.id for p in protocol.professions.values() if p.sector is sector), "-")
    floor = protocol.categories[category].min_sensitivity
    facts = EntryFacts(sector, author, category, floor, LawfulBasis.CONSENT, None, ())
    return EntryKey(_OTHER_AGENCY, facts)


def audience_reach(protocol: Protocol, profession: str, purpose: Purpose) -> AudienceReach:
    """The reach of a profession (a practitioner of its own sector) for a purpose."""
    sector = protocol.professions[profession].sector
    viewer = ViewerKey(
        ViewerKind.PRACTITIONER, _VIEWER_AGENCY, sector, profession, frozenset({Role.PRACTITIONER})
    )

    def allowed(entry: EntryKey, consent: Coverage, standing: ViewerRelationship) -> bool:
        return decide(viewer, purpose, entry, consent, standing, protocol, None).allowed

    with_consent = set()
    without: dict[str, set[Sector]] = {}
    under_grant = set()
    covers_break_glass = purpose in protocol.break_glass.purposes and any(
        rule.matches(viewer, purpose) for rule in protocol.break_glass.who
    )
    grant = standing_at_projection(RelationshipKind.BREAK_GLASS, purpose)
    for category in protocol.categories:
        if allowed(_entry(protocol, category, sector), Coverage.GRANTED, CARE):
            with_consent.add(category)
        for source in Sector:
            if allowed(_entry(protocol, category, source), Coverage.NONE, CARE):
                without.setdefault(category, set()).add(source)
        if covers_break_glass and any(
            allowed(_entry(protocol, category, source), Coverage.NONE, grant) for source in Sector
        ):
            under_grant.add(category)
    return AudienceReach(
        profession,
        sector,
        purpose,
        frozenset(with_consent),
        {c: frozenset(s) for c, s in without.items()},
        frozenset(under_grant),
    )


def reach_matrix(protocol: Protocol) -> Iterator[AudienceReach]:
    """Every profession's reach for every purpose the protocol configures, in the
    document's order."""
    for profession in protocol.professions:
        for purpose in protocol.purposes:
            yield audience_reach(protocol, profession, purpose)


def reach_changes(before: Protocol, after: Protocol) -> list[ReachChange]:
    """Who gains and who loses what, profession by profession and purpose by purpose,
    between two versions (professions or purposes only one of them has count as
    reaching nothing in the other). Only the changed rows are returned."""
    old = {(r.profession, r.purpose): r for r in reach_matrix(before)}
    new = {(r.profession, r.purpose): r for r in reach_matrix(after)}
    changes = []
    for key in [*old, *(k for k in new if k not in old)]:
        was, now = old.get(key), new.get(key)
        change = ReachChange(
            key[0],
            key[1],
            *_delta(_consented(was), _consented(now)),
            *_delta(_implied(was), _implied(now)),
            *_delta(_granted(was), _granted(now)),
        )
        if change.changed:
            changes.append(change)
    return changes


def _consented(reach: AudienceReach | None) -> frozenset[str]:
    return frozenset() if reach is None else reach.with_consent


def _implied(reach: AudienceReach | None) -> frozenset[str]:
    return frozenset() if reach is None else frozenset(reach.without_consent)


def _granted(reach: AudienceReach | None) -> frozenset[str]:
    return frozenset() if reach is None else reach.under_break_glass


def _delta(was: frozenset[str], now: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    return now - was, was - now
