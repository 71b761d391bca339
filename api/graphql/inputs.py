"""Input types shared by several mutations."""

from __future__ import annotations

import strawberry

from carerecord import vocab


@strawberry.input(
    description="Who something applies to: any listed agency, sector or profession (a union). "
    "`everyone` matches every practitioner and agency system."
)
class AudienceInput:
    agencies: list[str] = strawberry.field(default_factory=list)
    sectors: list[vocab.Sector] = strawberry.field(default_factory=list)
    professions: list[str] = strawberry.field(default_factory=list)
    everyone: bool = False


@strawberry.input(description="A local authority's own identifier for the client.")
class LocalIdInput:
    authority: str
    local_id: str
