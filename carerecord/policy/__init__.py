"""The sharing policy: one pure function that decides who may see what, and the keys
that say exactly what it reads.

``decide(viewer, purpose, entry, consent, relationship, protocol, now)`` is used by
the projections when they build curated views, by the read path when it re-checks
the latest consent state, by the "why can I (not) see this?" explanation and by the
auditors' reconstruction, so there is exactly one definition of who may see what.
It does no I/O and never reads the clock.

What it reads is defined here, once, as keys - its only inputs besides the purpose,
the protocol and the time - so the type checker stops it from reading anything else,
and everything that memoises its decisions builds its memo keys from these:

- of a viewer, ``ViewerKey`` (``viewer_key``): kind, agency, sector, profession and
  roles - not their id or teams (those decide only *whether* they have a standing,
  ``relationship_for``). A client's key is its kind alone.
- of an entry, ``EntryKey`` (``entry_key``): its contributing agency and its
  ``EntryFacts`` - sector, author's profession, category, sensitivity, lawful basis,
  subject-access exemption, and the ``Seal`` (audience hidden from, who asked) of
  each of the client's restrictions covering it (``covering_seals``: the only use of
  the entry's id). Not its id, author, heading or times. Of the agency ``decide``
  reads only whether it is the viewer's own (``own_agency``).
- of the client's consent decisions, ``Coverage`` (``consent_coverage``): whether
  one that counts at ``now`` and covers the entry's category, the viewer's audience
  and the purpose refuses, or only grants (``consent_terms`` + ``coverage``).
- of the viewer's standing, ``ViewerRelationship``: its kind and, for break-glass,
  the grant's purpose (and its expiry when a time is given;
  ``standing_at_projection`` is the standing of a whole audience when it is not).

So for one viewer key, purpose, standing, protocol and time, two entries decide
alike when their ``decision_key`` (facts, own agency, coverage) is equal
(``decide_many`` and the audience views memoise on it; property tests hold
``decide`` to it). ``decide_entry`` and ``decide_many`` derive the keys of entries
from their labels and the client's ``SharingState``.

The protocol's need-to-know matrix (rule 5b) reads only the viewer key's profession,
sector and roles and the entry's category, so it adds nothing to the keys.

Layout: ``keys.py`` (the keys and the functions deriving them), ``standing.py`` (the
viewer's standing), ``rules.py`` (``decide`` and the rule order), ``reach.py`` (the
reach report for the partnership board, by asking ``decide``). Import from
``carerecord.policy`` (``reach`` from ``carerecord.policy.reach``).
"""

from carerecord.policy.keys import (
    CLIENT_KEY,
    ConsentTerm,
    Coverage,
    EntryFacts,
    EntryKey,
    Seal,
    SharingState,
    ViewerKey,
    consent_coverage,
    consent_terms,
    coverage,
    covering_seals,
    decision_key,
    entry_key,
    own_agency,
    viewer_key,
)
from carerecord.policy.rules import (
    AUDIT_ROLES,
    Decision,
    decide,
    decide_entry,
    decide_many,
    purpose_open,
)
from carerecord.policy.standing import (
    CARE,
    NO_RELATIONSHIP,
    SELF,
    ViewerRelationship,
    relationship_for,
    standing_at_projection,
)

__all__ = [
    "AUDIT_ROLES",
    "CARE",
    "CLIENT_KEY",
    "NO_RELATIONSHIP",
    "SELF",
    "ConsentTerm",
    "Coverage",
    "Decision",
    "EntryFacts",
    "EntryKey",
    "Seal",
    "SharingState",
    "ViewerKey",
    "ViewerRelationship",
    "consent_coverage",
    "consent_terms",
    "coverage",
    "covering_seals",
    "decide",
    "decide_entry",
    "decide_many",
    "decision_key",
    "entry_key",
    "own_agency",
    "purpose_open",
    "relationship_for",
    "standing_at_projection",
    "viewer_key",
]
