"""The repository's list and index reads: involvement, caseloads, referrals, concerns.

Split out of ``repository.py`` to keep modules small; the permission checks on the
caller happen in the repository before these run. Every client these return is
re-checked against the client's latest state from the write model, so projection
lag never shows a relationship that has already ended.
"""

from __future__ import annotations

import statistics
from typing import Any

import orjson

from carerecord import errors
from carerecord.ids import ClientId, parse_client_id
from carerecord.policy import decide_entry, viewer_key
from carerecord.values import Viewer
from carerecord.vocab import Purpose, ReferralStatus, RelationshipKind, ViewerKind
from projections.audience.keys import audience_of
from projections.engine.access import ReadBasis, basis_of
from projections.engine.rows import parse_ts, parse_ts_opt, ts
from projections.lists.context import ReadContext
from projections.lists.record import InvolvedAgency, InvolvedReferral, InvolvedWorker, Involvement
from projections.lists.results import (
    CaseloadItem,
    ConcernItem,
    ConcernSummary,
    Page,
    ReferralItem,
    ReferralStats,
)

OPEN_REFERRALS = frozenset(
    {ReferralStatus.SENT, ReferralStatus.ACKNOWLEDGED, ReferralStatus.ACCEPTED}
)


def decode_cursor(after: str | None, size: int) -> tuple[str, ...] | None:
    if after is None:
        return None
    try:
        parts = orjson.loads(after)
    except orjson.JSONDecodeError:
        raise errors.InvalidInput(field="after", reason="bad_cursor") from None
    if (
        not isinstance(parts, list)
        or len(parts) != size
        or not all(isinstance(p, str) and len(p) <= 300 for p in parts)
    ):
        raise errors.InvalidInput(field="after", reason="bad_cursor")
    return tuple(parts)


def encode_cursor(*parts: str) -> str:
    return orjson.dumps(list(parts)).decode()


# --- involvement ------------------------------------------------------------------------


def involvement(ctx: ReadContext, caller: Viewer, client_id: object) -> Involvement:
    now = ctx.app.clock()
    cid = parse_client_id(client_id)
    try:
        record = ctx.app.load_client(cid)
    except errors.ClientNotFound:
        raise errors.ClientNotFound() from None
    standing = record.standing_of(caller, now)
    open_referrals = {rid: r for rid, r in record.referrals.items() if r.status in OPEN_REFERRALS}
    if standing.kind is not RelationshipKind.NONE:
        basis = basis_of(standing)
    elif caller.kind is not ViewerKind.CLIENT and any(
        r.to_agency == caller.agency_id for r in open_referrals.values()
    ):
        basis = ReadBasis("open_referral")
    else:
        raise errors.ClientNotFound()
    version, rows = ctx.involvement_index.client(str(record.id))
    # The index ∩ what is active now: lag can delay a new involvement, never show an old one.
    active = [
        r for r in rows
        if (r[1] == "relationship" and r[0] in record.relationships) or r[0] in open_referrals
    ]  # fmt: skip
    agencies = ctx.directory.agencies([r[2] for r in active] + [r[7] for r in active if r[7]])
    people = ctx.directory.practitioners([r[3] for r in active if r[3]])
    workers: dict[str, list[InvolvedWorker]] = {}
    referrals: dict[str, list[InvolvedReferral]] = {}
    for (
        ref_id,
        kind,
        agency,
        practitioner,
        team,
        profession,
        since,
        frm,
        _s,
        urgency,
        due,
    ) in active:
        if kind == "relationship":
            person = people.get(practitioner) if practitioner else None
            workers.setdefault(agency, []).append(
                InvolvedWorker(
                    relationship_id=ref_id,
                    practitioner_id=practitioner,
                    team_id=team,
                    name=None if person is None else person[3],
                    profession=profession,
                    phone=None if person is None else person[4],
                    email=None if person is None else person[5],
                    since=parse_ts(since),
                )
            )
        else:
            state = open_referrals[ref_id]
            referrals.setdefault(agency, []).append(
                InvolvedReferral(ref_id, frm, agency, state.status.value, urgency, parse_ts(due))
            )
    result = []
    for agency_id in sorted(set(workers) | set(referrals)):
        info = agencies.get(agency_id)
        result.append(
            InvolvedAgency(
                agency_id=agency_id,
                name=None if info is None else info[1],
                sector=None if info is None else info[2],
                phone=None if info is None else info[3],
                email=None if info is None else info[4],
                workers=tuple(workers.get(agency_id, ())),
                referrals=tuple(referrals.get(agency_id, ())),
            )
        )
    return Involvement(
        caller=caller,
        client_id=ClientId(record.id),
        basis=basis,
        agencies=tuple(result),
        view_version=version,
        state_version=record.version,
        protocol_version=ctx.app.protocol().version,
        read_at=now,
    )


# --- caseloads --------------------------------------------------------------------------


def caseload(
    ctx: ReadContext, caller: Viewer, team: str | None, after: str | None, limit: int
) -> Page[CaseloadItem]:
    cursor = decode_cursor(after, 3)
    assert caller.agency_id is not None
    rows = ctx.caseloads.page(
        agency_id=caller.agency_id,
        practitioner_id=caller.practitioner_id,
        team_id=team,
        after=None if cursor is None else (cursor[0], cursor[1], cursor[2]),
        limit=limit,
    )
    now = ctx.app.clock()
    items = []
    for client_id, given, family, born, relationship_id, via_team, since in rows:
        try:
            record = ctx.app.load_client(client_id)
        except errors.ClientNotFound:
            continue
        if not _on_caseload(record.relationships.values(), caller, team):
            continue  # ended since the view was built
        if record.standing_of(caller, now).kind is not RelationshipKind.CARE:
            continue
        items.append(
            CaseloadItem(
                client_id=ClientId(record.id),
                given_name=given,
                family_name=family,
                date_of_birth=born,
                relationship_id=relationship_id,
                via_team=via_team,
                since=parse_ts(since),
            )
        )
    last = rows[-1] if len(rows) == limit else None
    return Page(tuple(items), None if last is None else encode_cursor(last[2], last[1], last[0]))


