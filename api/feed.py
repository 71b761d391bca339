"""The audience feed, shared by the REST pull feed and GraphQL subscriptions.

A feed is per audience (the class of callers that see the same slices): its
sequence numbers say nothing about events the caller may not see, and they travel
only inside sealed cursors (``CursorCodec``), bound to the caller and to the
audience. Every page that returns client data is audited (one record per client)
before it is returned; referral items, which carry the referral's reason, are
audited too. A consumer resumes from the last cursor it processed: delivery is
at-least-once and ``event_id`` identifies an event for de-duplication.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from api.cursors import invalid_cursor
from api.graphql.common import viewer_scope
from api.services import Services
from carerecord.access_log import AccessRecord, access_record, response_hash
from carerecord.values import Viewer
from carerecord.vocab import Purpose
from projections.feed.results import BreakGlassNotice, FeedItem, FeedPage
from projections.lists.results import ReferralItem

FEED = "feed"


@dataclass(frozen=True)
class Position:
    """Where a consumer is in its audience's feed (opened from, or sealed into, a cursor)."""

    audience: str | None
    seq: int


def open_position(services: Services, viewer: Viewer, cursor: str | None) -> Position:
    if cursor is None:
        return Position(None, 0)
    value = services.cursors.open(FEED, viewer_scope(viewer), cursor)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
        or value[1] < 0
    ):
        raise invalid_cursor()
    return Position(value[0], value[1])


def seal_position(services: Services, viewer: Viewer, audience: str, seq: int) -> str:
    return services.cursors.seal(FEED, viewer_scope(viewer), [audience, seq])


def read_page(services: Services, viewer: Viewer, position: Position, limit: int) -> FeedPage:
    """A page of the caller's audience feed after ``position`` (blocking)."""
    page = services.reads.feed(viewer, after=position.seq, limit=limit)
    if position.audience is not None and page.audience != position.audience:
        # The caller's audience changed (e.g. new roles): this sequence means nothing there.
        raise invalid_cursor()
    return page


def page_records(page: FeedPage, *, request_id: str, action: str) -> list[AccessRecord]:
    """The access records of a page: one per client whose entries it returned, and one per
    client whose referrals it returned."""
    records = page.access_records(request_id=request_id, action=action, at=page.read_at)
    referrals: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in page.items:
        if item.referral is not None:
            referrals[str(item.client_id)].append(referral_json(item.referral))
    notices: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in page.items:
        if item.notice is not None:
            notices[str(item.client_id)].append(notice_json(item.notice))
    for client_id, shown in notices.items():  # the care team learns of a break-glass access
        records.append(
            access_record(
                page.caller,
                request_id=request_id,
                at=page.read_at,
                action=action,
                purpose=Purpose.DIRECT_CARE.value,
                basis="care_relationship",
                client_id=client_id,
                response_hash=response_hash({"notices": shown}),
                protocol_version=page.protocol_version,
            )
        )
    for client_id, shown in referrals.items():
        records.append(
            access_record(
                page.caller,
                request_id=request_id,
                at=page.read_at,
                action=action,
                purpose=Purpose.DIRECT_CARE.value,
                basis="referral_party",
                client_id=client_id,
                response_hash=response_hash({"referrals": shown}),
                protocol_version=page.protocol_version,
            )
        )
    return records


def referral_json(item: ReferralItem) -> dict[str, Any]:
    return {
        "referral_id": item.referral_id,
        "client_id": str(item.client_id),
        "from_agency": item.from_agency,
        "to_agency": item.to_agency,
        "category": item.category,
        "urgency": item.urgency,
        "status": item.status,
        "reason": item.reason,
        "sent_by": item.sent_by,
        "sent_at": item.sent_at.isoformat(),
        "due_by": item.due_by.isoformat(),
        "acknowledged_at": None
        if item.acknowledged_at is None
        else item.acknowledged_at.isoformat(),
        "responded_at": None if item.responded_at is None else item.responded_at.isoformat(),
        "closed_at": None if item.closed_at is None else item.closed_at.isoformat(),
        "overdue": item.overdue,
    }


def notice_json(notice: BreakGlassNotice) -> dict[str, Any]:
    return {
        "grant_id": notice.grant_id,
        "agency_id": notice.agency_id,
        "profession": notice.profession,
        "purpose": notice.purpose,
        "granted_at": notice.granted_at.isoformat(),
        "expires_at": notice.expires_at.isoformat(),
    }


def item_json(item: FeedItem, cursor: str, event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "cursor": cursor,
        "kind": item.kind,
        "client_id": str(item.client_id),
        "entry_id": item.entry_id,
        "entry": None if item.entry is None else item.entry.to_json(),
        "referral": None if item.referral is None else referral_json(item.referral),
        "notice": None if item.notice is None else notice_json(item.notice),
    }
