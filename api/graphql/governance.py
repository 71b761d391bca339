"""Governance: the access audit index, time travel, the break-glass review queue and the
usage figures - for auditors and information-governance officers only.

| field | who |
|---|---|
| ``accessAudit`` | auditors and information-governance officers (the policy's audit roles) |
| ``reconstructAccess``, ``recordAsOf`` | auditors |
| ``breakGlassReviewQueue`` | information-governance officers, their own agency's grants |
| ``usageReport`` | information-governance officers and auditors (counts only) |
| ``protocolReach`` | information-governance officers and auditors (categories only) |

Anyone else gets ``NOT_PERMITTED`` and no data: the services these resolvers call
(``projections.audit.governance``) check the roles. The auditors' own reads of client data
are audited like any other (purpose ``audit``, basis ``audit``, actions ``audit.*``),
one access record per client a response shows, before the response leaves; the
figures carry no client data and write none.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from api.graphql.common import field
from api.graphql.context import ApiContext, Ctx
from api.graphql.paging import open_cursor, page_size, seal_cursor
from api.graphql.types import Entry, PageInfo
from carerecord import vocab
from carerecord.access_log import access_record, response_hash
from carerecord.audit.reconstruct import entry_json
from carerecord.errors import InvalidInput
from carerecord.ids import parse_client_id, parse_code, parse_entity_id
from projections.audit.break_glass import BreakGlassGrantView
from projections.audit.governance import (
    access_index,
    protocol_reach,
    reconstruct_access,
    record_as_of,
    review_queue,
    usage_figures,
)
from projections.audit.index import AccessQuery, IndexedAccess
from projections.audit.settings import GovernanceSettings
from projections.engine.rows import ts
from projections.feed.results import BreakGlassNotice

INDEX = "audit.index"
RECONSTRUCT = "audit.reconstruct"
AS_OF = "audit.as_of"
QUEUE = "audit.break_glass_queue"
AUDIT = vocab.Purpose.AUDIT.value
SETTINGS_KEY = "governance_settings"


def governance_settings(context: ApiContext) -> GovernanceSettings:
    found = context.services.extras.get(SETTINGS_KEY)
    return found if isinstance(found, GovernanceSettings) else GovernanceSettings()


def audit_read(
    context: ApiContext,
    *,
    action: str,
    client_id: str | None,
    shown: Any,
    items: tuple[tuple[str, int], ...] = (),
) -> None:
    """Note an auditor's read of one client (what it showed, hashed) for the access log."""
    context.trail.add(
        access_record(
            context.viewer,
            request_id=context.request_id,
            at=context.now(),
            action=action,
            purpose=AUDIT,
            basis=AUDIT,
            client_id=client_id,
            items=items,
            response_hash=response_hash({"shown": shown}),
        )
    )


# --- the access audit index ---------------------------------------------------------------------


@strawberry.enum(description="What came of an access: shown, or refused (nothing returned).")
class AccessOutcome(Enum):
    SHOWN = "shown"
    REFUSED = "refused"


@strawberry.input(description="Which accesses to list: every condition given must hold.")
class AccessAuditFilter:
    client_id: strawberry.ID | None = None
    practitioner_id: strawberry.ID | None = None
    agency: str | None = None
    basis: str | None = strawberry.field(
        default=None,
        description="The caller's standing (care_relationship, break_glass, subject_access, "
        "audit, referral_party...) or an entry's basis (consent, implied_consent, controller, "
        "safeguarding, vital_interests, legal_obligation).",
    )
    purpose: vocab.Purpose | None = None
    action: str | None = None
    viewer_kind: vocab.ViewerKind | None = None
    grant_id: strawberry.ID | None = None
    outcome: AccessOutcome | None = strawberry.field(
        default=None, description="Reads that showed something, or refused attempts."
    )
    refusal: str | None = strawberry.field(
        default=None, description="Refused attempts with this code (NO_CARE_RELATIONSHIP...)."
    )
    from_: datetime | None = strawberry.field(default=None, name="from", description="Inclusive.")
    to: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.type(description="One recorded access (no clinical content).")
