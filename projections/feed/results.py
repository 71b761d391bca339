"""Results of the audience feed and of the readiness check."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from carerecord.access_log import AccessRecord
from carerecord.ids import ClientId
from carerecord.slice import SharedEntry, slice_hash
from carerecord.values import Viewer
from carerecord.vocab import Purpose
from projections.engine.access import ReadBasis, access_record_for
from projections.lists.results import ReferralItem

# --- the audience feed ------------------------------------------------------------------

FeedKind = Literal[
    "entry_shared",
    "entry_updated",
    "entry_recalled",
    "alert_raised",
    "alert_resolved",
    "referral_sent",
    "referral_acknowledged",
    "referral_accepted",
    "referral_declined",
    "referral_closed",
    "break_glass_granted",
]


@dataclass(frozen=True)
class BreakGlassNotice:
    """Someone outside the care team used emergency access to the client: who (agency and
    profession), when, until when. The reason is for the reviewing officer only."""

    grant_id: str
    agency_id: str
    profession: str
    purpose: str
    granted_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class FeedItem:
    """One change for the caller's audience. ``event_id`` is stable (also across view
    rebuilds): use it to de-duplicate. ``entry`` is the entry as the caller may see
    it now (None for recalls and referral items); ``referral`` for referral items;
    ``notice`` for break-glass notices."""

    seq: int
    kind: FeedKind
    client_id: ClientId
    event_id: str
    position: int
    entry_id: str | None
    entry: SharedEntry | None
    referral: ReferralItem | None
    notice: BreakGlassNotice | None = None


@dataclass(frozen=True)
class FeedClientRead:
    """What one feed page read of one client rested on (for its access record)."""

    client_id: ClientId
    basis: ReadBasis
    state_version: int
    view_version: int
    items: tuple[tuple[str, int], ...]
    entries: tuple[SharedEntry, ...]


@dataclass(frozen=True)
class FeedPage:
    """Feed items after the cursor; resume from ``next_after`` (a per-audience sequence).

    ``next_after`` always moves past every item scanned, including those filtered
    out for this caller, so a consumer never loops on items it may not see.
    """

    caller: Viewer
    audience: str
    items: tuple[FeedItem, ...]
    next_after: int
    has_more: bool
    protocol_version: int
    read_at: datetime
    reads: tuple[FeedClientRead, ...] = field(default=())

    def access_records(self, *, request_id: str, action: str, at: datetime) -> list[AccessRecord]:
        """One access record per client whose entries this page returned."""
        return [
            access_record_for(
                caller=self.caller,
                purpose=Purpose.DIRECT_CARE.value,
                basis=read.basis,
                client_id=str(read.client_id),
                items=read.items,
                response_hash=slice_hash(read.entries),
                request_id=request_id,
                action=action,
                at=at,
                view_version=read.view_version,
                state_version=read.state_version,
                protocol_version=self.protocol_version,
                access_id=None,
            )
            for read in self.reads
            if read.items
        ]
