"""A practitioner's standing with a client: care relationships and time-boxed break-glass."""

from __future__ import annotations

from datetime import datetime, timedelta

from carerecord import errors, inputs
from carerecord.commands.base import CommandResult, _required, command
from carerecord.commands.directory import DirectoryCommands
from carerecord.ids import parse_entity_id, parse_team_id
from carerecord.protocol import any_matches
from carerecord.validation import MAX_REASON_TEXT, choice
from carerecord.validation import text as checked_text
from carerecord.values import BreakGlassGrant, CareRelationship, Viewer
from carerecord.vocab import BreakGlassOutcome, Purpose


class CareRelationshipCommands(DirectoryCommands):
    """Start and end care relationships; break glass and review the grant."""

    # --- care relationships ------------------------------------------------------------

    @command
    def start_care_relationship(
        self,
        caller: Viewer,
        client_id: object,
        *,
        reason: str,
        practitioner_id: str | None = None,
        team_id: str | None = None,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Declare a legitimate care relationship (for oneself, a colleague, or a team)."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        if practitioner_id is not None and team_id is not None:
            raise errors.InvalidInput(field="target", reason="practitioner_or_team")
        profession = actor.profession
        if team_id is None:
            target = practitioner_id or actor.practitioner_id
            if target != actor.practitioner_id:
                colleague = self.practitioner(target)
                if not colleague.active or colleague.agency_id != actor.agency_id:
                    raise errors.NotPermitted(
                        action="start_care_relationship", reason="not_a_colleague"
                    )
                profession = colleague.profession
            team = None
        else:
            target = None
            team = parse_team_id(team_id)
            profession = None
        relationship = CareRelationship(
            relationship_id=self._new_id(),
            practitioner_id=target,
            team_id=team,
            agency_id=_required(actor.agency_id),
            profession=profession,
            reason=inputs.reason(reason),
            started_by=_required(actor.practitioner_id),
            started_at=self._when(at, now),
        )
        return self._change(
            client_id,
            lambda r: r.start_care_relationship(relationship, actor=actor),
            created=relationship.relationship_id,
        )

    @command
    def end_care_relationship(
        self,
        caller: Viewer,
        client_id: object,
        relationship_id: object,
        *,
        reason: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """End a care relationship (the practitioner or a team member, or an allocating
        lead of the same agency); the caller's views lose the client when it is projected."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        rid = parse_entity_id(relationship_id, field="relationship_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.end_care_relationship(rid, reason=why, actor=actor, at=when, now=now),
        )

    # --- break-glass ------------------------------------------------------------------

    @command
    def break_glass(
        self,
        caller: Viewer,
        client_id: object,
        *,
        reason: str,
        minutes: int | None = None,
        purpose: Purpose | str = Purpose.EMERGENCY,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Grant oneself time-boxed emergency access; it is recorded and queued for review."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        rule = self.protocol().break_glass
        use = choice(Purpose, purpose, field="purpose")
        if use not in rule.purposes or not any_matches(rule.who, actor, use):
            raise errors.NotPermitted(action="break_glass")
        why = checked_text(reason, field="reason", max_len=MAX_REASON_TEXT)
        if len(why.strip()) < rule.min_reason_length:
            raise errors.InvalidInput(
                field="reason", reason="too_short", minimum=rule.min_reason_length
            )
        duration = rule.default_minutes if minutes is None else minutes
        if (
            not isinstance(duration, int)
            or isinstance(duration, bool)
            or not (1 <= duration <= rule.max_minutes)
        ):
            raise errors.InvalidInput(
                field="minutes", reason="out_of_range", limit=rule.max_minutes
            )
        grant = BreakGlassGrant(
            grant_id=self._new_id(),
            practitioner_id=_required(actor.practitioner_id),
            agency_id=_required(actor.agency_id),
            profession=_required(actor.profession),
            purpose=use,
            granted_at=now,
            expires_at=now + timedelta(minutes=duration),
        )
        return self._change(
            client_id,
            lambda r: r.grant_break_glass(grant, reason=why, actor=actor),
            created=grant.grant_id,
        )

    @command
    def review_break_glass(
        self,
        caller: Viewer,
        client_id: object,
        grant_id: object,
        *,
        outcome: BreakGlassOutcome | str,
        note: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Record the information-governance officer's review of a break-glass grant."""
        actor = self._practitioner_actor(caller)
        gid = parse_entity_id(grant_id, field="grant_id")
        verdict = choice(BreakGlassOutcome, outcome, field="outcome")
        body = checked_text(note, field="note", max_len=MAX_REASON_TEXT)
        when = self._when(at, self.clock())
        return self._change(
            client_id,
            lambda r: r.review_break_glass(gid, outcome=verdict, note=body, actor=actor, at=when),
        )
