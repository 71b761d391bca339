"""Referrals: a client referred to another agency, and that agency's response."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from eventsourcing.domain import Aggregate

from carerecord import inputs
from carerecord.client_record import ClientRecord
from carerecord.commands.base import CommandResult, _required, command
from carerecord.commands.directory import DirectoryCommands
from carerecord.ids import parse_entity_id
from carerecord.validation import MAX_REASON_TEXT, choice, future_time
from carerecord.validation import text as checked_text
from carerecord.values import CareRelationship, Viewer
from carerecord.vocab import RecordKind, Urgency

MAX_REFERRAL_HORIZON = timedelta(days=366)


class ReferralCommands(DirectoryCommands):
    """Send a referral; acknowledge, accept, decline or close it."""

    # --- referrals ---------------------------------------------------------------------

    @command
    def send_referral(
        self,
        caller: Viewer,
        client_id: object,
        *,
        to_agency: str,
        category: str,
        reason: str,
        due_by: datetime,
        urgency: Urgency | str = Urgency.ROUTINE,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Refer the client to another agency, due for a response by ``due_by``."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        target = self.agency(to_agency).code
        topic = inputs.category(protocol, category)
        body = checked_text(reason, field="reason", max_len=MAX_REASON_TEXT)
        level = choice(Urgency, urgency, field="urgency")
        due = future_time(due_by, field="due_by", now=now, limit=MAX_REFERRAL_HORIZON)
        when = self._when(at, now)
        referral_id = self._new_id()
        return self._change(
            client_id,
            lambda r: r.send_referral(
                referral_id,
                to_agency=target,
                category=topic,
                reason=body,
                urgency=level,
                due_by=due,
                actor=actor,
                now=now,
                at=when,
                under_break_glass=RecordKind.REFERRAL in protocol.break_glass.may_record,
            ),
            created=referral_id,
        )

    @command
    def acknowledge_referral(
        self,
        caller: Viewer,
        client_id: object,
        referral_id: object,
        *,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """The receiving agency confirms it has the referral (the first response time)."""
        actor = self._practitioner_actor(caller)
        rid = parse_entity_id(referral_id, field="referral_id")
        when = self._when(at, self.clock())
        return self._change(client_id, lambda r: r.acknowledge_referral(rid, actor=actor, at=when))

    @command
    def accept_referral(
        self,
        caller: Viewer,
        client_id: object,
        referral_id: object,
        *,
        note: str = "Accepted",
        start_relationship: bool = True,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Accept a referral; by default the accepting practitioner starts a care relationship."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        rid = parse_entity_id(referral_id, field="referral_id")
        why = inputs.reason(note, field="note")
        when = self._when(at, now)
        relationship_id = self._new_id()

        def act(record: ClientRecord) -> Sequence[Aggregate]:
            record.accept_referral(rid, note=why, actor=actor, at=when)
            if start_relationship and record.standing_of(actor, now).relationship_id is None:
                record.start_care_relationship(
                    CareRelationship(
                        relationship_id=relationship_id,
                        practitioner_id=actor.practitioner_id,
                        team_id=None,
                        agency_id=_required(actor.agency_id),
                        profession=actor.profession,
                        reason="Accepted a referral",
                        started_by=_required(actor.practitioner_id),
                        started_at=when,
                    ),
                    actor=actor,
                )
            return ()

        return self._change(client_id, act)

    @command
    def decline_referral(
        self,
        caller: Viewer,
        client_id: object,
        referral_id: object,
        *,
        reason: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """The receiving agency declines the referral, with a reason."""
        actor = self._practitioner_actor(caller)
        rid = parse_entity_id(referral_id, field="referral_id")
        why = inputs.reason(reason)
        when = self._when(at, self.clock())
        return self._change(
            client_id, lambda r: r.decline_referral(rid, reason=why, actor=actor, at=when)
        )

    @command
    def close_referral(
        self,
        caller: Viewer,
        client_id: object,
        referral_id: object,
        *,
        outcome: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Either party closes the referral with an outcome."""
        actor = self._practitioner_actor(caller)
        rid = parse_entity_id(referral_id, field="referral_id")
        why = inputs.reason(outcome, field="outcome")
        when = self._when(at, self.clock())
        return self._change(
            client_id, lambda r: r.close_referral(rid, outcome=why, actor=actor, at=when)
        )