def _on_caseload(relationships: Any, caller: Viewer, team: str | None) -> bool:
    for rel in relationships:
        if rel.agency_id != caller.agency_id:
            continue
        if team is not None and rel.team_id == team:
            return True
        if team is None and rel.practitioner_id == caller.practitioner_id:
            return True
    return False


# --- referrals --------------------------------------------------------------------------


def referral_item(row: Any, now_text: str) -> ReferralItem:
    (rid, client, frm, to, category, urgency, status, reason, sent_by, sent_at, due_by,
     acknowledged, responded, closed, seconds) = row  # fmt: skip
    awaiting = status in (ReferralStatus.SENT.value, ReferralStatus.ACKNOWLEDGED.value)
    return ReferralItem(
        referral_id=rid,
        client_id=parse_client_id(client),
        from_agency=frm,
        to_agency=to,
        category=category,
        urgency=urgency,
        status=status,
        reason=reason,
        sent_by=sent_by,
        sent_at=parse_ts(sent_at),
        due_by=parse_ts(due_by),
        acknowledged_at=parse_ts_opt(acknowledged),
        responded_at=parse_ts_opt(responded),
        closed_at=parse_ts_opt(closed),
        overdue=awaiting and due_by < now_text,
        response_seconds=None if seconds is None else float(seconds),
    )


def referrals(
    ctx: ReadContext, agency_id: str, direction: str, after: str | None, limit: int
) -> Page[ReferralItem]:
    cursor = decode_cursor(after, 2)
    now_text = ts(ctx.app.clock())
    rows = ctx.referral_rows.page(
        agency_id=agency_id,
        direction=direction,
        now=now_text,
        after=None if cursor is None else (cursor[0], cursor[1]),
        limit=limit,
    )
    items = tuple(referral_item(r, now_text) for r in rows)
    last = rows[-1] if len(rows) == limit else None
    return Page(items, None if last is None else encode_cursor(last[10], last[0]))


def referral_stats(ctx: ReadContext, agency_id: str, direction: str) -> ReferralStats:
    now_text = ts(ctx.app.clock())
    rows = ctx.referral_rows.stats_rows(agency_id=agency_id, direction=direction)
    times = sorted(float(r[3]) for r in rows if r[3] is not None)
    p90 = None
    if times:
        p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    return ReferralStats(
        agency_id=agency_id,
        direction="incoming" if direction == "incoming" else "outgoing",
        total=len(rows),
        open=sum(1 for r in rows if r[0]),
        overdue=sum(1 for r in rows if r[1] and r[2] < now_text),
        responded=len(times),
        median_response_seconds=statistics.median(times) if times else None,
        p90_response_seconds=p90,
    )


# --- concerns ---------------------------------------------------------------------------


def concerns(
    ctx: ReadContext, caller: Viewer, after: str | None, limit: int
) -> Page[ConcernSummary]:
    cursor = decode_cursor(after, 1)
    assert caller.agency_id is not None
    rows = ctx.concern_rows.flagged_page(
        agency_id=caller.agency_id, after=None if cursor is None else cursor[0], limit=limit
    )
    details = ctx.concern_rows.concerns([str(r[0]) for r in rows])
    protocol = ctx.app.protocol()
    now = ctx.app.clock()
    window = ctx.settings.concern_window_days
    viewer = viewer_key(caller)
    items = []
    for client_id, agencies, count, open_count, first_at, last_at in rows:
        try:
            record = ctx.app.load_client(client_id)
        except errors.ClientNotFound:
            continue
        if not any(r.agency_id == caller.agency_id for r in record.relationships.values()):
            continue  # the agency is no longer involved
        standing = record.standing_of(caller, now)
        state = record.sharing_state()
        key = audience_of(viewer, Purpose.SAFEGUARDING, standing.kind)
        shown = []
        for entry_id, agency, _source, kind, severity, occurred, resolved in details.get(
            str(client_id), []
        ):
            visible = False
            if standing.kind is not RelationshipKind.NONE:
                entry, in_view = ctx.audience.entry(str(client_id), entry_id, key)
                visible = (
                    entry is not None
                    and in_view
                    and decide_entry(
                        viewer, Purpose.SAFEGUARDING, entry.labels, state, standing, protocol, now
                    ).allowed
                )
            shown.append(
                ConcernItem(
                    entry_id=entry_id,
                    agency_id=agency,
                    occurred_at=parse_ts(occurred),
                    resolved=bool(resolved),
                    kind=kind if visible else None,
                    severity=severity if visible else None,
                )
            )
        items.append(
            ConcernSummary(
                client_id=ClientId(record.id),
                flagged=True,
                window_days=window,
                agencies=tuple(str(agencies).split()),
                concern_count=int(count),
                open_count=int(open_count),
                first_at=parse_ts_opt(first_at),
                last_at=parse_ts_opt(last_at),
                concerns=tuple(shown),
                state_version=record.version,
                protocol_version=protocol.version,
            )
        )
    last = rows[-1] if len(rows) == limit else None
    return Page(tuple(items), None if last is None else encode_cursor(str(last[0])))