class AccessAuditRecord:
    access_id: strawberry.ID
    position: int = strawberry.field(description="Its place in the access log.")
    at: datetime
    action: str
    viewer_kind: str
    practitioner_id: strawberry.ID | None
    agency: str | None
    profession: str | None
    roles: list[str]
    purpose: str
    basis: str = strawberry.field(description="The caller's standing towards the client.")
    entry_bases: list[str] = strawberry.field(
        description="The read-time basis of each entry it returned (consent, safeguarding...)."
    )
    client_id: strawberry.ID | None
    grant_id: strawberry.ID | None = strawberry.field(description="The break-glass grant used.")
    request_id: str
    item_count: int
    source_agencies: list[str] = strawberry.field(
        description="Agencies that contributed the entries it returned."
    )
    outcome: AccessOutcome = strawberry.field(
        description="SHOWN, or REFUSED: a refused attempt (no data was returned)."
    )
    refusal: str | None = strawberry.field(description="A refused attempt's code.")

    @classmethod
    def of(cls, a: IndexedAccess) -> AccessAuditRecord:
        return cls(
            access_id=strawberry.ID(a.access_id),
            position=a.position,
            at=a.at,
            action=a.action,
            viewer_kind=a.viewer_kind,
            practitioner_id=None if a.practitioner_id is None else strawberry.ID(a.practitioner_id),
            agency=a.agency_id,
            profession=a.profession,
            roles=list(a.roles),
            purpose=a.purpose,
            basis=a.basis,
            entry_bases=list(a.entry_bases),
            client_id=None if a.client_id is None else strawberry.ID(a.client_id),
            grant_id=None if a.grant_id is None else strawberry.ID(a.grant_id),
            request_id=a.request_id,
            item_count=a.item_count,
            source_agencies=list(a.source_agencies),
            outcome=AccessOutcome(a.outcome),
            refusal=a.refusal,
        )


@strawberry.type
class AccessAuditPage:
    items: list[AccessAuditRecord]
    page_info: PageInfo
    indexed_up_to: int = strawberry.field(
        description="The access-log position the index has reached (it follows the log)."
    )


def _query(f: AccessAuditFilter) -> AccessQuery:
    return AccessQuery(
        client_id=None if f.client_id is None else str(parse_client_id(f.client_id)),
        practitioner_id=None
        if f.practitioner_id is None
        else parse_code(f.practitioner_id, field="practitionerId"),
        agency_id=None if f.agency is None else parse_code(f.agency, field="agency"),
        basis=f.basis,
        purpose=None if f.purpose is None else f.purpose.value,
        action=f.action,
        viewer_kind=None if f.viewer_kind is None else f.viewer_kind.value,
        grant_id=None if f.grant_id is None else parse_entity_id(f.grant_id, field="grantId"),
        outcome=None if f.outcome is None else f.outcome.value,
        refusal=f.refusal,
        since=f.from_,
        until=f.to,
    )


def _index_cursor(value: Any) -> tuple[str, int] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)):
        raise InvalidInput(field="after", reason="invalid")
    return (str(value[0]), value[1])


# --- time travel --------------------------------------------------------------------------------


