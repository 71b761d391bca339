"""Audience views, the pure fold: one client event -> working state and row changes.

See ``core`` for the state this folds into and how decisions are made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from eventsourcing.utils import get_topic

from carerecord.agency import Agency
from carerecord.client_record import ClientRecord
from carerecord.practitioner import Practitioner
from carerecord.slice import ALERT, fold_entry
from carerecord.values import CareRelationship
from carerecord.vocab import RelationshipKind, Role, Sector
from projections.audience.core import (
    ALERT_RAISED,
    ALERT_RESOLVED,
    BREAK_GLASS_GRANTED,
    RECALLED,
    SHARED,
    UPDATED,
    Changes,
    ClientWork,
    Context,
)
from projections.audience.keys import Staff, agency_system_audience

# --- folding one client event -------------------------------------------------------------


def regroup(work: ClientWork, ctx: Context) -> None:
    """Group every current entry by its decision signature (after loading them, or when
    the restrictions changed)."""
    work.sig, work.groups = {}, {}
    for entry_id, state in work.entries.items():
        if not state.in_error:
            work.group(work.entry_no[entry_id], state.labels, ctx.signature(state.labels, work))


def _visible_now(
    work: ClientWork, audience: int, ctx: Context, allowed_sigs: set[int] | None = None
) -> set[int]:
    """The client's entries ``audience`` may see, deciding each signature group once
    (the signatures allowed are added to ``allowed_sigs``)."""
    shown: set[int] = set()
    for sig in ctx.allowed_groups(work, audience):
        shown.update(work.groups[sig])
        if allowed_sigs is not None:
            allowed_sigs.add(sig)
    return shown


def _shown_to(work: ClientWork, sig: int, ctx: Context) -> tuple[tuple[int, bool], ...]:
    """The client's audiences that may see entries with signature ``sig`` (and whether
    each has a feed), cached until the client's sharing state, audiences or the
    protocol change."""
    if work.shown_epoch != ctx.epoch:
        work.shown_to, work.shown_epoch = {}, ctx.epoch
    found = work.shown_to.get(sig)
    if found is None:
        found = work.shown_to[sig] = ctx.shown_to(work, sig, sorted(work.audiences))
    return found


def new_entry(work: ClientWork, event: Any, position: int, ctx: Context, out: Changes) -> None:
    """A contribution recorded or an alert raised: store it, show it to whoever may see it."""
    state = fold_entry(work.entries, event)
    assert state is not None
    labels = state.labels
    entry_no = event.originator_version
    work.entries[labels.entry_id] = state
    work.entry_no[labels.entry_id] = entry_no
    sig = ctx.signature(labels, work)
    work.group(entry_no, labels, sig)
    client = work.no
    out.new_entries[(client, entry_no)] = state
    kind = ALERT_RAISED if state.kind == ALERT else SHARED
    visible, views, feed, seqs = work.visible, out.views, out.feed, ctx.feed_seq
    for audience, in_feed in _shown_to(work, sig, ctx):
        seen = visible.get(audience)
        if seen is None:
            seen = visible[audience] = set()
        seen.add(entry_no)
        views.add((client, audience))
        if in_feed:
            seq = seqs[audience] + 1
            seqs[audience] = seq
            ctx.dirty_seq.add(audience)
            feed.append((audience, seq, position, client, kind, entry_no, None))


def changed_entry(
    work: ClientWork, event: Any, position: int, ctx: Context, out: Changes, kind: str
) -> None:
    """An amendment (``UPDATED``), entry in error (``RECALLED``) or resolved alert
    (``ALERT_RESOLVED``): update the entry and tell the audiences that see it."""
    state = fold_entry(work.entries, event)
    assert state is not None
    entry_id = state.labels.entry_id
    entry_no = work.entry_no[entry_id]
    work.entries[entry_id] = state
    if kind == RECALLED:
        work.group(entry_no, state.labels, None)
    key = (work.no, entry_no)
    if key in out.new_entries:
        out.new_entries[key] = state
    else:
        previous = out.updated_entries.get(key)
        text_changed = kind == UPDATED or (previous is not None and previous[1])
        out.updated_entries[key] = (state, text_changed)
    for audience in sorted(work.audiences):
        seen = work.visible.get(audience)
        if seen is None or entry_no not in seen:
            continue
        if kind == RECALLED:
            seen.discard(entry_no)
            out.show(work, audience)
        if ctx.audience_keys[audience].in_feed:
            ctx.emit(out, audience, position, work.no, kind, entry_no, None)


def recompute(work: ClientWork, position: int, ctx: Context, out: Changes) -> None:
    """Decide every (audience, entry) pair again after the client's consent or
    restriction state, or the protocol, changed; share or recall the difference."""
    keys = ctx.audience_keys
    shown_to: dict[int, list[tuple[int, bool]]] = {sig: [] for sig in work.groups}
    for audience in sorted(work.audiences):
        seen = work.visible.setdefault(audience, set())
        in_feed = keys[audience].in_feed
        allowed: set[int] = set()
        shown = _visible_now(work, audience, ctx, allowed)
        for sig in allowed:
            shown_to[sig].append((audience, in_feed))
        changed = shown.symmetric_difference(seen)
        work.visible[audience] = shown
        if changed:
            out.show(work, audience)
        for entry_no in sorted(changed):
            now = entry_no in shown
            if in_feed:
                ctx.emit(
                    out, audience, position, work.no, SHARED if now else RECALLED, entry_no, None
                )
    # What each signature group is shown to, for the entries still to come.
    work.shown_to = {sig: tuple(audiences) for sig, audiences in shown_to.items()}
    work.shown_epoch = ctx.epoch


def ensure_audiences(work: ClientWork, position: int, ctx: Context, out: Changes) -> None:
    """Materialise the audiences that became relevant to the client, filling their views
    from the client's entries (never from the write model)."""
    wanted = ctx.relevant(work)
    fresh = sorted(key for key in wanted if ctx.audience_ids.get(key) not in work.audiences)
    if not fresh:
        return
    cached = work.shown_to if work.shown_epoch == ctx.epoch else {}
    added: dict[int, list[tuple[int, bool]]] = {}
    for key in fresh:
        audience = ctx.audience_id(key)
        work.audiences.add(audience)
        out.client_audiences.append((work.no, audience))
        allowed: set[int] = set()
        shown = _visible_now(work, audience, ctx, allowed)
        for sig in allowed:
            added.setdefault(sig, []).append((audience, key.in_feed))
        work.visible[audience] = shown
        out.show(work, audience)
        for entry_no in sorted(shown):
            if key.in_feed:
                ctx.emit(out, audience, position, work.no, SHARED, entry_no, None)
    # Keep the cached decisions of signatures still present, with the new audiences added.
    work.shown_to = {
        sig: tuple(sorted(audiences + tuple(added.get(sig, ()))))
        for sig, audiences in cached.items()
        if sig in work.groups
    }
    work.shown_epoch = ctx.epoch


