"""Results of the list reads (caseloads, referrals, concerns) and of ``explain``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from carerecord.access_log import AccessRecord, response_hash
from carerecord.ids import ClientId
from carerecord.policy import Decision
from carerecord.values import Viewer
from carerecord.vocab import Purpose
from projections.engine.access import ReadBasis, access_record_for

T = TypeVar("T")
ReferralDirection = Literal["incoming", "outgoing", "overdue"]


# --- lists ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. Pass ``next_after`` back as ``after`` for the next page;
    ``None`` means there is nothing more (right now)."""

    items: tuple[T, ...]
    next_after: str | None


@dataclass(frozen=True)
class CaseloadItem:
    """A client on the caller's (or their team's) caseload."""

    client_id: ClientId
    given_name: str
    family_name: str
    date_of_birth: str
    relationship_id: str
    via_team: str | None
    since: datetime


@dataclass(frozen=True)
class ReferralItem:
    """A referral between two agencies, as either party sees it."""

    referral_id: str
    client_id: ClientId
    from_agency: str
    to_agency: str
    category: str
    urgency: str
    status: str
    reason: str
    sent_by: str
    sent_at: datetime
    due_by: datetime
    acknowledged_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None
    overdue: bool
    response_seconds: float | None


@dataclass(frozen=True)
class ReferralStats:
    """Response times of the referrals an agency received (or sent)."""

    agency_id: str
    direction: Literal["incoming", "outgoing"]
    total: int
    open: int
    overdue: int
    responded: int
    median_response_seconds: float | None
    p90_response_seconds: float | None


@dataclass(frozen=True)
class ConcernItem:
    """One alert or safeguarding entry about the client. ``kind`` and ``severity`` are
    shown only when the policy lets the caller see the entry itself."""

    entry_id: str
    agency_id: str
    occurred_at: datetime
    resolved: bool
    kind: str | None
    severity: str | None


@dataclass(frozen=True)
class ConcernSummary:
    """Concerns about one client across agencies; ``flagged`` when several agencies
    raised concerns within the configured window."""

    client_id: ClientId
    flagged: bool
    window_days: int
    agencies: tuple[str, ...]
    concern_count: int
    open_count: int
    first_at: datetime | None
    last_at: datetime | None
    concerns: tuple[ConcernItem, ...]
    state_version: int = 0
    protocol_version: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": str(self.client_id),
            "flagged": self.flagged,
            "agencies": list(self.agencies),
            "concerns": [
                [c.entry_id, c.agency_id, c.occurred_at.isoformat(), c.resolved, c.kind]
                for c in self.concerns
            ],
        }

    def access_record(
        self, caller: Viewer, *, request_id: str, action: str, at: datetime
    ) -> AccessRecord:
        """The access record for showing this summary to ``caller`` (a safeguarding lead)."""
        return access_record_for(
            caller=caller,
            purpose=Purpose.SAFEGUARDING.value,
            basis=ReadBasis("agency_involvement"),
            client_id=str(self.client_id),
            items=(),
            response_hash=response_hash(self.to_json()),
            request_id=request_id,
            action=action,
            at=at,
            view_version=None,
            state_version=self.state_version,
            protocol_version=self.protocol_version,
            access_id=None,
        )


# --- explanation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """Why the caller can (or cannot) see one entry of a client they are involved with.

    ``decision`` is the sharing policy's read-time ``Decision`` (None if the entry
    does not exist on this record); ``in_view`` says whether the caller's curated
    view currently holds the entry (it lags the log by the projection delay).
    """

    client_id: ClientId
    entry_id: str
    purpose: Purpose
    basis: ReadBasis
    found: bool
    in_view: bool
    decision: Decision | None
    entered_in_error: bool = False

    @property
    def visible(self) -> bool:
        return self.found and self.in_view and self.decision is not None and self.decision.allowed
