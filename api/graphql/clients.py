"""Client identity: register a client, correct demographics, local ids; the exact lookup.

The lookup finds a client by an exact NHS number or local id and returns only the
minimal identity needed to start a care relationship: no browsing, no partial
matching, no listing. Every lookup is audited (``client.lookup``), hits and misses.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from api.graphql.common import CommandOutcome, field, mutation, run_command
from api.graphql.context import Ctx
from api.graphql.inputs import LocalIdInput
from carerecord import errors, vocab
from carerecord.access_log import access_record, response_hash

LOOKUP = "client.lookup"


@strawberry.type(description="Just enough to confirm who a client is and start a relationship.")
class ClientIdentity:
    client_id: strawberry.ID
    given_name: str
    family_name: str
    date_of_birth: date


@strawberry.input
class DemographicsInput:
    given_name: str
    family_name: str
    date_of_birth: date
    gender: str | None = None
    postcode: str | None = None
    preferred_language: str | None = None
    phone: str | None = None


@strawberry.input(description="A new client: at least one identifier, and who they are.")
class RegisterClientInput:
    demographics: DemographicsInput
    nhs_number: str | None = None
    local_ids: list[LocalIdInput] = strawberry.field(default_factory=list)
    relationship_reason: str = "Registered the client"


@strawberry.type
class ClientQueries:
    @field(
        "Find a client by exact NHS number, or by an authority's local id. "
        "Returns the minimal identity or null; never a list. Audited."
    )
    def find_client(
        self,
        info: Ctx,
        nhs_number: str | None = None,
        authority: str | None = None,
        local_id: str | None = None,
        purpose: vocab.Purpose = vocab.Purpose.DIRECT_CARE,
    ) -> ClientIdentity | None:
        context = info.context
        viewer = context.viewer
        if viewer.kind is not vocab.ViewerKind.PRACTITIONER:
            raise errors.NotPermitted(action="find_client")
        if (nhs_number is None) == (authority is None and local_id is None):
            raise errors.InvalidInput(field="identifier", reason="nhs_number_or_local_id")
        app = context.services.care_record
        client_id = app.lookup_client(nhs_number=nhs_number, authority=authority, local_id=local_id)
        identity = None if client_id is None else app.client_identity(client_id)
        shown = (
            {}
            if identity is None
            else {
                "client_id": str(identity.client_id),
                "given_name": identity.given_name,
                "family_name": identity.family_name,
                "date_of_birth": identity.date_of_birth,
            }
        )
        context.trail.add(
            access_record(
                viewer,
                request_id=context.request_id,
                at=context.now(),
                action=LOOKUP,
                purpose=purpose.value,
                basis="identity_lookup",
                client_id=None if client_id is None else str(client_id),
                response_hash=response_hash(shown),
            )
        )
        if identity is None:
            return None
        return ClientIdentity(
            client_id=strawberry.ID(str(identity.client_id)),
            given_name=identity.given_name,
            family_name=identity.family_name,
            date_of_birth=date.fromisoformat(identity.date_of_birth),
        )


@strawberry.type
class ClientMutations:
    @mutation(
        "Register a client (you get a care relationship). Each identifier may be "
        "held by one client only."
    )
    def register_client(self, info: Ctx, input: RegisterClientInput) -> CommandOutcome:
        person = input.demographics
        return run_command(
            info,
            lambda app, caller, key: app.register_client(
                caller,
                nhs_number=input.nhs_number,
                local_ids={i.authority: i.local_id for i in input.local_ids},
                given_name=person.given_name,
                family_name=person.family_name,
                date_of_birth=person.date_of_birth,
                gender=person.gender,
                postcode=person.postcode,
                preferred_language=person.preferred_language,
                phone=person.phone,
                relationship_reason=input.relationship_reason,
                idempotency_key=key,
            ),
        )

    @mutation("Correct who the client is (the old values stay in the log).")
    def correct_demographics(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        demographics: DemographicsInput,
        reason: str,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.correct_demographics(
                caller,
                client_id,
                reason=reason,
                given_name=demographics.given_name,
                family_name=demographics.family_name,
                date_of_birth=demographics.date_of_birth,
                gender=demographics.gender,
                postcode=demographics.postcode,
                preferred_language=demographics.preferred_language,
                phone=demographics.phone,
                at=at,
                idempotency_key=key,
            ),
        )

    @mutation("Record a local authority's id for the client (tell us once).")
    def record_local_identifier(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        identifier: LocalIdInput,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.record_local_identifier(
                caller,
                client_id,
                authority=identifier.authority,
                local_id=identifier.local_id,
                at=at,
                idempotency_key=key,
            ),
        )
