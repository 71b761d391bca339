"""Audience views, the pure part: fold a client's events into what each audience sees.

``apply(work, item, ctx, out)`` folds one event of a client's stream into that
client's working state (``ClientWork``: entries, consent and restriction state,
relationships, grants, materialised audiences and what each of them sees) and
records the resulting row changes and feed items in ``out``. It does no I/O; the
projection class (``views``) loads working states and writes ``out``.

Entry content comes only from ``carerecord.slice.fold_entry``; inclusion only
from ``carerecord.policy.decide`` at projection time (``now=None``), memoised on
the policy's own keys (``Context.allowed``): the audience (viewer key, purpose,
standing) and the policy's ``decision_key`` of the entry - its facts, whether its
agency is the viewer's own, and the consent coverage. Entry text is written
when an entry is recorded or amended and never read back here: working states
loaded from the tables carry ``EntryState.text == ""``.

Iteration is always in a sorted order, so the feed sequence numbers given to a
history are the same however it is split into batches (rebuilds reproduce them).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from carerecord.policy import (
    ConsentTerm,
    Coverage,
    EntryFacts,
    EntryKey,
    consent_terms,
    coverage,
    decide,
    entry_key,
    own_agency,
)
from carerecord.protocol import Protocol
from carerecord.slice import EntryState
from carerecord.values import (
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    Labels,
    Restriction,
)
from carerecord.vocab import Sector
from projections.audience.keys import (
    AudienceKey,
    Staff,
    relevant_audiences,
)

SHARED, UPDATED, RECALLED = "entry_shared", "entry_updated", "entry_recalled"
ALERT_RAISED, ALERT_RESOLVED = "alert_raised", "alert_resolved"
BREAK_GLASS_GRANTED = "break_glass_granted"  # a notice to the care team (no reason text)
MEMO_BYTES = 64 * 1024 * 1024
"""Budget of the decision memo. Its entries are all the same size (a 4-tuple of small
shared values and a bool: about 160 bytes with the dict's slot), so the count below
bounds its bytes."""
MEMO_ENTRY_BYTES = 160
MEMO_LIMIT = MEMO_BYTES // MEMO_ENTRY_BYTES
REGISTRY_LIMIT = 200_000
"""Entry signatures, fact sets, consent-term sets and coverages remembered (each a few
hundred bytes): past this the registries start again (``reset_registries``)."""


class ClientWork:
    """One client's working state. ``full``: entries and visibility are all loaded."""

    __slots__ = (
        "audiences",
        "client_id",
        "consent_id",
        "consents",
        "entries",
        "entry_no",
        "full",
        "grants",
        "groups",
        "new",
        "no",
        "referrals",
        "relationships",
        "restrictions",
        "shown_epoch",
        "shown_to",
        "sig",
        "state_dirty",
        "version",
        "version_dirty",
        "visible",
    )

    def __init__(self, no: int, client_id: str, version: int, *, new: bool = False) -> None:
        self.no = no
        self.client_id = client_id
        self.version = version
        self.consents: dict[str, ConsentDecision] = {}
        self.restrictions: dict[str, Restriction] = {}
        self.relationships: dict[str, CareRelationship] = {}
        self.grants: dict[str, BreakGlassGrant] = {}
        self.referrals: dict[str, tuple[str, str]] = {}
        self.audiences: set[int] = set()
        self.full = new
        self.entries: dict[str, EntryState] = {}
        self.entry_no: dict[str, int] = {}
        self.visible: dict[int, set[int]] = {}
        # Entries (not in error) grouped by what the policy reads of them: the policy
        # cannot tell two entries of a group apart, so each group is decided once.
        self.sig: dict[int, int] = {}
        self.groups: dict[int, dict[int, Labels]] = {}
        self.new = new
        self.state_dirty = new
        self.version_dirty = False
        self.consent_id: int | None = None
        self.shown_to: dict[int, tuple[tuple[int, bool], ...]] = {}
        self.shown_epoch = 0

    def sharing_changed(self) -> None:
        self.consent_id = None
        self.shown_to = {}

    def group(self, entry_no: int, labels: Labels, sig: int | None) -> None:
        """Put an entry in its signature group (``None``: take it out, it is in error)."""
        old = self.sig.pop(entry_no, None)
        if old is not None:
            members = self.groups[old]
            members.pop(entry_no, None)
            if not members:
                del self.groups[old]
        if sig is not None:
            self.sig[entry_no] = sig
            self.groups.setdefault(sig, {})[entry_no] = labels


@dataclass
class Changes:
    """Row changes of a batch, net of each other, waiting to be written."""

    new_entries: dict[tuple[int, int], EntryState] = field(default_factory=dict)
    updated_entries: dict[tuple[int, int], tuple[EntryState, bool]] = field(default_factory=dict)
    # (client_no, audience_id) whose visible set changed: their view row is rewritten
    views: set[tuple[int, int]] = field(default_factory=set)
    client_audiences: list[tuple[int, int]] = field(default_factory=list)
    relationships: dict[str, tuple[int, str, str | None, str | None] | None] = field(
        default_factory=dict
    )
    feed: list[tuple[int, int, int, int, str, int | None, str | None]] = field(default_factory=list)
    clients: dict[int, ClientWork] = field(default_factory=dict)

    def show(self, work: ClientWork, audience: int) -> None:
        """The client's view for ``audience`` changed (rewritten when the batch is written)."""
        self.views.add((work.no, audience))
        self.clients[work.no] = work

    def clear(self) -> None:
        self.new_entries.clear()
        self.updated_entries.clear()
        self.views.clear()
        self.client_audiences.clear()
        self.relationships.clear()
        self.feed.clear()
        self.clients.clear()

    def __bool__(self) -> bool:
        return bool(
            self.new_entries
            or self.updated_entries
            or self.views
            or self.client_audiences
            or self.relationships
            or self.feed
            or self.clients
        )


class Context:
    """What the views decide with besides a client's own state: the protocol in force,
    the directory (as of the log position being processed) and the audience registry."""

    def __init__(self) -> None:
        self.protocol: Protocol | None = None
        self.protocol_document: dict[str, Any] | None = None
        self.staff: dict[str, Staff] = {}
        self.sectors: dict[str, Sector] = {}
        self.team_members: dict[tuple[str, str], set[str]] = {}
        self.audience_ids: dict[AudienceKey, int] = {}
        self.audience_keys: dict[int, AudienceKey] = {}
        self.feed_seq: dict[int, int] = {}
        self.new_audiences: list[int] = []
        self.dirty_seq: set[int] = set()
        self.directory_dirty = False
        self.protocol_dirty = False
        self.epoch = 1
        self._memo: dict[Hashable, bool] = {}
        self._facts: dict[EntryFacts, int] = {}
        self._consent_sets: dict[frozenset[ConsentTerm], int] = {}
        self._consent_terms: list[frozenset[ConsentTerm]] = []
        self._coverage: dict[tuple[int, int, str], Coverage] = {}
        self._groups: dict[EntryKey, int] = {}
        self._group_parts: list[tuple[EntryKey, int]] = []

    # --- audiences ---------------------------------------------------------------------

    def audience_id(self, key: AudienceKey) -> int:
        found = self.audience_ids.get(key)
        if found is None:
            found = max(self.audience_keys, default=0) + 1
            self.audience_ids[key] = found
            self.audience_keys[found] = key
            self.feed_seq[found] = 0
            self.new_audiences.append(found)
        return found

    def emit(
        self,
        out: Changes,
        audience: int,
        position: int,
        client: int,
        kind: str,
        entry_no: int | None,
        subject: str | None,
    ) -> None:
        seq = self.feed_seq[audience] + 1
        self.feed_seq[audience] = seq
        self.dirty_seq.add(audience)
        out.feed.append((audience, seq, position, client, kind, entry_no, subject))

    # --- decisions ---------------------------------------------------------------------

    def set_protocol(self, protocol: Protocol, document: dict[str, Any]) -> None:
        self.protocol = protocol
        self.protocol_document = document
        self.protocol_dirty = True
        self.epoch += 1  # every client's cached decisions are stale
        self._memo.clear()

    def registry_size(self) -> int:
        return len(self._groups) + len(self._facts) + len(self._consent_sets) + len(self._coverage)

    def reset_registries(self) -> None:
        """Forget every signature, fact set, consent-term set and coverage (and the memo
        keyed on them). The caller must drop what cached working states hold of them
        (``sig``, ``groups``, ``consent_id``, ``shown_to``): a restriction's seals make
        every restricted entry's signature its own, so over months these only grow."""
        self._memo.clear()
        self._facts.clear()
        self._consent_sets.clear()
        self._consent_terms.clear()
        self._coverage.clear()
        self._groups.clear()
        self._group_parts.clear()
        self.epoch += 1  # every client's cached decisions are stale

    def signature(self, labels: Labels, work: ClientWork) -> int:
        """The entry's signature: the policy's key of it (``entry_key``: its agency and
        facts, with the seals of the client's restrictions covering it) as a small number."""
        key = entry_key(labels, work.restrictions.values())
        found = self._groups.get(key)
        if found is None:
            facts = self._facts.setdefault(key.facts, len(self._facts))
            found = len(self._group_parts)
            self._groups[key] = found
            self._group_parts.append((key, facts))
        return found

    def allowed(self, audience: int, sig: int, work: ClientWork) -> bool:
        """The projection-time decision (``now=None``) for one audience and the entries of
        the client with signature ``sig``.

        Memoised on the audience (viewer key, purpose, standing) and the policy's
        ``decision_key`` of the entry: its facts (as a small number), whether its agency
        is the viewer's own (``own_agency``) and the consent coverage (``coverage``);
        the memo is cleared when the protocol changes. The property tests compare the
        views with ``decide`` itself.
        """
        protocol = self.protocol
        if protocol is None:
            return False
        key = self.audience_keys[audience]
        entry, facts = self._group_parts[sig]
        consent = self.coverage(work, audience, key, entry.facts.category)
        memo_key = (audience, facts, own_agency(key.viewer, entry), consent)
        found = self._memo.get(memo_key)
        if found is None:
            found = decide(
                key.viewer, key.purpose, entry, consent, key.relationship, protocol, None
            ).allowed
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = found
        return found

    def allowed_groups(self, work: ClientWork, audience: int) -> list[int]:
        """The client's signature groups ``audience`` may see: ``allowed`` for every group
        at once, with the consent coverage looked up once per category."""
        if self.protocol is None:
            return []
        key = self.audience_keys[audience]
        viewer, memo, parts = key.viewer, self._memo, self._group_parts
        covered: dict[str, Coverage] = {}
        found: list[int] = []
        for sig in work.groups:
            entry, facts = parts[sig]
            category = entry.facts.category
            consent = covered.get(category)
            if consent is None:
                consent = covered[category] = self.coverage(work, audience, key, category)
            allowed = memo.get((audience, facts, own_agency(viewer, entry), consent))
            if allowed is None:
                allowed = self.allowed(audience, sig, work)
            if allowed:
                found.append(sig)
        return found

    def coverage(
        self, work: ClientWork, audience: int, key: AudienceKey, category: str
    ) -> Coverage:
        """The policy's ``coverage`` of the client's consent decisions at projection time
        (``consent_terms`` with no time) for ``category`` and the audience. Shared by
        every client whose consent decisions have the same terms."""
        consents = work.consent_id
        if consents is None:
            terms = frozenset(consent_terms(work.consents.values(), None))
            consents = self._consent_sets.get(terms)
            if consents is None:
                consents = self._consent_sets[terms] = len(self._consent_terms)
                self._consent_terms.append(terms)
            work.consent_id = consents
        cache_key = (consents, audience, category)
        found = self._coverage.get(cache_key)
        if found is None:
            found = self._coverage[cache_key] = coverage(
                self._consent_terms[consents], category, key.viewer, key.purpose
            )
        return found

    def shown_to(
        self, work: ClientWork, sig: int, audiences: Iterable[int]
    ) -> tuple[tuple[int, bool], ...]:
        """Of ``audiences`` (in order), those that may see entries with signature ``sig``,
        with whether each has a feed - ``allowed`` for many audiences at once."""
        keys = self.audience_keys
        memo = self._memo
        entry, facts = self._group_parts[sig]
        category = entry.facts.category
        found: list[tuple[int, bool]] = []
        for audience in audiences:
            key = keys[audience]
            memo_key = (
                audience,
                facts,
                own_agency(key.viewer, entry),
                self.coverage(work, audience, key, category),
            )
            allowed = memo.get(memo_key)
            if allowed is None:
                allowed = self.allowed(audience, sig, work)
            if allowed:
                found.append((audience, key.in_feed))
        return tuple(found)

    def relevant(self, work: ClientWork) -> set[AudienceKey]:
        return relevant_audiences(
            work.relationships.values(),
            work.grants.values(),
            staff=self.staff,
            team_members=self.team_members,
            sectors=self.sectors,
            protocol=self.protocol,
        )