def referral_event(
    work: ClientWork, event: Any, position: int, ctx: Context, out: Changes, kind: str
) -> None:
    """Tell both agencies of a referral: their systems, and their practitioners'
    direct-care audiences materialised for this client."""
    referral_id = str(event.referral_id)
    if kind == "referral_sent":
        work.referrals[referral_id] = (str(event.agency_id), str(event.to_agency))
        work.state_dirty = True
    parties = work.referrals[referral_id]
    targets = {
        ctx.audience_id(agency_system_audience(agency, ctx.sectors.get(agency)))
        for agency in parties
    }
    for audience in work.audiences:
        key = ctx.audience_keys[audience]
        if key.in_feed and key.viewer.agency_id in parties:
            targets.add(audience)
    for audience in sorted(targets):
        ctx.emit(out, audience, position, work.no, kind, None, referral_id)


def relationship_row(rel: CareRelationship) -> tuple[str, str | None, str | None]:
    return (rel.agency_id, rel.practitioner_id, rel.team_id)


# --- dispatch ---------------------------------------------------------------------------


def _consents(work: ClientWork, event: Any, position: int, ctx: Context, out: Changes) -> None:
    if isinstance(event, ClientRecord.ConsentRecorded):
        work.consents[event.decision.consent_id] = event.decision
    else:
        del work.consents[event.consent_id]
    work.sharing_changed()
    work.state_dirty = True
    recompute(work, position, ctx, out)


def _restrictions(work: ClientWork, event: Any, position: int, ctx: Context, out: Changes) -> None:
    if isinstance(event, ClientRecord.RestrictionPlaced):
        work.restrictions[event.restriction.restriction_id] = event.restriction
    else:
        del work.restrictions[event.restriction_id]
    work.sharing_changed()
    work.state_dirty = True
    regroup(work, ctx)
    recompute(work, position, ctx, out)


def _relationships(work: ClientWork, event: Any, position: int, ctx: Context, out: Changes) -> None:
    work.state_dirty = True
    if isinstance(event, ClientRecord.CareRelationshipStarted):
        rel = event.relationship
        work.relationships[rel.relationship_id] = rel
        out.relationships[rel.relationship_id] = (work.no, *relationship_row(rel))
        ensure_audiences(work, position, ctx, out)
    else:
        del work.relationships[event.relationship_id]
        out.relationships[event.relationship_id] = None


def _grants(work: ClientWork, event: Any, position: int, ctx: Context, out: Changes) -> None:
    grant = event.grant
    work.grants[grant.grant_id] = grant
    work.state_dirty = True
    out.relationships[grant.grant_id] = (work.no, grant.agency_id, grant.practitioner_id, None)
    ensure_audiences(work, position, ctx, out)
    # Tell the care team (their direct-care feeds: practitioners and agency systems).
    for audience in sorted(work.audiences):
        key = ctx.audience_keys[audience]
        if key.in_feed and key.standing is RelationshipKind.CARE:
            ctx.emit(out, audience, position, work.no, BREAK_GLASS_GRANTED, None, grant.grant_id)


