"""What the sharing policy reads: the keys of a viewer, an entry and the client's consents.

``decide`` (``rules.py``) takes these keys and nothing else, so it cannot read more
than they hold; everything that memoises its decisions (``decide_many``, the audience
views) builds its memo keys with these functions. See the package docstring.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import NamedTuple

from carerecord.values import (
    AudienceSelector,
    ConsentDecision,
    ConsentScope,
    Labels,
    Restriction,
    Viewer,
)
from carerecord.vocab import (
    ConsentDecisionKind,
    LawfulBasis,
    Purpose,
    RestrictionRequester,
    Role,
    Sector,
    Sensitivity,
    ViewerKind,
)


@dataclass(frozen=True)
class SharingState:
    """The client's consent decisions and restrictions in force (withdrawn/lifted removed)."""

    consents: tuple[ConsentDecision, ...] = ()
    restrictions: tuple[Restriction, ...] = ()


@dataclass(frozen=True, slots=True)
class ViewerKey:
    """What the policy reads of a viewer: kind, agency, sector, profession, roles.

    Roles are kept whole (not only those the current protocol names), so a key never
    changes meaning when the protocol changes."""

    kind: ViewerKind
    agency_id: str | None = None
    sector: Sector | None = None
    profession: str | None = None
    roles: frozenset[Role] = frozenset()


CLIENT_KEY = ViewerKey(ViewerKind.CLIENT)
"""Every client's key: of a client the policy reads only that it is one."""


def viewer_key(viewer: Viewer) -> ViewerKey:
    """The key of a (resolved) viewer. Convert once per request, not per entry."""
    if viewer.kind is ViewerKind.CLIENT:
        return CLIENT_KEY
    return ViewerKey(viewer.kind, viewer.agency_id, viewer.sector, viewer.profession, viewer.roles)


# Entry keys are tuples (NamedTuple: immutable, no instance dict) rather than frozen
# dataclasses: a read builds one per entry, and tuples build and hash several times faster.


class Seal(NamedTuple):
    """What the policy reads of a restriction covering an entry."""

    hidden_from: AudienceSelector
    requested_by: RestrictionRequester


class EntryFacts(NamedTuple):
    """What the policy reads of an entry apart from its contributing agency."""

    sector: Sector
    profession: str
    category: str
    sensitivity: Sensitivity
    lawful_basis: LawfulBasis
    subject_access_exemption: str | None
    seals: tuple[Seal, ...]


class EntryKey(NamedTuple):
    """What the policy reads of an entry: its contributing agency (of which ``decide``
    reads only whether it is the viewer's own, ``own_agency``) and its facts."""

    agency_id: str
    facts: EntryFacts


_new = tuple.__new__


def covering_seals(
    entry_id: str, category: str, restrictions: Iterable[Restriction]
) -> tuple[Seal, ...]:
    """The seals of the client's restrictions that cover an entry (by id or category), in
    the order they were placed: the only use the policy makes of an entry's id."""
    return tuple(
        Seal(r.hidden_from, r.requested_by) for r in restrictions if r.covers(entry_id, category)
    )


def entry_key(labels: Labels, restrictions: Collection[Restriction] = ()) -> EntryKey:
    """The key of an entry, given the client's restrictions in force."""
    seals = covering_seals(labels.entry_id, labels.category, restrictions) if restrictions else ()
    # tuple.__new__ directly: the same tuples as the NamedTuple constructors build, without
    # their Python-level ``__new__`` (this runs for every entry of every read).
    facts = _new(
        EntryFacts,
        (
            labels.sector,
            labels.profession,
            labels.category,
            labels.sensitivity,
            labels.lawful_basis,
            labels.subject_access_exemption,
            seals,
        ),
    )
    return _new(EntryKey, (labels.agency_id, facts))


def own_agency(viewer: ViewerKey, entry: EntryKey) -> bool:
    """Whether the viewer's agency contributed the entry: all ``decide`` asks of its agency."""
    return viewer.agency_id is not None and viewer.agency_id == entry.agency_id


class Coverage(IntEnum):
    """What the policy reads of the client's consent decisions for one entry and viewer."""

    NONE = 0  # no consent decision covers it
    GRANTED = 1  # only grants cover it
    REFUSED = 2  # a refusal covers it (whatever grants do)


class ConsentTerm(NamedTuple):
    """What the policy reads of one consent decision that counts."""

    decision: ConsentDecisionKind
    scope: ConsentScope


def consent_terms(
    consents: Iterable[ConsentDecision], now: datetime | None
) -> tuple[ConsentTerm, ...]:
    """The decision and scope of each consent decision that counts at ``now`` (see
    ``_counts``): all the policy reads of a client's consents."""
    return tuple(ConsentTerm(c.decision, c.scope) for c in consents if _counts(c, now))


def coverage(
    terms: Iterable[ConsentTerm], category: str, viewer: ViewerKey, purpose: Purpose
) -> Coverage:
    """Whether consent ``terms`` covering ``category``, the viewer's audience and
    ``purpose`` refuse, or only grant."""
    found = Coverage.NONE
    for decision, scope in terms:
        if scope.covers(category, viewer.agency_id, viewer.sector, viewer.profession, purpose):
            if decision is ConsentDecisionKind.REFUSED:
                return Coverage.REFUSED
            found = Coverage.GRANTED
    return found


def consent_coverage(
    state: SharingState, entry: EntryKey, viewer: ViewerKey, purpose: Purpose, now: datetime | None
) -> Coverage:
    """The client's consent decisions as the policy reads them for one entry and viewer."""
    return coverage(consent_terms(state.consents, now), entry.facts.category, viewer, purpose)


def decision_key(
    viewer: ViewerKey, entry: EntryKey, consent: Coverage
) -> tuple[EntryFacts, bool, Coverage]:
    """Everything ``decide`` reads of an entry and the client's sharing state, for one
    viewer: for the same viewer key, purpose, standing, protocol and time, entries with
    equal decision keys get equal decisions (memoise on it; a property test holds
    ``decide`` to it)."""
    return (entry.facts, own_agency(viewer, entry), consent)


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
