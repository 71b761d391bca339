"""Mutations: care relationships (start, end, with a reason) and break-glass access."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from api.graphql.common import (
    CommandOutcome,
    Refused,
    consistency_token,
    execute_command,
    mutation,
    refused,
    run_command,
)
from api.graphql.context import Ctx
from carerecord import vocab
from carerecord.errors import CareRecordError


@strawberry.type(
    description="Emergency access: time-boxed, recorded, and queued for the information "
    "governance officer's review."
)
class BreakGlassGranted:
    grant_id: strawberry.ID
    purpose: vocab.Purpose
    expires_at: datetime
    consistency_token: str


BreakGlassResult = Annotated[BreakGlassGranted | Refused, strawberry.union("BreakGlassResult")]


@strawberry.type
class CareMutations:
    @mutation(
        "Declare a legitimate care relationship: for yourself, or (team lead/admin) "
        "for a colleague or a team of your agency."
    )
    def start_care_relationship(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        reason: str,
        practitioner_id: strawberry.ID | None = None,
        team_id: strawberry.ID | None = None,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.start_care_relationship(
                caller,
                client_id,
                reason=reason,
                practitioner_id=practitioner_id,
                team_id=team_id,
                at=at,
                idempotency_key=key,
            ),
        )

    @mutation("End a care relationship, with a reason.")
    def end_care_relationship(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        relationship_id: strawberry.ID,
        reason: str,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.end_care_relationship(
                caller, client_id, relationship_id, reason=reason, at=at, idempotency_key=key
            ),
        )

    @mutation(
        "Break the glass: emergency access to a client you have no relationship "
        "with. A reason is required; access expires after `minutes` (protocol default and "
        "maximum apply); it is flagged for review."
    )
    def break_glass(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        reason: str,
        minutes: int | None = None,
        purpose: vocab.Purpose = vocab.Purpose.EMERGENCY,
    ) -> BreakGlassResult:
        context = info.context
        try:
            result = execute_command(
                info,
                lambda app, caller, key: app.break_glass(
                    caller,
                    client_id,
                    reason=reason,
                    minutes=minutes,
                    purpose=purpose,
                    idempotency_key=key,
                ),
            )
            grant = context.services.care_record.load_client(client_id).grants[str(result.id)]
        except CareRecordError as exc:
            return refused(context, exc)
        return BreakGlassGranted(
            grant_id=strawberry.ID(grant.grant_id),
            purpose=grant.purpose,
            expires_at=grant.expires_at,
            consistency_token=consistency_token(context, result.position),
        )

    @mutation("Review a break-glass grant (your agency's information governance officer).")
    def review_break_glass(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        grant_id: strawberry.ID,
        outcome: vocab.BreakGlassOutcome,
        note: str,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.review_break_glass(
                caller, client_id, grant_id, outcome=outcome, note=note, idempotency_key=key
            ),
        )
