"""GraphQL types built from the read repository's results (never from rows or aggregates)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from carerecord import vocab
from carerecord.slice import SharedEntry
from projections.engine.access import ReadBasis


@strawberry.enum(description="What an entry is.")
class EntryKind(Enum):
    CONTRIBUTION = "contribution"
    ALERT = "alert"


@strawberry.type(description="Why this entry is shown to you: the policy's basis and rule.")
class SharedUnder:
    basis: str
    rule: str


@strawberry.type(
    description="One entry of a client's record as you may see it: labels fixed when it was "
    "written, the current text, and what the policy decided. Redacted fields are null."
)
class Entry:
    entry_id: strawberry.ID
    kind: EntryKind
    version: int = strawberry.field(description="Changes when the entry is amended or resolved.")
    agency: str
    sector: vocab.Sector
    author_id: strawberry.ID | None
    profession: str
    category: str
    heading: str | None
    sensitivity: vocab.Sensitivity
    lawful_basis: vocab.LawfulBasis
    occurred_at: datetime
    recorded_at: datetime
    text: str
    amended: bool
    alert_kind: vocab.AlertKind | None
    severity: vocab.Severity | None
    resolved: bool
    shared_under: SharedUnder

    @classmethod
    def of(cls, entry: SharedEntry) -> Entry:
        return cls(
            entry_id=strawberry.ID(entry.entry_id),
            kind=EntryKind(entry.kind),
            version=entry.version,
            agency=entry.agency_id,
            sector=vocab.Sector(entry.sector),
            author_id=None if entry.author_id is None else strawberry.ID(entry.author_id),
            profession=entry.profession,
            category=entry.category,
            heading=entry.heading,
            sensitivity=vocab.Sensitivity(entry.sensitivity),
            lawful_basis=vocab.LawfulBasis(entry.lawful_basis),
            occurred_at=entry.occurred_at,
            recorded_at=entry.recorded_at,
            text=entry.text,
            amended=entry.amended,
            alert_kind=None if entry.alert_kind is None else vocab.AlertKind(entry.alert_kind),
            severity=None if entry.severity is None else vocab.Severity(entry.severity),
            resolved=entry.resolved,
            shared_under=SharedUnder(basis=entry.basis, rule=entry.rule),
        )


@strawberry.enum(description="Your standing towards the client, which lets you read at all.")
class BasisKind(Enum):
    CARE_RELATIONSHIP = "care_relationship"
    BREAK_GLASS = "break_glass"
    SUBJECT_ACCESS = "subject_access"


@strawberry.type
class ReadBasisType:
    kind: BasisKind
    relationship_id: strawberry.ID | None
    grant_id: strawberry.ID | None

    @classmethod
    def of(cls, basis: ReadBasis) -> ReadBasisType:
        return cls(
            kind=BasisKind(basis.kind),
            relationship_id=None
            if basis.relationship_id is None
            else strawberry.ID(basis.relationship_id),
            grant_id=None if basis.grant_id is None else strawberry.ID(basis.grant_id),
        )


@strawberry.type(description="Where a page ends. Pass `endCursor` as `after` for the next page.")
class PageInfo:
    end_cursor: str | None
    has_next_page: bool
