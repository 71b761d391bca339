"""Mutations: consent decisions (incl. by a representative) and restrictions ("sealed")."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.common import CommandOutcome, mutation, run_command
from api.graphql.context import Ctx
from api.graphql.inputs import AudienceInput
from carerecord import vocab


@strawberry.input(
    description="A consent decision. Omit `categories` or `purposes` to cover all of them; "
    "a representative (parent, guardian, attorney...) must be named."
)
class ConsentInput:
    decision: vocab.ConsentDecisionKind
    audience: AudienceInput
    given_by: vocab.ConsentGiver = vocab.ConsentGiver.CLIENT
    representative_name: str | None = None
    categories: list[str] | None = None
    purposes: list[vocab.Purpose] | None = None
    decided_at: datetime | None = None
    expires_at: datetime | None = None


@strawberry.input(description="Seal one entry, or a whole category, from an audience.")
class RestrictionInput:
    requested_by: vocab.RestrictionRequester
    reason: str
    hidden_from: AudienceInput
    entry_id: strawberry.ID | None = None
    category: str | None = None
    at: datetime | None = None


@strawberry.type
class ConsentMutations:
    @mutation("Record the client's (or a representative's) consent decision.")
    def record_consent(
        self, info: Ctx, client_id: strawberry.ID, input: ConsentInput
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.record_consent(
                caller,
                client_id,
                decision=input.decision,
                given_by=input.given_by,
                representative_name=input.representative_name,
                categories=input.categories,
                agencies=input.audience.agencies,
                sectors=input.audience.sectors,
                professions=input.audience.professions,
                everyone=input.audience.everyone,
                purposes=input.purposes,
                decided_at=input.decided_at,
                expires_at=input.expires_at,
                idempotency_key=key,
            ),
        )

    @mutation(
        "Withdraw a consent decision. Subscribers who received what it allowed get a recall notice."
    )
    def withdraw_consent(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        consent_id: strawberry.ID,
        reason: str,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.withdraw_consent(
                caller, client_id, consent_id, reason=reason, at=at, idempotency_key=key
            ),
        )

    @mutation("Seal an entry or category from named audiences.")
    def place_restriction(
        self, info: Ctx, client_id: strawberry.ID, input: RestrictionInput
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.place_restriction(
                caller,
                client_id,
                requested_by=input.requested_by,
                reason=input.reason,
                entry_id=input.entry_id,
                category=input.category,
                agencies=input.hidden_from.agencies,
                sectors=input.hidden_from.sectors,
                professions=input.hidden_from.professions,
                everyone=input.hidden_from.everyone,
                at=input.at,
                idempotency_key=key,
            ),
        )

    @mutation("Lift a restriction (the placing agency, or an IG officer).")
    def lift_restriction(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        restriction_id: strawberry.ID,
        reason: str,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.lift_restriction(
                caller, client_id, restriction_id, reason=reason, at=at, idempotency_key=key
            ),
        )