@strawberry.enum
class ReconstructionOutcome(Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_RECONSTRUCTIBLE = "not_reconstructible"


@strawberry.type(
    description="A recorded read replayed exactly: what it must have shown, and whether the "
    "hash of that equals the hash the access log recorded."
)
class AccessReconstruction:
    access_id: strawberry.ID
    client_id: strawberry.ID | None
    outcome: ReconstructionOutcome
    record_intact: bool = strawberry.field(
        description="The access record itself still matches its chain hash."
    )
    recorded_hash: str
    reconstructed_hash: str | None
    differing_entry_ids: list[strawberry.ID]
    missing: list[strawberry.ID] = strawberry.field(description="Recorded, not reconstructed.")
    unexpected: list[strawberry.ID] = strawberry.field(description="Reconstructed, not recorded.")
    changed: list[strawberry.ID] = strawberry.field(description="At another version.")
    view_version: int | None
    state_version: int | None
    protocol_version: int | None
    standing: str | None
    reason: str | None = strawberry.field(description="Why it cannot be replayed, if so.")
    entries: list[Entry] = strawberry.field(description="What the read must have shown.")


@strawberry.type(description="An entry as the record held it then (the whole record, for audit).")
class AsOfEntry:
    entry_id: strawberry.ID
    kind: str
    version: int
    agency: str
    author_id: strawberry.ID
    profession: str
    category: str
    heading: str
    sensitivity: vocab.Sensitivity
    lawful_basis: vocab.LawfulBasis
    occurred_at: datetime
    recorded_at: datetime
    text: str
    amended: bool
    in_error: bool
    resolved: bool


@strawberry.type
class AsOfConsent:
    consent_id: strawberry.ID
    decision: vocab.ConsentDecisionKind
    given_by: vocab.ConsentGiver
    decided_at: datetime
    expires_at: datetime | None
    in_force: bool
    categories: list[str] | None
    purposes: list[vocab.Purpose] | None


@strawberry.type
class AsOfGrant:
    grant_id: strawberry.ID
    practitioner_id: strawberry.ID
    agency: str
    profession: str
    purpose: vocab.Purpose
    granted_at: datetime
    expires_at: datetime
    active: bool
    review_outcome: vocab.BreakGlassOutcome | None


@strawberry.type(description="A client's whole record as it stood at a past time.")
class RecordAsOfView:
    client_id: strawberry.ID
    at: datetime
    version: int = strawberry.field(description="The client's stream version then.")
    recorded_at: datetime
    protocol_version: int | None
    entries: list[AsOfEntry]
    consents: list[AsOfConsent]
    restriction_count: int
    relationship_agencies: list[str]
    grants: list[AsOfGrant]


# --- break-glass review -------------------------------------------------------------------------


@strawberry.type(
    description="Someone outside the care team used emergency (break-glass) access to the "
    "client: which agency and profession, when, until when (the reason is for their "
    "agency's information-governance review only)."
)
class BreakGlassNoticeView:
    grant_id: strawberry.ID
    agency: str
    profession: str
    purpose: vocab.Purpose
    granted_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, notice: BreakGlassNotice) -> BreakGlassNoticeView:
        return cls(
            grant_id=strawberry.ID(notice.grant_id),
            agency=notice.agency_id,
            profession=notice.profession,
            purpose=vocab.Purpose(notice.purpose),
            granted_at=notice.granted_at,
            expires_at=notice.expires_at,
        )


@strawberry.type(description="A break-glass grant by your agency's staff, awaiting your review.")
class BreakGlassReviewItem:
    grant_id: strawberry.ID
    client_id: strawberry.ID
    practitioner_id: strawberry.ID
    practitioner_name: str | None
    profession: str
    purpose: vocab.Purpose
    reason: str = strawberry.field(description="The grantee's justification (for you only).")
    granted_at: datetime
    expires_at: datetime
    review_due_by: datetime
    overdue: bool
    reads_under_grant: int = strawberry.field(
        description="Reads recorded under this grant (as far as the audit index has got)."
    )


@strawberry.type
class BreakGlassReviewPage:
    items: list[BreakGlassReviewItem]
    page_info: PageInfo
    review_period_hours: float


# --- usage figures ------------------------------------------------------------------------------


@strawberry.type
class MonthlyFigure:
    month: str
    agency: str
    profession: str
    count: int


@strawberry.type
class TrainedContributors:
    profession: str
    trained: int = strawberry.field(description="Active, enrolled practitioners with training.")
    contributed: int = strawberry.field(description="Of those, who contributed in 90 days.")
    share: float | None


@strawberry.type(description="Entries contributed by one agency returned to readers of another.")
class AgencyFlow:
    from_agency: str
    reader_kind: str
    to_agency: str
    reads: int
    entries: int


@strawberry.type(description="Referrals an agency received in the period, against due dates.")
class ReferralResponse:
    agency: str
    received: int
    responded: int
    on_time: int
    late: int
    awaiting: int
    overdue: int
    median_response_hours: float | None
    median_allowed_hours: float | None


@strawberry.type(description="Refused attempts by one caller with one code, in a month.")
class RefusedAttemptsFigure:
    month: str
    agency: str
    profession: str
    practitioner_id: str = strawberry.field(description="Empty for agency systems and clients.")
    viewer_kind: str
    refusal: str
    attempts: int


