"""A client's record as the caller's curated slice; the profession overview; alerts; the
involvement index; "why can I (not) see this".

Every field that returns client data adds what it returned to the request's audit
trail; the HTTP edge writes it before the response leaves. A client the caller may
not see and a client that does not exist give the same ``CLIENT_NOT_FOUND``.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.common import CONSISTENCY, field, viewer_scope
from api.graphql.context import ApiContext, Ctx
from api.graphql.me import Agency
from api.graphql.paging import open_cursor, page_size, seal_cursor
from api.graphql.types import Entry, EntryKind, PageInfo, ReadBasisType
from carerecord import vocab
from carerecord.access_log import access_record, response_hash
from carerecord.slice import SharedEntry
from projections.lists.overview import sections as overview_sections
from projections.lists.record import ClientSlice, Involvement
from projections.lists.results import Explanation

READ = "record.read"
INVOLVEMENT = "involvement.read"
EXPLAIN = "record.explain"
ENTRIES = "entries"
CONSISTENCY_WAIT_SECONDS = 5.0


def wait_for_consistency(context: ApiContext, token: str | None) -> None:
    """Read your own write: wait (briefly) until the views include the command's position."""
    if token is None:
        return
    position = context.services.cursors.open_int(CONSISTENCY, viewer_scope(context.viewer), token)
    context.services.reads.wait_for(position, timeout=CONSISTENCY_WAIT_SECONDS)


def audit_slice(context: ApiContext, read: ClientSlice) -> None:
    """Note the read of this slice: the record names every entry (and version) the read
    returned to the API for this caller and the ``slice_hash`` of them, with the versions
    the auditors replay it from. Within a request the first record per client stands
    (later fields - entries, alerts, overview - are views of the same slice)."""
    context.trail.add(
        read.access_record(request_id=context.request_id, action=READ, at=read.read_at)
    )


@strawberry.type
class EntryPage:
    items: list[Entry]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Entries matching the filters, all pages.")


@strawberry.type(description="One shared category, as your profession sees it.")
class OverviewSection:
    category: str
    title: str
    your_headings: list[str] = strawberry.field(
        description="Your profession's headings that record under this category."
    )
    entry_count: int
    agencies: list[str]
    professions: list[str]
    last_occurred_at: datetime | None
    latest: Entry | None
    latest_by_profession: list[Entry]


@strawberry.type(description="A summary of the client by shared category, built from your slice.")
class Overview:
    profession: str | None
    sections: list[OverviewSection]


@strawberry.type(name="ClientRecord", description="What you may see of one client, for a purpose.")
class ClientRecordView:
    client_id: strawberry.ID
    purpose: vocab.Purpose
    basis: ReadBasisType
    read_at: datetime
    _slice: strawberry.Private[ClientSlice]

    @field(
        "Entries in clinical-time order (oldest first unless `newestFirst`), optionally "
        "filtered by category or kind; cursor-paged."
    )
    def entries(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        category: str | None = None,
        kind: EntryKind | None = None,
        newest_first: bool = False,
    ) -> EntryPage:
        context = info.context
        size = page_size(context, first)
        chosen = [
            e
            for e in self._slice.entries
            if (category is None or e.category == category)
            and (kind is None or e.kind == kind.value)
        ]
        if newest_first:
            chosen.reverse()
        start = 0
        position = open_cursor(context, f"{ENTRIES}:{self.client_id}", after)
        if position is not None:
            key = (str(position[0]), str(position[1]))
            start = next(
                (i for i, e in enumerate(chosen) if _passed(e, key, newest_first)), len(chosen)
            )
        page = chosen[start : start + size]
        more = start + size < len(chosen)
        end = None
        if page:
            last = page[-1]
            end = seal_cursor(
                context,
                f"{ENTRIES}:{self.client_id}",
                [last.occurred_at.isoformat(), last.entry_id],
            )
        return EntryPage(
            items=[Entry.of(e) for e in page],
            page_info=PageInfo(end_cursor=end, has_next_page=more),
            total_count=len(chosen),
        )

    @field("Alerts you may see that are still active (most severe first).")
    def alerts(self, info: Ctx) -> list[Entry]:
        active = [
            e for e in self._slice.entries if e.kind == EntryKind.ALERT.value and not e.resolved
        ]
        rank = {"high": 0, "medium": 1, "low": 2}
        active.sort(key=lambda e: (rank.get(e.severity or "", 3), e.occurred_at))
        shown = active[: info.context.services.api.limits.max_page_size]
        return [Entry.of(e) for e in shown]

    @field("Your profession's overview of the client: shared categories with your headings.")
    def overview(self, info: Ctx) -> Overview:
        context = info.context
        read = self._slice
        protocol = context.services.care_record.protocol()
        if protocol.version == read.protocol_version:
            found = overview_sections(read.entries, protocol, read.caller.profession)
        else:  # the protocol changed since the slice was read: read it again, audited too
            overview = context.services.reads.overview(context.viewer, self.client_id, read.purpose)
            audit_slice(context, overview.slice)
            found = overview.sections
        sections = [
            OverviewSection(
                category=s.category,
                title=s.title,
                your_headings=list(s.headings),
                entry_count=s.entry_count,
                agencies=list(s.agencies),
                professions=list(s.professions),
                last_occurred_at=s.last_occurred_at,
                latest=None if s.latest is None else Entry.of(s.latest),
                latest_by_profession=[Entry.of(e) for e in s.latest_by_profession],
            )
            for s in found
        ]
        return Overview(profession=read.caller.profession, sections=sections)


