"""Consent and restrictions: the client's decisions about sharing, and seals on entries.

A restriction seals one entry or a whole category from named audiences (or everyone else).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from carerecord import errors, inputs
from carerecord.commands.base import CommandResult, _required, command
from carerecord.commands.directory import DirectoryCommands
from carerecord.ids import parse_entity_id
from carerecord.validation import choice, future_time, optional_line
from carerecord.values import ConsentDecision, Restriction, Viewer
from carerecord.vocab import (
    ConsentDecisionKind,
    ConsentGiver,
    Purpose,
    RestrictionRequester,
    Sector,
)

MAX_CONSENT_DURATION = timedelta(days=366 * 10)


class ConsentCommands(DirectoryCommands):
    """Record and withdraw consent decisions; place and lift restrictions."""

    # --- consent -----------------------------------------------------------------------

    @command
    def record_consent(
        self,
        caller: Viewer,
        client_id: object,
        *,
        decision: ConsentDecisionKind | str,
        given_by: ConsentGiver | str = ConsentGiver.CLIENT,
        representative_name: str | None = None,
        categories: Iterable[str] | None = None,
        agencies: Iterable[str] = (),
        sectors: Iterable[Sector | str] = (),
        professions: Iterable[str] = (),
        everyone: bool = False,
        purposes: Iterable[Purpose | str] | None = None,
        decided_at: datetime | None = None,
        expires_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Record a consent decision (granted or refused) by the client or a representative."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        giver = choice(ConsentGiver, given_by, field="given_by")
        rep = optional_line(representative_name, field="representative_name", max_len=100)
        if giver is not ConsentGiver.CLIENT and rep is None:
            raise errors.InvalidInput(field="representative_name", reason="required")
        if giver is ConsentGiver.CLIENT and rep is not None:
            raise errors.InvalidInput(field="representative_name", reason="not_applicable")
        decided = self._when(decided_at, now, field="decided_at")
        expiry = (
            None
            if expires_at is None
            else future_time(
                expires_at, field="expires_at", now=decided, limit=MAX_CONSENT_DURATION
            )
        )
        selector = inputs.audience(
            protocol,
            self.agency_exists,
            agencies=agencies,
            sectors=sectors,
            professions=professions,
            everyone=everyone,
            field="audience",
        )
        consent = ConsentDecision(
            consent_id=self._new_id(),
            decision=choice(ConsentDecisionKind, decision, field="decision"),
            scope=inputs.consent_scope(
                protocol, selector, categories_value=categories, purposes=purposes
            ),
            given_by=giver,
            representative_name=rep,
            recorded_by=_required(actor.practitioner_id),
            agency_id=_required(actor.agency_id),
            decided_at=decided,
            expires_at=expiry,
        )
        return self._change(
            client_id,
            lambda r: r.record_consent(consent, actor=actor, now=now),
            created=consent.consent_id,
        )

    @command
    def withdraw_consent(
        self,
        caller: Viewer,
        client_id: object,
        consent_id: object,
        *,
        reason: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Withdraw a consent decision; what it allowed leaves the views from then on."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        consent = parse_entity_id(consent_id, field="consent_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.withdraw_consent(consent, reason=why, actor=actor, now=now, at=when),
        )

    # --- restrictions ------------------------------------------------------------------

    @command
    def place_restriction(
        self,
        caller: Viewer,
        client_id: object,
        *,
        requested_by: RestrictionRequester | str,
        reason: str,
        entry_id: object | None = None,
        category: str | None = None,
        agencies: Iterable[str] = (),
        sectors: Iterable[Sector | str] = (),
        professions: Iterable[str] = (),
        everyone: bool = False,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Seal an entry or a category from named audiences (or from everyone else)."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        if (entry_id is None) == (category is None):
            raise errors.InvalidInput(field="target", reason="entry_or_category")
        restriction = Restriction(
            restriction_id=self._new_id(),
            entry_id=None if entry_id is None else parse_entity_id(entry_id, field="entry_id"),
            category=None if category is None else inputs.category(protocol, category),
            hidden_from=inputs.audience(
                protocol,
                self.agency_exists,
                agencies=agencies,
                sectors=sectors,
                professions=professions,
                everyone=everyone,
                field="hidden_from",
            ),
            requested_by=choice(RestrictionRequester, requested_by, field="requested_by"),
            placed_by=_required(actor.practitioner_id),
            agency_id=_required(actor.agency_id),
            placed_at=self._when(at, now),
        )
        why = inputs.reason(reason)
        return self._change(
            client_id,
            lambda r: r.place_restriction(restriction, reason=why, actor=actor, now=now),
            created=restriction.restriction_id,
        )

    @command
    def lift_restriction(
        self,
        caller: Viewer,
        client_id: object,
        restriction_id: object,
        *,
        reason: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Lift a restriction (the placing agency: a practitioner of it with a care
        relationship, or its information-governance officer);
        the sealed entries return to the audiences the policy otherwise allows."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        rid = parse_entity_id(restriction_id, field="restriction_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.lift_restriction(rid, reason=why, actor=actor, now=now, at=when),
        )
