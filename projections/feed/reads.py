"""Reading the audience feed: the per-audience change stream, filtered per caller.

The audience-views projection appends items per audience with a sequence number
(``av_feed``); agency systems resume from the last sequence they processed and
de-duplicate by ``event_id`` (``position:kind:subject``, stable across rebuilds).

An audience is shared by every caller with the same agency, profession and roles,
so a page is filtered for *this* caller against each client's latest state:
entry items need a care relationship now (for an agency system: an active
relationship with its agency) and are re-decided by the policy (an entry no longer
visible is skipped - its recall follows); recalls need only the relationship;
referral items go to the two agencies of the referral.
"""

from __future__ import annotations

from typing import NamedTuple, cast

from carerecord import errors
from carerecord.client_record import ClientRecord
from carerecord.ids import ClientId
from carerecord.policy import ViewerRelationship, decide_entry, viewer_key
from carerecord.slice import SharedEntry, share
from carerecord.values import Viewer
from carerecord.vocab import Purpose, RelationshipKind
from projections.audience.core import BREAK_GLASS_GRANTED, RECALLED
from projections.audience.keys import audience_of
from projections.audience.reader import ClientEntries, FeedRow
from projections.engine.access import basis_of
from projections.engine.rows import ts
from projections.feed.results import BreakGlassNotice, FeedClientRead, FeedItem, FeedKind, FeedPage
from projections.lists.context import ReadContext
from projections.lists.reads import referral_item

SCAN_FACTOR = 10
MAX_SCAN = 2000


class ClientNow(NamedTuple):
    """A feed row's client as it is now: the aggregate and the caller's standing."""

    record: ClientRecord
    standing: ViewerRelationship


def read_feed(ctx: ReadContext, caller: Viewer, after: int, limit: int) -> FeedPage:
    now = ctx.app.clock()
    protocol = ctx.app.protocol()
    viewer = viewer_key(caller)
    key = audience_of(viewer, Purpose.DIRECT_CARE, RelationshipKind.CARE)
    audience = ctx.audience.audience_id(key)
    if audience is None:
        return FeedPage(
            caller=caller,
            audience=key.text,
            items=(),
            next_after=after,
            has_more=False,
            protocol_version=protocol.version,
            read_at=now,
        )
    scan = min(limit * SCAN_FACTOR, MAX_SCAN)
    rows = ctx.audience.feed_rows(audience, after, scan)

    records: dict[int, ClientNow | None] = {}
    wanted: dict[int, list[int]] = {}
    for row in rows:
        if row.client_no not in records:
            records[row.client_no] = _record(ctx, caller, row, now)
        if row.entry_no is not None:
            wanted.setdefault(row.client_no, []).append(row.entry_no)
    contents: dict[int, ClientEntries] = {}
    for client_no, nos in wanted.items():
        found = records[client_no]
        if found is not None and found.standing.kind is RelationshipKind.CARE:
            contents[client_no] = ctx.audience.client_entries(client_no, nos, audience)
    now_text = ts(now)
    referrals = ctx.referral_rows.by_ids(
        [r.subject for r in rows if r.subject is not None and r.kind != BREAK_GLASS_GRANTED]
    )

    items: list[FeedItem] = []
    delivered: dict[int, list[SharedEntry]] = {}
    next_after = after
    for row in rows:
        if len(items) >= limit:
            break
        next_after = row.seq
        found = records[row.client_no]
        if found is None:
            continue
        record, standing = found
        client_id = ClientId(record.id)
        if row.kind == BREAK_GLASS_GRANTED:  # for the care team: no reason text
            grant = record.grants.get(row.subject or "")
            if grant is not None and standing.kind is RelationshipKind.CARE:
                notice = BreakGlassNotice(
                    grant_id=grant.grant_id,
                    agency_id=grant.agency_id,
                    profession=grant.profession,
                    purpose=grant.purpose.value,
                    granted_at=grant.granted_at,
                    expires_at=grant.expires_at,
                )
                items.append(
                    FeedItem(
                        seq=row.seq,
                        kind="break_glass_granted",
                        client_id=client_id,
                        event_id=f"{row.position}:{row.kind}:{grant.grant_id}",
                        position=row.position,
                        entry_id=None,
                        entry=None,
                        referral=None,
                        notice=notice,
                    )
                )
            continue
        if row.subject is not None:
            state = record.referrals.get(row.subject)
            if state is None or caller.agency_id not in (state.from_agency, state.to_agency):
                continue
            detail = referrals.get(row.subject)
            items.append(
                FeedItem(
                    seq=row.seq,
                    kind=cast(FeedKind, row.kind),
                    client_id=client_id,
                    event_id=f"{row.position}:{row.kind}:{row.subject}",
                    position=row.position,
                    entry_id=None,
                    entry=None,
                    referral=None if detail is None else referral_item(detail, now_text),
                )
            )
            continue
        if standing.kind is not RelationshipKind.CARE or row.entry_no is None:
            continue
        held = contents[row.client_no]
        entry = held.entries.get(row.entry_no)
        if entry is None:
            continue
        entry_id = entry.labels.entry_id
        event_id = f"{row.position}:{row.kind}:{entry_id}"
        if row.kind == RECALLED:
            items.append(
                FeedItem(
                    seq=row.seq,
                    kind="entry_recalled",
                    client_id=client_id,
                    event_id=event_id,
                    position=row.position,
                    entry_id=entry_id,
                    entry=None,
                    referral=None,
                )
            )
            continue
        if entry.in_error or row.entry_no not in held.visible:
            continue
        decision = decide_entry(
            viewer,
            Purpose.DIRECT_CARE,
            entry.labels,
            record.sharing_state(),
            standing,
            protocol,
            now,
        )
        if not decision.allowed:
            continue
        shared = share(entry, decision)
        delivered.setdefault(row.client_no, []).append(shared)
        items.append(
            FeedItem(
                seq=row.seq,
                kind=cast(FeedKind, row.kind),
                client_id=client_id,
                event_id=event_id,
                position=row.position,
                entry_id=entry_id,
                entry=shared,
                referral=None,
            )
        )
    else:
        next_after = rows[-1].seq if rows else after
    reads = []
    for client_no, shown in delivered.items():
        found = records[client_no]
        assert found is not None
        record, standing = found
        reads.append(
            FeedClientRead(
                client_id=ClientId(record.id),
                basis=basis_of(standing),
                state_version=record.version,
                view_version=contents[client_no].view_version,
                items=tuple((e.entry_id, e.version) for e in shown),
                entries=tuple(shown),
            )
        )
    has_more = len(rows) == scan or next_after < (rows[-1].seq if rows else after)
    return FeedPage(
        caller=caller,
        audience=key.text,
        items=tuple(items),
        next_after=next_after,
        has_more=has_more,
        protocol_version=protocol.version,
        read_at=now,
        reads=tuple(reads),
    )


def _record(ctx: ReadContext, caller: Viewer, row: FeedRow, now: object) -> ClientNow | None:
    try:
        record = ctx.app.load_client(row.client_id)
    except errors.ClientNotFound:
        return None
    return ClientNow(record, record.standing_of(caller, now))  # type: ignore[arg-type]
