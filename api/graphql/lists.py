"""Lists: the caller's caseload, their agency's referrals (incoming, outgoing, overdue), the
referral response figures, and concerns across agencies for safeguarding leads.

Every list is cursor-paged with a capped page size; each client a page returns is
recorded once in the access log.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry

from api.graphql.clients import ClientIdentity
from api.graphql.common import field
from api.graphql.context import ApiContext, Ctx
from api.graphql.paging import open_cursor, page_size, seal_cursor
from api.graphql.types import PageInfo
from carerecord import vocab
from carerecord.access_log import access_record, response_hash
from projections.lists.results import ConcernSummary, ReferralDirection, ReferralItem

CASELOAD = "caseload.list"
REFERRALS = "referrals.list"
CONCERNS = "concerns.list"


@strawberry.enum
class Direction(Enum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"
    OVERDUE = "overdue"


@strawberry.enum
class StatsDirection(Enum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


def _audit_clients(
    context: ApiContext, action: str, basis: str, shown: dict[str, list[dict[str, Any]]]
) -> None:
    """One access record per client a list returned (what it returned, hashed)."""
    at = context.now()
    for client_id, items in shown.items():
        context.trail.add(
            access_record(
                context.viewer,
                request_id=context.request_id,
                at=at,
                action=action,
                purpose=vocab.Purpose.DIRECT_CARE.value,
                basis=basis,
                client_id=client_id,
                response_hash=response_hash({"items": items}),
            )
        )


@strawberry.type
class CaseloadItem:
    client: ClientIdentity
    relationship_id: strawberry.ID
    via_team: strawberry.ID | None
    since: datetime


@strawberry.type
class CaseloadPage:
    items: list[CaseloadItem]
    page_info: PageInfo


@strawberry.type
class Referral:
    referral_id: strawberry.ID
    client_id: strawberry.ID
    from_agency: str
    to_agency: str
    category: str
    urgency: vocab.Urgency
    status: vocab.ReferralStatus
    reason: str
    sent_by: strawberry.ID
    sent_at: datetime
    due_by: datetime
    acknowledged_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None
    overdue: bool
    response_seconds: float | None

    @classmethod
    def of(cls, item: ReferralItem) -> Referral:
        return cls(
            referral_id=strawberry.ID(item.referral_id),
            client_id=strawberry.ID(str(item.client_id)),
            from_agency=item.from_agency,
            to_agency=item.to_agency,
            category=item.category,
            urgency=vocab.Urgency(item.urgency),
            status=vocab.ReferralStatus(item.status),
            reason=item.reason,
            sent_by=strawberry.ID(item.sent_by),
            sent_at=item.sent_at,
            due_by=item.due_by,
            acknowledged_at=item.acknowledged_at,
            responded_at=item.responded_at,
            closed_at=item.closed_at,
            overdue=item.overdue,
            response_seconds=item.response_seconds,
        )


@strawberry.type
class ReferralPage:
    items: list[Referral]
    page_info: PageInfo


@strawberry.type(description="How quickly your agency's referrals are answered.")
class ReferralStats:
    agency: str
    direction: StatsDirection
    total: int
    open: int
    overdue: int
    responded: int
    median_response_seconds: float | None
    p90_response_seconds: float | None


@strawberry.type
class Concern:
    entry_id: strawberry.ID
    agency: str
    occurred_at: datetime
    resolved: bool
    kind: vocab.AlertKind | None
    severity: vocab.Severity | None


@strawberry.type(description="Concerns about one client raised by several agencies.")
class ConcernSummaryView:
    client_id: strawberry.ID
    flagged: bool
    window_days: int
    agencies: list[str]
    concern_count: int
    open_count: int
    first_at: datetime | None
    last_at: datetime | None
    concerns: list[Concern]


@strawberry.type
class ConcernPage:
    items: list[ConcernSummaryView]
    page_info: PageInfo


def _concern(summary: ConcernSummary) -> ConcernSummaryView:
    return ConcernSummaryView(
        client_id=strawberry.ID(str(summary.client_id)),
        flagged=summary.flagged,
        window_days=summary.window_days,
        agencies=list(summary.agencies),
        concern_count=summary.concern_count,
        open_count=summary.open_count,
        first_at=summary.first_at,
        last_at=summary.last_at,
        concerns=[
            Concern(
                entry_id=strawberry.ID(c.entry_id),
                agency=c.agency_id,
                occurred_at=c.occurred_at,
                resolved=c.resolved,
                kind=None if c.kind is None else vocab.AlertKind(c.kind),
                severity=None if c.severity is None else vocab.Severity(c.severity),
            )
            for c in summary.concerns
        ],
    )


@strawberry.type
class ListQueries:
    @field(
        "Your caseload (or a team's you belong to): clients you have an active relationship "
        "with, by name. No other browsing exists."
    )
    def caseload(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        team_id: strawberry.ID | None = None,
    ) -> CaseloadPage:
        context = info.context
        kind = f"caseload:{team_id or ''}"
        page = context.services.reads.caseload(
            context.viewer,
            team_id=team_id,
            after=open_cursor(context, kind, after),
            limit=page_size(context, first),
        )
        shown: dict[str, list[dict[str, Any]]] = defaultdict(list)
        items = []
        for item in page.items:
            shown[str(item.client_id)].append(
                {
                    "client_id": str(item.client_id),
                    "given_name": item.given_name,
                    "family_name": item.family_name,
                    "date_of_birth": item.date_of_birth,
                    "relationship_id": item.relationship_id,
                }
            )
            items.append(
                CaseloadItem(
                    client=ClientIdentity(
                        client_id=strawberry.ID(str(item.client_id)),
                        given_name=item.given_name,
                        family_name=item.family_name,
                        date_of_birth=date.fromisoformat(item.date_of_birth),
                    ),
                    relationship_id=strawberry.ID(item.relationship_id),
                    via_team=None if item.via_team is None else strawberry.ID(item.via_team),
                    since=item.since,
                )
            )
        _audit_clients(context, CASELOAD, "care_relationship", shown)
        return CaseloadPage(
            items=items,
            page_info=PageInfo(
                end_cursor=seal_cursor(context, kind, page.next_after),
                has_next_page=page.next_after is not None,
            ),
        )

    @field("Your agency's referrals: incoming, outgoing, or overdue (incoming, past due).")
    def referrals(
        self,
        info: Ctx,
        direction: Direction = Direction.INCOMING,
        first: int | None = None,
        after: str | None = None,
    ) -> ReferralPage:
        context = info.context
        kind = f"referrals:{direction.value}"
        chosen: ReferralDirection = direction.value
        page = context.services.reads.referrals(
            context.viewer,
            chosen,
            after=open_cursor(context, kind, after),
            limit=page_size(context, first),
        )
        shown: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in page.items:
            shown[str(item.client_id)].append(
                {"referral_id": item.referral_id, "status": item.status, "reason": item.reason}
            )
        _audit_clients(context, REFERRALS, "referral_party", shown)
        return ReferralPage(
            items=[Referral.of(item) for item in page.items],
            page_info=PageInfo(
                end_cursor=seal_cursor(context, kind, page.next_after),
                has_next_page=page.next_after is not None,
            ),
        )

    @field("Counts and response times of your agency's referrals (no client data).")
    def referral_stats(
        self, info: Ctx, direction: StatsDirection = StatsDirection.INCOMING
    ) -> ReferralStats:
        context = info.context
        stats = context.services.reads.referral_stats(
            context.viewer, "incoming" if direction is StatsDirection.INCOMING else "outgoing"
        )
        return ReferralStats(
            agency=stats.agency_id,
            direction=StatsDirection(stats.direction),
            total=stats.total,
            open=stats.open,
            overdue=stats.overdue,
            responded=stats.responded,
            median_response_seconds=stats.median_response_seconds,
            p90_response_seconds=stats.p90_response_seconds,
        )

    @field(
        "Safeguarding leads: clients your agency is involved with about whom several "
        "agencies raised concerns."
    )
    def concerns(
        self, info: Ctx, first: int | None = None, after: str | None = None
    ) -> ConcernPage:
        context = info.context
        page = context.services.reads.concerns(
            context.viewer,
            after=open_cursor(context, "concerns", after),
            limit=page_size(context, first),
        )
        shown: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for summary in page.items:
            shown[str(summary.client_id)].append(
                {"entries": sorted(c.entry_id for c in summary.concerns)}
            )
        _audit_clients(context, CONCERNS, "safeguarding_lead", shown)
        return ConcernPage(
            items=[_concern(s) for s in page.items],
            page_info=PageInfo(
                end_cursor=seal_cursor(context, "concerns", page.next_after),
                has_next_page=page.next_after is not None,
            ),
        )