@strawberry.type(description="Usage and flow figures (counts only).")
class UsageReportView:
    generated_at: datetime
    contributions: list[MonthlyFigure]
    reads: list[MonthlyFigure]
    trained_contributors: list[TrainedContributors]
    flow: list[AgencyFlow]
    referrals: list[ReferralResponse]
    refused_attempts: list[RefusedAttemptsFigure] = strawberry.field(
        description="Refused reads and commands naming a client, by caller and code "
        "(repeated refusals by one caller are what an IG officer looks for)."
    )


# --- resolvers ----------------------------------------------------------------------------------

QUEUE_CURSOR = "governance:queue"
INDEX_CURSOR = "governance:index"


def _entry_of(data: dict[str, Any]) -> AsOfEntry:
    return AsOfEntry(
        entry_id=strawberry.ID(data["entry_id"]),
        kind=data["kind"],
        version=data["version"],
        agency=data["agency_id"],
        author_id=strawberry.ID(data["author_id"]),
        profession=data["profession"],
        category=data["category"],
        heading=data["heading"],
        sensitivity=vocab.Sensitivity(data["sensitivity"]),
        lawful_basis=vocab.LawfulBasis(data["lawful_basis"]),
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
        recorded_at=datetime.fromisoformat(data["recorded_at"]),
        text=data["text"],
        amended=data["amended"],
        in_error=data["in_error"],
        resolved=data["resolved"],
    )


def _queue_item(
    grant: BreakGlassGrantView, names: dict[str, Any], reads: dict[str, int], due: Any, now: Any
) -> BreakGlassReviewItem:
    person = names.get(grant.practitioner_id)
    review_due = grant.granted_at + due
    return BreakGlassReviewItem(
        grant_id=strawberry.ID(grant.grant_id),
        client_id=strawberry.ID(grant.client_id),
        practitioner_id=strawberry.ID(grant.practitioner_id),
        practitioner_name=None if person is None else str(person[3]),
        profession=grant.profession,
        purpose=vocab.Purpose(grant.purpose),
        reason=grant.reason,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
        review_due_by=review_due,
        overdue=now >= review_due,
        reads_under_grant=reads.get(grant.grant_id, 0),
    )


@strawberry.type(
    description="What one profession reaches for one purpose under the protocol in force: "
    "categories, never entries (for the partnership board)."
)
class ProfessionReach:
    profession: str
    sector: str
    purpose: str
    with_consent: list[str] = strawberry.field(
        description="Categories of another agency's ordinary entries shown with the client's "
        "consent in scope."
    )
    without_consent: list[str] = strawberry.field(
        description="Categories shown with no consent decision on record (implied consent "
        "or another lawful basis the protocol names), from at least one sector."
    )
    under_break_glass: list[str] = strawberry.field(
        description="Categories a break-glass grant shows without consent (empty where this "
        "profession may not break the glass for this purpose)."
    )


@strawberry.type(description="The reach matrix of the protocol version in force.")
class ProtocolReach:
    version: int
    professions: list[ProfessionReach]