def _registered(work: ClientWork, event: Any, position: int, ctx: Context, out: Changes) -> None:
    ensure_audiences(work, position, ctx, out)


def _changed(kind: str) -> Handler:
    def handle(work: ClientWork, event: Any, position: int, ctx: Context, out: Changes) -> None:
        changed_entry(work, event, position, ctx, out, kind)

    return handle


def _referral(kind: str) -> Handler:
    def handle(work: ClientWork, event: Any, position: int, ctx: Context, out: Changes) -> None:
        referral_event(work, event, position, ctx, out, kind)

    return handle


Handler = Callable[[ClientWork, Any, int, Context, Changes], None]
_CR = ClientRecord
HANDLERS: dict[str, Handler] = {
    get_topic(_CR.Registered): _registered,
    get_topic(_CR.ContributionRecorded): new_entry,
    get_topic(_CR.AlertRaised): new_entry,
    get_topic(_CR.ContributionAmended): _changed(UPDATED),
    get_topic(_CR.ContributionEnteredInError): _changed(RECALLED),
    get_topic(_CR.AlertResolved): _changed(ALERT_RESOLVED),
    get_topic(_CR.ConsentRecorded): _consents,
    get_topic(_CR.ConsentWithdrawn): _consents,
    get_topic(_CR.RestrictionPlaced): _restrictions,
    get_topic(_CR.RestrictionLifted): _restrictions,
    get_topic(_CR.CareRelationshipStarted): _relationships,
    get_topic(_CR.CareRelationshipEnded): _relationships,
    get_topic(_CR.BreakGlassGranted): _grants,
    get_topic(_CR.ReferralSent): _referral("referral_sent"),
    get_topic(_CR.ReferralAcknowledged): _referral("referral_acknowledged"),
    get_topic(_CR.ReferralAccepted): _referral("referral_accepted"),
    get_topic(_CR.ReferralDeclined): _referral("referral_declined"),
    get_topic(_CR.ReferralClosed): _referral("referral_closed"),
}
NEEDS_FULL = frozenset(
    get_topic(t)
    for t in (
        _CR.ContributionAmended,
        _CR.ContributionEnteredInError,
        _CR.AlertResolved,
        _CR.ConsentRecorded,
        _CR.ConsentWithdrawn,
        _CR.RestrictionPlaced,
        _CR.RestrictionLifted,
        _CR.CareRelationshipStarted,
        _CR.BreakGlassGranted,
    )
)
CLIENT_PREFIX = get_topic(_CR.Registered).rsplit(".", 1)[0] + "."
REGISTERED = get_topic(_CR.Registered)


def apply(
    work: ClientWork, topic: str, event: Any, position: int, ctx: Context, out: Changes
) -> None:
    """Fold one event of the client's stream (``work.full`` must hold if NEEDS_FULL)."""
    work.version = event.originator_version
    work.version_dirty = True
    out.clients[work.no] = work
    handler = HANDLERS.get(topic)
    if handler is not None:
        handler(work, event, position, ctx, out)


# --- the directory, as the views see it -----------------------------------------------------


def apply_directory(ctx: Context, event: Any) -> tuple[str, str, frozenset[str]] | None:
    """Fold a directory or protocol event into the context.

    Returns whom it affects - (practitioner id, agency, teams before and after) -
    when clients involved with that practitioner must have their audiences checked.
    """
    if isinstance(event, Agency.Registered):
        ctx.sectors[event.code] = Sector(event.sector)
        ctx.directory_dirty = True
        return None
    if isinstance(event, Practitioner.Enrolled):
        staff = Staff(
            event.practitioner_id,
            event.agency_id,
            event.profession,
            frozenset(Role(r) for r in event.roles),
            frozenset(event.teams),
        )
        ctx.staff[staff.practitioner_id] = staff
        _index_teams(ctx, staff, add=True)
        ctx.directory_dirty = True
        return (staff.practitioner_id, staff.agency_id, staff.teams)
    if isinstance(event, Practitioner.RolesReassigned | Practitioner.LeftService):
        old = next(
            s
            for s in ctx.staff.values()
            if Practitioner.id_for(s.practitioner_id) == event.originator_id
        )
        if isinstance(event, Practitioner.RolesReassigned):
            new = replace(
                old, roles=frozenset(Role(r) for r in event.roles), teams=frozenset(event.teams)
            )
        else:
            new = replace(old, active=False)
        _index_teams(ctx, old, add=False)
        ctx.staff[new.practitioner_id] = new
        _index_teams(ctx, new, add=True)
        ctx.directory_dirty = True
        return (new.practitioner_id, new.agency_id, old.teams | new.teams)
    return None


def _index_teams(ctx: Context, staff: Staff, *, add: bool) -> None:
    for team in staff.teams:
        members = ctx.team_members.setdefault((staff.agency_id, team), set())
        if add and staff.active:
            members.add(staff.practitioner_id)
        else:
            members.discard(staff.practitioner_id)
