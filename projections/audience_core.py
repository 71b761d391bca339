"""Audience views, the pure part: fold a client's events into what each audience sees.

``apply(work, item, ctx, out)`` folds one event of a client's stream into that
client's working state (``ClientWork``: entries, consent and restriction state,
relationships, grants, materialised audiences and what each of them sees) and
records the resulting row changes and feed items in ``out``. It does no I/O; the
projection class (``audience_views.py``) loads working states and writes ``out``.

Entry content comes only from ``carerecord.slice.fold_entry``; inclusion only
from ``carerecord.policy.decide`` at projection time (``now=None``), memoised on
exactly the inputs the policy reads (``Context.allowed``). Entry text is written
when an entry is recorded or amended and never read back here: working states
loaded from the tables carry ``EntryState.text == ""``.

Iteration is always in a sorted order, so the feed sequence numbers given to a
history are the same however it is split into batches (rebuilds reproduce them).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from carerecord.policy import SharingState, decide
from carerecord.protocol import Protocol
from carerecord.slice import EntryState
from carerecord.values import (
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    Labels,
    Restriction,
)
from carerecord.vocab import ConsentDecisionKind, Sector
from projections.audiences import (
    AudienceKey,
    Staff,
    relevant_audiences,
)

SHARED, UPDATED, RECALLED = "entry_shared", "entry_updated", "entry_recalled"
ALERT_RAISED, ALERT_RESOLVED = "alert_raised", "alert_resolved"
BREAK_GLASS_GRANTED = "break_glass_granted"  # a notice to the care team (no reason text)
MEMO_LIMIT = 2_000_000


_NONE: frozenset[Any] = frozenset()


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
        "sharing_state",
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
        self.sharing_state: SharingState | None = None
        self.consent_id: int | None = None
        self.shown_to: dict[int, tuple[tuple[int, bool], ...]] = {}
        self.shown_epoch = 0

    def sharing(self) -> SharingState:
        if self.sharing_state is None:
            self.sharing_state = SharingState(
                tuple(self.consents.values()), tuple(self.restrictions.values())
            )
        return self.sharing_state

    def sharing_changed(self) -> None:
        self.sharing_state = None
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
        self._signatures: dict[Hashable, int] = {}
        self._consent_sets: dict[Hashable, int] = {}
        self._coverage: dict[tuple[int, int, str], int] = {}
        self._groups: dict[tuple[str, int], int] = {}
        self._group_parts: list[tuple[str, int]] = []

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

    def signature(self, labels: Labels, work: ClientWork) -> int:
        """The entry's decision signature: exactly what ``decide`` reads of an entry when
        no time is given - its labels apart from author, heading and times, and the
        ``hidden_from`` of the client's restrictions covering it - as a small number."""
        covering = (
            frozenset(
                r.hidden_from
                for r in work.restrictions.values()
                if r.covers(labels.entry_id, labels.category)
            )
            if work.restrictions
            else _NONE
        )
        rest = (
            labels.sector,
            labels.profession,
            labels.category,
            labels.sensitivity,
            labels.lawful_basis,
            labels.subject_access_exemption,
            covering,
        )
        part = self._signatures.setdefault(rest, len(self._signatures))
        key = (labels.agency_id, part)
        found = self._groups.get(key)
        if found is None:
            found = len(self._group_parts)
            self._groups[key] = found
            self._group_parts.append(key)
        return found

    def allowed(self, audience: int, sig: int, labels: Labels, work: ClientWork) -> bool:
        """The projection-time decision (``now=None``) for one audience and entry.

        Memoised on exactly what ``decide`` reads when no time is given: the audience
        (viewer and standing), the entry's signature (``labels`` is any entry of the
        client with signature ``sig``) - of its agency only whether it is the viewer's
        own -, whether a consent decision in force covering this category, audience
        and purpose refuses or grants (all ``decide`` asks of the consents), and the
        protocol (the memo is cleared when it changes). The property tests compare
        the views with ``decide`` itself.
        """
        protocol = self.protocol
        if protocol is None:
            return False
        key = self.audience_keys[audience]
        agency, part = self._group_parts[sig]
        memo_key = (
            audience,
            part,
            agency == key.agency_id,
            self.coverage(work, audience, key, labels.category),
        )
        found = self._memo.get(memo_key)
        if found is None:
            found = decide(
                key.viewer(),
                key.purpose_value,
                labels,
                work.sharing(),
                key.relationship(),
                protocol,
                None,
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
        own, memo, parts = key.agency_id, self._memo, self._group_parts
        covered: dict[str, int] = {}
        found: list[int] = []
        for sig, members in work.groups.items():
            agency, part = parts[sig]
            labels = next(iter(members.values()))
            category = labels.category
            coverage = covered.get(category)
            if coverage is None:
                coverage = covered[category] = self.coverage(work, audience, key, category)
            allowed = memo.get((audience, part, agency == own, coverage))
            if allowed is None:
                allowed = self.allowed(audience, sig, labels, work)
            if allowed:
                found.append(sig)
        return found

    def coverage(self, work: ClientWork, audience: int, key: AudienceKey, category: str) -> int:
        """2: a refusal covers (category, audience, purpose); 1: only a grant; 0: neither.

        Shared by every client with the same consent decisions (by decision and scope)."""
        consents = work.consent_id
        if consents is None:
            sig = frozenset((c.decision, c.scope) for c in work.consents.values())
            consents = work.consent_id = self._consent_sets.setdefault(sig, len(self._consent_sets))
        cache_key = (consents, audience, category)
        found = self._coverage.get(cache_key)
        if found is None:
            viewer = key.viewer()
            found = 0
            for consent in work.consents.values():
                if consent.scope.covers(
                    category, viewer.agency_id, viewer.sector, viewer.profession, key.purpose_value
                ):
                    if consent.decision is ConsentDecisionKind.REFUSED:
                        found = 2
                        break
                    found = 1
            self._coverage[cache_key] = found
        return found

    def shown_to(
        self, work: ClientWork, sig: int, labels: Labels, audiences: Iterable[int]
    ) -> tuple[tuple[int, bool], ...]:
        """Of ``audiences`` (in order), those that may see entries with signature ``sig``,
        with whether each has a feed - ``allowed`` for many audiences at once."""
        keys = self.audience_keys
        memo = self._memo
        agency, part = self._group_parts[sig]
        category = labels.category
        found: list[tuple[int, bool]] = []
        for audience in audiences:
            key = keys[audience]
            memo_key = (
                audience,
                part,
                agency == key.agency_id,
                self.coverage(work, audience, key, category),
            )
            allowed = memo.get(memo_key)
            if allowed is None:
                allowed = self.allowed(audience, sig, labels, work)
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