def _passed(entry: SharedEntry, key: tuple[str, str], newest_first: bool) -> bool:
    """Whether ``entry`` comes after the cursor's (occurred_at, entry_id) in the page order."""
    mine = (entry.occurred_at.isoformat(), entry.entry_id)
    return mine < key if newest_first else mine > key


@strawberry.type
class InvolvedWorker:
    practitioner_id: strawberry.ID | None
    team_id: strawberry.ID | None
    name: str | None
    profession: str | None
    phone: str | None
    email: str | None
    since: datetime


@strawberry.type
class InvolvedReferral:
    referral_id: strawberry.ID
    from_agency: str
    to_agency: str
    status: vocab.ReferralStatus
    urgency: vocab.Urgency
    due_by: datetime


@strawberry.type
class InvolvedAgency:
    agency: Agency | None
    agency_code: str
    workers: list[InvolvedWorker]
    open_referrals: list[InvolvedReferral]


@strawberry.type(description="Who else is involved with the client, and how to reach them.")
class InvolvementView:
    client_id: strawberry.ID
    agencies: list[InvolvedAgency]


def _involvement(result: Involvement) -> InvolvementView:
    agencies = []
    for a in result.agencies:
        contact = None
        if a.name is not None and a.sector is not None:
            contact = Agency(
                code=strawberry.ID(a.agency_id),
                name=a.name,
                sector=vocab.Sector(a.sector),
                phone=a.phone or "",
                email=a.email or "",
            )
        agencies.append(
            InvolvedAgency(
                agency=contact,
                agency_code=a.agency_id,
                workers=[
                    InvolvedWorker(
                        practitioner_id=None
                        if w.practitioner_id is None
                        else strawberry.ID(w.practitioner_id),
                        team_id=None if w.team_id is None else strawberry.ID(w.team_id),
                        name=w.name,
                        profession=w.profession,
                        phone=w.phone,
                        email=w.email,
                        since=w.since,
                    )
                    for w in a.workers
                ],
                open_referrals=[
                    InvolvedReferral(
                        referral_id=strawberry.ID(r.referral_id),
                        from_agency=r.from_agency,
                        to_agency=r.to_agency,
                        status=vocab.ReferralStatus(r.status),
                        urgency=vocab.Urgency(r.urgency),
                        due_by=r.due_by,
                    )
                    for r in a.referrals
                ],
            )
        )
    return InvolvementView(client_id=strawberry.ID(str(result.client_id)), agencies=agencies)


@strawberry.type
class Decision:
    allowed: bool
    rule: str
    basis: str | None
    reason: str
    redactions: list[str]
    protocol_version: int


@strawberry.type(description="Why you can (or cannot) see one entry, from the sharing policy.")
class AccessExplanation:
    client_id: strawberry.ID
    entry_id: strawberry.ID
    purpose: vocab.Purpose
    found: bool
    in_view: bool
    visible: bool
    decision: Decision | None


@strawberry.type
class RecordQueries:
    @field(
        "A client's record as your curated slice for a purpose of use (default direct care). "
        "Pass a mutation's `consistencyToken` as `consistentWith` to read your own write."
    )
    def client(
        self,
        info: Ctx,
        id: strawberry.ID,
        purpose: vocab.Purpose = vocab.Purpose.DIRECT_CARE,
        consistent_with: str | None = None,
    ) -> ClientRecordView:
        context = info.context
        wait_for_consistency(context, consistent_with)
        read = context.services.reads.client_slice(context.viewer, id, purpose)
        audit_slice(context, read)
        return ClientRecordView(
            client_id=strawberry.ID(str(read.client_id)),
            purpose=read.purpose,
            basis=ReadBasisType.of(read.basis),
            read_at=read.read_at,
            _slice=read,
        )

    @field(
        "Which agencies and named workers are involved with a client and how to reach them "
        "(no clinical content)."
    )
    def involvement(
        self, info: Ctx, client_id: strawberry.ID, consistent_with: str | None = None
    ) -> InvolvementView:
        context = info.context
        wait_for_consistency(context, consistent_with)
        result = context.services.reads.involvement(context.viewer, client_id)
        context.trail.add(
            result.access_record(
                request_id=context.request_id, action=INVOLVEMENT, at=result.read_at
            )
        )
        return _involvement(result)

    @field("Why you can (or cannot) see one entry of a client you are involved with.")
    def explain_access(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        entry_id: strawberry.ID,
        purpose: vocab.Purpose = vocab.Purpose.DIRECT_CARE,
    ) -> AccessExplanation:
        context = info.context
        result: Explanation = context.services.reads.explain(
            context.viewer, client_id, entry_id, purpose
        )
        decision = result.decision
        shown = AccessExplanation(
            client_id=strawberry.ID(str(result.client_id)),
            entry_id=strawberry.ID(result.entry_id),
            purpose=result.purpose,
            found=result.found,
            in_view=result.in_view,
            visible=result.visible,
            decision=None
            if decision is None
            else Decision(
                allowed=decision.allowed,
                rule=decision.rule,
                basis=decision.basis,
                reason=decision.reason,
                redactions=sorted(decision.redactions),
                protocol_version=decision.protocol_version,
            ),
        )
        context.trail.add(
            access_record(
                context.viewer,
                request_id=context.request_id,
                at=context.now(),
                action=EXPLAIN,
                purpose=result.purpose.value,
                basis=result.basis.kind,
                client_id=str(result.client_id),
                response_hash=response_hash(
                    {
                        "entry_id": result.entry_id,
                        "found": result.found,
                        "in_view": result.in_view,
                        "rule": None if decision is None else decision.rule,
                        "allowed": None if decision is None else decision.allowed,
                    }
                ),
                grant_id=result.basis.grant_id,
            )
        )
        return shown
