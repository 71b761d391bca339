"""Contributions and alerts, both labelled by the protocol at write time (``_labels``).

An author may amend an entry or mark it entered in error; alerts are raised and resolved.
"""

from __future__ import annotations

from datetime import datetime

from carerecord import errors, inputs
from carerecord.commands.base import CommandResult, _required, command
from carerecord.commands.directory import DirectoryCommands
from carerecord.ids import parse_entity_id
from carerecord.protocol import Protocol
from carerecord.validation import MAX_ENTRY_TEXT, MAX_REASON_TEXT, choice, event_time, single_line
from carerecord.validation import text as checked_text
from carerecord.values import Labels, Viewer
from carerecord.vocab import AlertKind, LawfulBasis, RecordKind, Sensitivity, Severity


class ContributionCommands(DirectoryCommands):
    """Record, amend and withdraw (enter in error) contributions; raise and resolve alerts."""

    # --- contributions -----------------------------------------------------------------

    @command
    def record_contribution(
        self,
        caller: Viewer,
        client_id: object,
        *,
        heading: str,
        text: str,
        occurred_at: datetime,
        category: str | None = None,
        sensitivity: Sensitivity | str | None = None,
        lawful_basis: LawfulBasis | str = LawfulBasis.CONSENT,
        subject_access_exemption: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Record an entry under the author's own heading; the protocol maps it to a category."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        labels = self._labels(
            protocol,
            actor,
            entry_id=self._new_id(),
            heading=single_line(heading, field="heading", max_len=80),
            category=None,
            expected_category=category,
            sensitivity=sensitivity,
            lawful_basis=lawful_basis,
            occurred_at=event_time(occurred_at, field="occurred_at", now=now),
            exemption=subject_access_exemption,
        )
        body = checked_text(text, field="text", max_len=MAX_ENTRY_TEXT)
        return self._change(
            client_id,
            lambda r: r.record_contribution(
                labels,
                body,
                actor=actor,
                now=now,
                under_break_glass=RecordKind.CONTRIBUTION in protocol.break_glass.may_record,
            ),
            created=labels.entry_id,
        )

    @command
    def amend_contribution(
        self,
        caller: Viewer,
        client_id: object,
        entry_id: object,
        *,
        text: str,
        reason: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Amend one's own entry: the new text shows, marked amended; the old stays in the log."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        entry = parse_entity_id(entry_id, field="entry_id")
        body = checked_text(text, field="text", max_len=MAX_ENTRY_TEXT)
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.amend_contribution(entry, body, reason=why, actor=actor, at=when, now=now),
        )

    @command
    def enter_contribution_in_error(
        self,
        caller: Viewer,
        client_id: object,
        entry_id: object,
        *,
        reason: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Mark one's own entry as entered in error (it leaves the views, stays in the log)."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        entry = parse_entity_id(entry_id, field="entry_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.enter_in_error(entry, reason=why, actor=actor, at=when, now=now),
        )

    # --- alerts ------------------------------------------------------------------------

    @command
    def raise_alert(
        self,
        caller: Viewer,
        client_id: object,
        *,
        kind: AlertKind | str,
        severity: Severity | str,
        summary: str,
        occurred_at: datetime | None = None,
        sensitivity: Sensitivity | str | None = None,
        lawful_basis: LawfulBasis | str = LawfulBasis.CONSENT,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Raise an alert; it is labelled and shared like an entry of its kind's category."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        alert_kind = choice(AlertKind, kind, field="kind")
        level = choice(Severity, severity, field="severity")
        labels = self._labels(
            protocol,
            actor,
            entry_id=self._new_id(),
            heading=f"Alert: {alert_kind.value}",
            category=protocol.alert_categories[alert_kind],
            expected_category=None,
            sensitivity=sensitivity,
            lawful_basis=lawful_basis,
            occurred_at=self._when(occurred_at, now, field="occurred_at"),
            exemption=None,
        )
        body = checked_text(summary, field="summary", max_len=MAX_REASON_TEXT)
        return self._change(
            client_id,
            lambda r: r.raise_alert(
                labels,
                kind=alert_kind,
                severity=level,
                summary=body,
                actor=actor,
                now=now,
                under_break_glass=RecordKind.ALERT in protocol.break_glass.may_record,
            ),
            created=labels.entry_id,
        )

    @command
    def resolve_alert(
        self,
        caller: Viewer,
        client_id: object,
        alert_id: object,
        *,
        reason: str,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Resolve an alert (the raising agency, or a safeguarding lead), with a reason."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        aid = parse_entity_id(alert_id, field="alert_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.resolve_alert(aid, reason=why, actor=actor, now=now, at=when),
        )

    # --- internals ---------------------------------------------------------------------

    def _labels(
        self,
        protocol: Protocol,
        actor: Viewer,
        *,
        entry_id: str,
        heading: str,
        category: str | None,
        expected_category: str | None,
        sensitivity: Sensitivity | str | None,
        lawful_basis: LawfulBasis | str,
        occurred_at: datetime,
        exemption: str | None,
    ) -> Labels:
        profession = _required(actor.profession)
        if profession not in protocol.professions:
            raise errors.UnknownProfession(field="profession")
        if category is None:
            category = protocol.category_for_heading(profession, heading)
            if category is None:
                raise errors.UnknownHeading(field="heading")
        if expected_category is not None:
            if expected_category not in protocol.categories:
                raise errors.UnknownCategory(field="category")
            if expected_category != category:
                raise errors.InvalidInput(field="category", reason="heading_maps_elsewhere")
        floor = protocol.categories[category].min_sensitivity
        level = (
            floor if sensitivity is None else choice(Sensitivity, sensitivity, field="sensitivity")
        )
        if level.rank < floor.rank:
            raise errors.SensitivityTooLow(field="sensitivity")
        basis = choice(LawfulBasis, lawful_basis, field="lawful_basis")
        if basis is not LawfulBasis.CONSENT and basis not in protocol.lawful_bases:
            raise errors.UnknownValue(field="lawful_basis")
        if exemption is not None and exemption not in protocol.subject_access_exemptions:
            raise errors.UnknownValue(field="subject_access_exemption")
        return Labels(
            entry_id=entry_id,
            agency_id=_required(actor.agency_id),
            sector=_required(actor.sector),
            author_id=_required(actor.practitioner_id),
            profession=profession,
            category=category,
            heading=heading,
            sensitivity=level,
            lawful_basis=basis,
            occurred_at=occurred_at,
            subject_access_exemption=exemption,
        )
