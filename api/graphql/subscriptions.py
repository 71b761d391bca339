"""Subscriptions: changes about the caller's clients that the caller may see, live.

``recordEvents(after:)`` catches up from the cursor, then follows live. Each event
carries an opaque ``cursor`` (resume after it) and a stable ``eventId`` (delivery is
at-least-once: de-duplicate on it). A consent withdrawal reaches a subscriber who
received what it allowed as an ``ENTRY_RECALLED`` event: remove the entry. Every
page of events is recorded in the access log before any of it is sent. If the store
fails in a way that passes (a restart, a crash, a freeze: ``api.errors.passes``), the
page is not sent and the subscription tries it again from the same place with a
capped back-off, so a database blip delays deliveries but never ends the
subscription; any other failure to audit ends it with ``AUDIT_UNAVAILABLE``. Nothing
is sent after the caller's token expires (the socket is closed then).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from enum import Enum

import strawberry

from api.errors import passes
from api.feed import Position, open_position, page_records, read_page, seal_position
from api.graphql.common import subscription
from api.graphql.context import Ctx
from api.graphql.governance import BreakGlassNoticeView
from api.graphql.lists import Referral
from api.graphql.types import Entry
from carerecord.errors import NotPermitted
from carerecord.transient import Backoff
from carerecord.vocab import ViewerKind
from projections.feed.results import FeedItem

log = logging.getLogger("carerecord.api")
DELIVERY = "feed.subscription"
PAGE = 100
IDLE_WAIT_SECONDS = 5.0


@strawberry.enum
class RecordEventKind(Enum):
    ENTRY_SHARED = "entry_shared"
    ENTRY_UPDATED = "entry_updated"
    ENTRY_RECALLED = "entry_recalled"
    ALERT_RAISED = "alert_raised"
    ALERT_RESOLVED = "alert_resolved"
    REFERRAL_SENT = "referral_sent"
    REFERRAL_ACKNOWLEDGED = "referral_acknowledged"
    REFERRAL_ACCEPTED = "referral_accepted"
    REFERRAL_DECLINED = "referral_declined"
    REFERRAL_CLOSED = "referral_closed"
    BREAK_GLASS_GRANTED = "break_glass_granted"


@strawberry.type(description="A change about one of your clients, as you may see it.")
class RecordEvent:
    event_id: strawberry.ID = strawberry.field(description="Stable: de-duplicate on it.")
    cursor: str = strawberry.field(description="Resume after this event with `after`.")
    kind: RecordEventKind
    client_id: strawberry.ID
    entry_id: strawberry.ID | None
    entry: Entry | None = strawberry.field(
        description="The entry as you may see it now (null for recalls and referrals)."
    )
    referral: Referral | None
    notice: BreakGlassNoticeView | None = strawberry.field(
        description="BREAK_GLASS_GRANTED: someone outside the care team used emergency access."
    )

    @classmethod
    def of(cls, item: FeedItem, cursor: str, event_id: str) -> RecordEvent:
        return cls(
            event_id=strawberry.ID(event_id),
            cursor=cursor,
            kind=RecordEventKind(item.kind),
            client_id=strawberry.ID(str(item.client_id)),
            entry_id=None if item.entry_id is None else strawberry.ID(item.entry_id),
            entry=None if item.entry is None else Entry.of(item.entry),
            referral=None if item.referral is None else Referral.of(item.referral),
            notice=None if item.notice is None else BreakGlassNoticeView.of(item.notice),
        )


@strawberry.type
class RecordSubscriptions:
    @subscription(
        "Changes about your clients that you may see: catch-up from `after` (a cursor from "
        "an earlier event), then live."
    )
    async def record_events(
        self, info: Ctx, after: str | None = None
    ) -> AsyncGenerator[RecordEvent, None]:
        context = info.context
        services = context.services
        viewer = context.viewer
        caller = context.caller
        assert caller is not None
        if viewer.kind is ViewerKind.CLIENT:
            raise NotPermitted(action="subscribe")
        position: Position = open_position(services, viewer, after)
        watcher = services.watcher
        writer = services.access_writer

        def live() -> bool:
            return datetime.now(UTC) < caller.expires_at

        services.metrics.subscriptions.inc()
        backoff = Backoff(0.5)
        try:
            while live():
                generation = watcher.generation
                try:
                    page = await asyncio.to_thread(read_page, services, viewer, position, PAGE)
                    records = page_records(page, request_id=context.request_id, action=DELIVERY)
                    if records:
                        await asyncio.gather(*(writer.record_async(r) for r in records))
                except Exception as exc:
                    if not passes(exc):
                        raise
                    pause = backoff.next()
                    log.warning(
                        "subscription: store unavailable (%s), retrying in %.1f s",
                        type(exc).__name__,
                        pause,
                    )
                    await asyncio.sleep(pause)  # then the same page again: nothing was sent
                    continue
                backoff.reset()
                for record in records:
                    services.metrics.access_records.labels(record.action).inc()
                for item in page.items:
                    if not live():
                        return
                    services.metrics.deliveries.inc()
                    yield RecordEvent.of(
                        item,
                        seal_position(services, viewer, page.audience, item.seq),
                        services.cursors.opaque_id(item.event_id),
                    )
                position = Position(page.audience, page.next_after)
                if not page.has_more:
                    await watcher.wait(generation, IDLE_WAIT_SECONDS)
        finally:
            services.metrics.subscriptions.dec()
