"""The caller: who the token and the directory say you are."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.common import field
from api.graphql.context import Ctx
from carerecord import vocab


@strawberry.type(description="An agency of the partnership and how to reach it.")
class Agency:
    code: strawberry.ID
    name: str
    sector: vocab.Sector
    phone: str
    email: str


@strawberry.type(description="You, as authenticated and confirmed by the directory.")
class Me:
    kind: vocab.ViewerKind
    practitioner_id: strawberry.ID | None
    name: str | None
    profession: str | None
    roles: list[vocab.Role]
    teams: list[str]
    agency: Agency | None
    client_id: strawberry.ID | None
    token_expires_at: datetime


@strawberry.type
class MeQueries:
    @field("The caller.")
    def me(self, info: Ctx) -> Me:
        context = info.context
        viewer = context.viewer
        app = context.services.care_record
        agency = None
        if viewer.agency_id is not None:
            found = app.agency(viewer.agency_id)
            agency = Agency(
                code=strawberry.ID(found.code),
                name=found.name,
                sector=found.sector,
                phone=found.phone,
                email=found.email,
            )
        name = None
        if viewer.practitioner_id is not None:
            name = app.practitioner(viewer.practitioner_id).name
        assert context.caller is not None
        return Me(
            kind=viewer.kind,
            practitioner_id=None
            if viewer.practitioner_id is None
            else strawberry.ID(viewer.practitioner_id),
            name=name,
            profession=viewer.profession,
            roles=sorted(viewer.roles),
            teams=sorted(viewer.teams),
            agency=agency,
            client_id=None if viewer.client_id is None else strawberry.ID(viewer.client_id),
            token_expires_at=context.caller.expires_at,
        )