@strawberry.type
class GovernanceQueries:
    @field(
        "The access audit index: recorded accesses by client, practitioner, agency, basis, "
        "purpose, action and time, newest first (auditors and information-governance "
        "officers). Your query is itself recorded for each client it shows."
    )
    def access_audit(
        self,
        info: Ctx,
        filter: AccessAuditFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AccessAuditPage:
        context = info.context
        reader = access_index(context.services.databases.access, context.viewer)
        size = page_size(context, first)
        query = _query(filter or AccessAuditFilter())
        start = _index_cursor(open_cursor(context, INDEX_CURSOR, after))
        found = reader.page(query, after=start, limit=size + 1)
        page, more = found[:size], len(found) > size
        shown: dict[str | None, list[dict[str, object]]] = defaultdict(list)
        for a in page:
            shown[a.client_id].append(a.to_json())
        for client_id, rows in shown.items():
            audit_read(context, action=INDEX, client_id=client_id, shown=rows)
        end = seal_cursor(context, INDEX_CURSOR, list(page[-1].cursor)) if page else None
        return AccessAuditPage(
            items=[AccessAuditRecord.of(a) for a in page],
            page_info=PageInfo(end_cursor=end, has_next_page=more),
            indexed_up_to=reader.position(),
        )

    @field(
        "Replay a recorded read exactly and compare its hash with the access log's "
        "(auditors). The replayed entries are shown; this read is itself recorded."
    )
    def reconstruct_access(self, info: Ctx, access_id: strawberry.ID) -> AccessReconstruction:
        context = info.context
        services = context.services
        result, intact = reconstruct_access(
            services.care_record, services.databases.access, context.viewer, access_id
        )
        audit_read(
            context,
            action=RECONSTRUCT,
            client_id=result.client_id,
            shown=dict(result.to_json(show_text=True), record_intact=intact),
            items=tuple((e.entry_id, e.version) for e in result.shown),
        )
        return AccessReconstruction(
            access_id=strawberry.ID(result.access_id),
            client_id=None if result.client_id is None else strawberry.ID(result.client_id),
            outcome=ReconstructionOutcome(result.outcome.value),
            record_intact=intact,
            recorded_hash=result.recorded_hash,
            reconstructed_hash=result.reconstructed_hash,
            differing_entry_ids=[strawberry.ID(e) for e in result.differing_entry_ids],
            missing=[strawberry.ID(e) for e in result.missing],
            unexpected=[strawberry.ID(e) for e in result.unexpected],
            changed=[strawberry.ID(e) for e in result.changed],
            view_version=result.view_version,
            state_version=result.state_version,
            protocol_version=result.protocol_version,
            standing=result.relationship,
            reason=result.reason,
            entries=[Entry.of(e) for e in result.shown],
        )

    @field(
        "A client's whole record as it stood at a past time (auditors): every entry "
        "(amended, in error, resolved), consent decisions, grants. This read is recorded."
    )
    def record_as_of(self, info: Ctx, client_id: strawberry.ID, at: datetime) -> RecordAsOfView:
        context = info.context
        record = record_as_of(context.services.care_record, context.viewer, client_id, at)
        data = record.to_json(show_text=True)
        audit_read(
            context,
            action=AS_OF,
            client_id=record.client_id,
            shown=data,
            items=tuple((e.labels.entry_id, e.version) for e in record.entries),
        )
        return RecordAsOfView(
            client_id=strawberry.ID(record.client_id),
            at=record.at,
            version=record.version,
            recorded_at=record.recorded_at,
            protocol_version=record.protocol_version,
            entries=[_entry_of(entry_json(e, show_text=True)) for e in record.entries],
            consents=[
                AsOfConsent(
                    consent_id=strawberry.ID(c.consent_id),
                    decision=c.decision,
                    given_by=c.given_by,
                    decided_at=c.decided_at,
                    expires_at=c.expires_at,
                    in_force=c.consent_id in record.consents_in_force,
                    categories=None if c.scope.categories is None else sorted(c.scope.categories),
                    purposes=None if c.scope.purposes is None else sorted(c.scope.purposes),
                )
                for c in record.consents
            ],
            restriction_count=len(record.restrictions),
            relationship_agencies=sorted({r.agency_id for r in record.relationships}),
            grants=[
                AsOfGrant(
                    grant_id=strawberry.ID(g.grant_id),
                    practitioner_id=strawberry.ID(g.practitioner_id),
                    agency=g.agency_id,
                    profession=g.profession,
                    purpose=g.purpose,
                    granted_at=g.granted_at,
                    expires_at=g.expires_at,
                    active=g.grant_id in record.grants_active,
                    review_outcome=g.review_outcome,
                )
                for g in record.grants
            ],
        )

    @field(
        "Break-glass grants by your agency's practitioners awaiting your review, oldest "
        "first (information-governance officers). `overdueOnly`: only those past the review "
        "period. Record your decision with `reviewBreakGlass`."
    )
    def break_glass_review_queue(
        self,
        info: Ctx,
        overdue_only: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> BreakGlassReviewPage:
        context = info.context
        services = context.services
        queue = review_queue(services.databases.views, services.databases.access, context.viewer)
        size = page_size(context, first)
        period = governance_settings(context).review_period
        now = context.now()
        start = open_cursor(context, QUEUE_CURSOR, after)
        if start is not None and not (isinstance(start, list) and len(start) == 2):
            raise InvalidInput(field="after", reason="invalid")
        found = queue.page(
            granted_before=now - period if overdue_only else None,
            after=None if start is None else (str(start[0]), str(start[1])),
            limit=size + 1,
        )
        page, more = found[:size], len(found) > size
        names = services.reads.directory.practitioners([g.practitioner_id for g in page])
        reads = queue.reads_under([g.grant_id for g in page])
        items = [_queue_item(g, names, reads, period, now) for g in page]
        by_client: dict[str, list[str]] = defaultdict(list)
        for grant in page:
            by_client[grant.client_id].append(grant.grant_id)
        for client_id, grants in by_client.items():
            audit_read(context, action=QUEUE, client_id=client_id, shown=sorted(grants))
        end = None
        if page:
            last = page[-1]
            end = seal_cursor(context, QUEUE_CURSOR, [ts(last.granted_at), last.grant_id])
        return BreakGlassReviewPage(
            items=items,
            page_info=PageInfo(end_cursor=end, has_next_page=more),
            review_period_hours=period.total_seconds() / 3600,
        )

    @field(
        "The reach matrix of the protocol in force: for each profession and purpose, which "
        "categories it reaches with consent, without, and under break-glass (auditors and "
        "information-governance officers; no client data). `carerecord protocol changes` "
        "compares a proposed version with it."
    )
    def protocol_reach(self, info: Ctx) -> ProtocolReach:
        context = info.context
        version, rows = protocol_reach(context.services.care_record, context.viewer)
        return ProtocolReach(
            version=version,
            professions=[
                ProfessionReach(
                    profession=r.profession,
                    sector=r.sector.value,
                    purpose=r.purpose.value,
                    with_consent=sorted(r.with_consent),
                    without_consent=sorted(r.without_consent),
                    under_break_glass=sorted(r.under_break_glass),
                )
                for r in rows
            ],
        )

    @field(
        "Usage and flow figures for evaluation, by month, agency and profession - counts "
        "only (information-governance officers and auditors). `from`/`to` choose the months."
    )
    def usage_report(
        self,
        info: Ctx,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> UsageReportView:
        context = info.context
        services = context.services
        report = usage_figures(
            services.databases.views,
            services.databases.access,
            context.viewer,
            now=context.now(),
            since=from_,
            until=to,
        )
        return UsageReportView(
            generated_at=report.generated_at,
            contributions=[
                MonthlyFigure(
                    month=c.month, agency=c.agency_id, profession=c.profession, count=c.count
                )
                for c in report.contributions
            ],
            reads=[
                MonthlyFigure(
                    month=r.month, agency=r.agency_id, profession=r.profession, count=r.count
                )
                for r in report.reads
            ],
            trained_contributors=[
                TrainedContributors(
                    profession=t.profession,
                    trained=t.trained,
                    contributed=t.contributed,
                    share=t.share,
                )
                for t in report.trained
            ],
            flow=[
                AgencyFlow(
                    from_agency=f.source_agency,
                    reader_kind=f.reader_kind,
                    to_agency=f.reader_agency,
                    reads=f.reads,
                    entries=f.items,
                )
                for f in report.flow
            ],
            referrals=[
                ReferralResponse(
                    agency=x.agency_id,
                    received=x.received,
                    responded=x.responded,
                    on_time=x.on_time,
                    late=x.late,
                    awaiting=x.awaiting,
                    overdue=x.overdue,
                    median_response_hours=x.median_response_hours,
                    median_allowed_hours=x.median_allowed_hours,
                )
                for x in report.referrals
            ],
            refused_attempts=[
                RefusedAttemptsFigure(
                    month=a.month,
                    agency=a.agency_id,
                    profession=a.profession,
                    practitioner_id=a.practitioner_id,
                    viewer_kind=a.viewer_kind,
                    refusal=a.refusal,
                    attempts=a.attempts,
                )
                for a in report.refusals
            ],
        )
