"""Clients: registration (with unique identifiers), exact lookup, demographics, local ids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError

from carerecord import errors, inputs
from carerecord.client_record import ClientRecord
from carerecord.commands.base import ClientIdentity, CommandResult, _required, command
from carerecord.commands.directory import DirectoryCommands
from carerecord.identifier_claim import IdentifierClaim, claim_id
from carerecord.ids import ClientId, parse_client_id, parse_local_id
from carerecord.nhs import normalise_nhs_number
from carerecord.values import CareRelationship, Viewer


class ClientCommands(DirectoryCommands):
    """Register clients and keep their identity right; find a client by an exact identifier."""

    # --- clients: identity -------------------------------------------------------------

    @command
    def register_client(
        self,
        caller: Viewer,
        *,
        nhs_number: str | None = None,
        local_ids: Mapping[str, str] | None = None,
        given_name: str,
        family_name: str,
        date_of_birth: Any,
        gender: str | None = None,
        postcode: str | None = None,
        preferred_language: str | None = None,
        phone: str | None = None,
        relationship_reason: str = "Registered the client",
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Register a client; the registering practitioner gets a care relationship.

        At least one identifier (NHS number or a local authority id) is needed, and
        each may be held by one client only (``DUPLICATE_IDENTIFIER``).
        """
        actor = self._practitioner_actor(caller)
        now = self.clock()
        nhs = None if nhs_number is None else normalise_nhs_number(nhs_number)
        locals_ = self._local_ids(local_ids or {})
        if nhs is None and not locals_:
            raise errors.InvalidInput(field="identifiers", reason="none_given")
        person = inputs.demographics(
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            gender=gender,
            postcode=postcode,
            preferred_language=preferred_language,
            phone=phone,
            today=now.date(),
        )
        client_id = ClientId(uuid4())
        record = ClientRecord.register(
            client_id=client_id,
            nhs_number=nhs,
            local_ids=locals_,
            demographics=person,
            actor=actor,
            at=now,
        )
        record.start_care_relationship(
            CareRelationship(
                relationship_id=self._new_id(),
                practitioner_id=actor.practitioner_id,
                team_id=None,
                agency_id=_required(actor.agency_id),
                profession=actor.profession,
                reason=inputs.reason(relationship_reason),
                started_by=_required(actor.practitioner_id),
                started_at=now,
            ),
            actor=actor,
        )
        claims = [
            IdentifierClaim.claim(claim_id=cid, client_id=str(client_id), at=now)
            for cid in self._claim_ids(nhs, locals_)
        ]
        try:
            return self._commit(record, *claims, created=str(client_id))
        except RecordConflictError:
            raise errors.DuplicateIdentifier() from None

    def lookup_client(
        self,
        *,
        nhs_number: str | None = None,
        authority: str | None = None,
        local_id: str | None = None,
    ) -> ClientId | None:
        """The client holding exactly this identifier, if any (no partial matching)."""
        if nhs_number is not None:
            cid = claim_id(self._identifier_key, "nhs", normalise_nhs_number(nhs_number))
        elif authority is not None and local_id is not None:
            cid = claim_id(
                self._identifier_key,
                f"local:{inputs.code(authority, field='authority')}",
                parse_local_id(local_id),
            )
        else:
            raise errors.InvalidInput(field="identifier", reason="none_given")
        try:
            claim: object = self.repository.get(cid, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        if not isinstance(claim, IdentifierClaim):
            return None
        return parse_client_id(claim.client_id)

    def client_identity(self, client_id: ClientId) -> ClientIdentity:
        """The minimal identity of a client (after an exact lookup): names and birth date."""
        record = self.load_client(client_id)
        return ClientIdentity(
            client_id=client_id,
            given_name=record.demographics.given_name,
            family_name=record.demographics.family_name,
            date_of_birth=record.demographics.date_of_birth.isoformat(),
        )

    @command
    def correct_demographics(
        self,
        caller: Viewer,
        client_id: object,
        *,
        reason: str,
        given_name: str,
        family_name: str,
        date_of_birth: Any,
        gender: str | None = None,
        postcode: str | None = None,
        preferred_language: str | None = None,
        phone: str | None = None,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Correct the client's demographics (the old values stay in the log)."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        person = inputs.demographics(
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            gender=gender,
            postcode=postcode,
            preferred_language=preferred_language,
            phone=phone,
            today=now.date(),
        )
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.correct_demographics(person, reason=why, actor=actor, now=now, at=when),
        )

    @command
    def record_local_identifier(
        self,
        caller: Viewer,
        client_id: object,
        *,
        authority: str,
        local_id: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Record a local authority's id for the client ("tell us once")."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        ids = self._local_ids({authority: local_id})
        ((auth, value),) = ids.items()
        when = self._when(at, now)
        claim = self._claim_ids(None, ids)[0]

        def act(record: ClientRecord) -> Sequence[Aggregate]:
            record.record_local_identifier(auth, value, actor=actor, now=now, at=when)
            return [IdentifierClaim.claim(claim_id=claim, client_id=str(record.id), at=now)]

        return self._change(client_id, act, on_conflict=lambda: self._claim_taken(claim))

    # --- internals ---------------------------------------------------------------------

    def _local_ids(self, local_ids: Mapping[str, str]) -> dict[str, str]:
        if len(local_ids) > 10:
            raise errors.TooLarge(field="local_ids", limit=10)
        return {
            inputs.code(k, field="local_ids.authority"): parse_local_id(v)
            for k, v in local_ids.items()
        }

    def _claim_ids(self, nhs: str | None, local_ids: Mapping[str, str]) -> list[UUID]:
        ids = [] if nhs is None else [claim_id(self._identifier_key, "nhs", nhs)]
        ids += [claim_id(self._identifier_key, f"local:{a}", v) for a, v in local_ids.items()]
        return ids

    def _claim_taken(self, claim: UUID) -> None:
        if claim in self.repository:
            raise errors.DuplicateIdentifier()
