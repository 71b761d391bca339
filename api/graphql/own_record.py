"""The person's own view over GraphQL: ``myRecord`` (what is held about them) and
``myAccessLog`` (who has looked, in plain words). Client tokens only (the person or an
authorised representative); both reads are audited. See ``api.own_view``.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from api.graphql.common import field
from api.graphql.context import Ctx
from api.graphql.paging import open_cursor, page_size, seal_cursor
from api.graphql.types import PageInfo
from api.own_view import (
    ACCESS_LOG,
    NAMES_NOTE,
    RECORD,
    WITHHELD_NOTE,
    HeldEntry,
    access_log_record,
    held_entries,
    own_accesses,
    own_slice,
)
from carerecord import vocab
from carerecord.audit.plain import local_zone, plain_basis, plain_purpose
from carerecord.errors import InvalidInput
from projections.audit.client import ClientAccess

HELD_CURSOR = "own:held"
LOG_CURSOR = "own:access_log"


@strawberry.type(description="Something recorded about you, and who recorded it.")
class HeldEntryView:
    entry_id: strawberry.ID
    kind: str
    occurred_at: datetime
    recorded_at: datetime
    organisation: str | None
    organisation_code: str
    profession: str
    category: str
    heading: str | None
    text: str
    amended: bool = strawberry.field(description="Corrected by its author (the new text shows).")
    alert_kind: vocab.AlertKind | None
    resolved: bool
    lawful_basis: vocab.LawfulBasis

    @classmethod
    def of(cls, held: HeldEntry) -> HeldEntryView:
        e = held.entry
        return cls(
            entry_id=strawberry.ID(e.entry_id),
            kind=e.kind,
            occurred_at=e.occurred_at,
            recorded_at=e.recorded_at,
            organisation=held.agency_name,
            organisation_code=e.agency_id,
            profession=held.profession_title or e.profession,
            category=held.category_title or e.category,
            heading=e.heading,
            text=e.text,
            amended=e.amended,
            alert_kind=None if e.alert_kind is None else vocab.AlertKind(e.alert_kind),
            resolved=e.resolved,
            lawful_basis=vocab.LawfulBasis(e.lawful_basis),
        )


@strawberry.type
class HeldEntryPage:
    items: list[HeldEntryView]
    page_info: PageInfo
    total_count: int


@strawberry.type(description="What is held about you in the shared care record.")
class MyRecord:
    client_id: strawberry.ID
    given_name: str
    family_name: str
    date_of_birth: date
    read_at: datetime
    note: str = strawberry.field(description="What may lawfully be withheld, and how to ask.")
    _held: strawberry.Private[list[HeldEntry]]

    @field("Entries in clinical-time order (newest first with `newestFirst`); cursor-paged.")
    def entries(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        newest_first: bool = False,
    ) -> HeldEntryPage:
        context = info.context
        size = page_size(context, first)
        chosen = list(self._held)
        if newest_first:
            chosen.reverse()
        start = 0
        mark = open_cursor(context, HELD_CURSOR, after)
        if mark is not None:
            if not isinstance(mark, int) or isinstance(mark, bool) or mark < 0:
                raise InvalidInput(field="after", reason="invalid")
            start = mark
        page = chosen[start : start + size]
        more = start + size < len(chosen)
        end = seal_cursor(context, HELD_CURSOR, start + len(page)) if page else None
        return HeldEntryPage(
            items=[HeldEntryView.of(h) for h in page],
            page_info=PageInfo(end_cursor=end, has_next_page=more),
            total_count=len(chosen),
        )


@strawberry.type(description="One time someone looked at (or used) your record.")
class AccessToMyRecord:
    at: datetime
    description: str = strawberry.field(
        description="In plain words: who (organisation and profession), what, when and why."
    )
    organisation: str | None
    organisation_code: str | None
    organisation_phone: str | None
    organisation_email: str | None
    profession: str | None
    action: str
    purpose: str = strawberry.field(description="Why they looked, in plain words.")
    basis: str = strawberry.field(description="Why it was allowed, in plain words.")
    break_glass: bool = strawberry.field(description="Emergency access (time-limited, reviewed).")
    by_auditor: bool
    review_outcome: vocab.BreakGlassOutcome | None

    @classmethod
    def of(cls, access: ClientAccess) -> AccessToMyRecord:
        w = access.words
        return cls(
            at=w.at,
            description=w.sentence(local_zone()),
            organisation=w.agency_name,
            organisation_code=w.agency_id,
            organisation_phone=access.agency_phone,
            organisation_email=access.agency_email,
            profession=w.profession_title,
            action=w.action,
            purpose=plain_purpose(w.purpose),
            basis=plain_basis(w.basis, w.entry_bases),
            break_glass=w.break_glass,
            by_auditor=w.by_auditor,
            review_outcome=None
            if w.review_outcome is None
            else vocab.BreakGlassOutcome(w.review_outcome),
        )


@strawberry.type
class MyAccessLog:
    items: list[AccessToMyRecord]
    page_info: PageInfo
    note: str


@strawberry.type
class OwnRecordQueries:
    @field(
        "What is held about you (client token): every entry not withheld under a lawful "
        "exception. This read is recorded in your access log."
    )
    def my_record(self, info: Ctx) -> MyRecord:
        context = info.context
        services = context.services
        read = own_slice(services, context.viewer)
        context.trail.add(
            read.access_record(request_id=context.request_id, action=RECORD, at=read.read_at)
        )
        identity = services.care_record.client_identity(read.client_id)
        return MyRecord(
            client_id=strawberry.ID(str(read.client_id)),
            given_name=identity.given_name,
            family_name=identity.family_name,
            date_of_birth=date.fromisoformat(identity.date_of_birth),
            read_at=read.read_at,
            note=WITHHELD_NOTE,
            _held=held_entries(services, read, services.care_record.protocol()),
        )

    @field(
        "Who has looked at your record, newest first, in plain words (client token): every "
        "access, including emergency (break-glass) access and auditors'."
    )
    def my_access_log(
        self, info: Ctx, first: int | None = None, after: str | None = None
    ) -> MyAccessLog:
        context = info.context
        size = page_size(context, first)
        before = open_cursor(context, LOG_CURSOR, after)
        if before is not None and (not isinstance(before, int) or isinstance(before, bool)):
            raise InvalidInput(field="after", reason="invalid")
        services = context.services
        found = own_accesses(services, context.viewer, before=before, limit=size + 1)
        page, more = found[:size], len(found) > size
        if page:
            context.trail.add(
                access_log_record(
                    context.viewer,
                    page,
                    request_id=context.request_id,
                    at=services.clock(),
                    action=ACCESS_LOG,
                )
            )
        end = seal_cursor(context, LOG_CURSOR, page[-1].seq) if page else None
        return MyAccessLog(
            items=[AccessToMyRecord.of(a) for a in page],
            page_info=PageInfo(end_cursor=end, has_next_page=more),
            note=NAMES_NOTE,
        )
