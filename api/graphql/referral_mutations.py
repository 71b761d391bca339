"""Mutations: referrals between agencies (send, and the receiving agency's responses)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.common import CommandOutcome, mutation, run_command
from api.graphql.context import Ctx
from carerecord import vocab


@strawberry.input
class ReferralInput:
    to_agency: str
    category: str = strawberry.field(description="The shared category the referral is about.")
    reason: str
    due_by: datetime = strawberry.field(description="When a response is due.")
    urgency: vocab.Urgency = vocab.Urgency.ROUTINE
    at: datetime | None = None


@strawberry.type
class ReferralMutations:
    @mutation("Refer the client to another agency.")
    def send_referral(
        self, info: Ctx, client_id: strawberry.ID, input: ReferralInput
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.send_referral(
                caller,
                client_id,
                to_agency=input.to_agency,
                category=input.category,
                reason=input.reason,
                due_by=input.due_by,
                urgency=input.urgency,
                at=input.at,
                idempotency_key=key,
            ),
        )

    @mutation("The receiving agency confirms it has the referral.")
    def acknowledge_referral(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        referral_id: strawberry.ID,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.acknowledge_referral(
                caller, client_id, referral_id, at=at, idempotency_key=key
            ),
        )

    @mutation(
        "The receiving agency takes the referral on (by default the accepting "
        "practitioner starts a care relationship)."
    )
    def accept_referral(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        referral_id: strawberry.ID,
        note: str = "Accepted",
        start_relationship: bool = True,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.accept_referral(
                caller,
                client_id,
                referral_id,
                note=note,
                start_relationship=start_relationship,
                at=at,
                idempotency_key=key,
            ),
        )

    @mutation("The receiving agency declines the referral, with a reason.")
    def decline_referral(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        referral_id: strawberry.ID,
        reason: str,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.decline_referral(
                caller, client_id, referral_id, reason=reason, at=at, idempotency_key=key
            ),
        )

    @mutation("Either party closes the referral with an outcome.")
    def close_referral(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        referral_id: strawberry.ID,
        outcome: str,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.close_referral(
                caller, client_id, referral_id, outcome=outcome, at=at, idempotency_key=key
            ),
        )
