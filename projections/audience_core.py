"""Audience views, the pure part: fold a client's events into what each audience sees.

``apply(work, item, ctx, out)`` folds one event of a client's stream into that
client's working state (``ClientWork``: entries, consent and restriction state,
relationships, grants, materialised audiences and what each of them sees) and
records the resulting row changes and feed items in ``out``. It does no I/O; the
projection class (``audience_views.py``) loads working states and writes ``out``.

Entry content comes only from ``carerecord.slice.fold_entry``; inclusion only
from ``carerecord.policy.decide`` at projection time (``now=None``), memoised on
exactly the inputs the policy reads (``Context.allowed``). Working states keep
entry text only until it is written (``EntryState.text`` is "" otherwise): text
is written when an entry is recorded or amended and never read back here.

Iteration is always in a sorted order, so the feed sequence numbers given to a
history are the same however it is split into batches (rebuilds reproduce them).
"""

from __future__ import annotations

from collections.abc import Hashable
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
from carerecord.vocab import Purpose, Sector
from projections.audiences import (
    AudienceKey,
    Staff,
    relevant_audiences,
)

SHARED, UPDATED, RECALLED = "entry_shared", "entry_updated", "entry_recalled"
ALERT_RAISED, ALERT_RESOLVED = "alert_raised", "alert_resolved"
MEMO_LIMIT = 2_000_000


class ClientWork:
    """One client's working state. ``full``: entries and visibility are all loaded."""

    __slots__ = (
        "audiences",
        "client_id",
        "consent_sig",
        "consents",
        "entries",
        "entry_no",
        "full",
        "grants",
        "new",
        "no",
        "referrals",
        "relationships",
        "restrictions",
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
        self.new = new
        self.state_dirty = new
        self.version_dirty = False
        self.consent_sig: int | None = None

    def sharing(self) -> SharingState:
        return SharingState(tuple(self.consents.values()), tuple(self.restrictions.values()))


@dataclass
class Changes:
    """Row changes of a batch, net of each other, waiting to be written."""

    new_entries: dict[tuple[int, int], EntryState] = field(default_factory=dict)
    updated_entries: dict[tuple[int, int], tuple[EntryState, bool]] = field(default_factory=dict)
    # (client_no, audience_id, entry_no) -> (present before the batch, present now)
    visible: dict[tuple[int, int, int], tuple[bool, bool]] = field(default_factory=dict)
    client_audiences: list[tuple[int, int]] = field(default_factory=list)
    relationships: dict[str, tuple[int, str, str | None, str | None] | None] = field(
        default_factory=dict
    )
    feed: list[tuple[int, int, int, int, str, int | None, str | None]] = field(default_factory=list)
    clients: dict[int, ClientWork] = field(default_factory=dict)

    def show(self, client: int, audience: int, entry: int, now: bool, before: bool) -> None:
        key = (client, audience, entry)
        origin = self.visible[key][0] if key in self.visible else before
        self.visible[key] = (origin, now)

    def clear(self) -> None:
        self.new_entries.clear()
        self.updated_entries.clear()
        self.visible.clear()
        self.client_audiences.clear()
        self.relationships.clear()
        self.feed.clear()
        self.clients.clear()

    def __bool__(self) -> bool:
        return bool(
            self.new_entries
            or self.updated_entries
            or self.visible
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
        self._memo: dict[Hashable, bool] = {}
        self._consent_sigs: dict[Hashable, int] = {}

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
        self._memo.clear()

    def consent_sig(self, work: ClientWork) -> int:
        if work.consent_sig is None:
            sig = frozenset((c.decision, c.scope) for c in work.consents.values())
            work.consent_sig = self._consent_sigs.setdefault(sig, len(self._consent_sigs))
        return work.consent_sig

    def allowed(self, audience: int, labels: Labels, work: ClientWork) -> bool:
        """The projection-time decision (``now=None``) for one audience and entry.

        Memoised on exactly what ``decide`` reads when no time is given: the
        audience (viewer and standing), the labels apart from author, heading and
        times, the consents' decisions and scopes, the ``hidden_from`` of the
        restrictions covering this entry, and the protocol (the memo is cleared when
        it changes). The property tests compare the views with ``decide`` itself.
        """
        protocol = self.protocol
        if protocol is None:
            return False
        covering = frozenset(
            r.hidden_from
            for r in work.restrictions.values()
            if r.covers(labels.entry_id, labels.category)
        )
        memo_key = (
            audience,
            labels.agency_id,
            labels.sector,
            labels.profession,
            labels.category,
            labels.sensitivity,
            labels.lawful_basis,
            labels.subject_access_exemption,
            self.consent_sig(work),
            covering,
        )
        found = self._memo.get(memo_key)
        if found is None:
            key = self.audience_keys[audience]
            found = decide(
                key.viewer(),
                Purpose(key.purpose),
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

    def relevant(self, work: ClientWork) -> set[AudienceKey]:
        return relevant_audiences(
            work.relationships.values(),
            work.grants.values(),
            staff=self.staff,
            team_members=self.team_members,
            sectors=self.sectors,
            protocol=self.protocol,
        )
