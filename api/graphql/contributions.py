"""Mutations: contributions (record, amend, enter in error) and alerts (raise, resolve)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.common import CommandOutcome, mutation, run_command
from api.graphql.context import Ctx
from carerecord import vocab


@strawberry.input(description="An entry under the author's own profession heading.")
class ContributionInput:
    heading: str = strawberry.field(description="One of your profession's headings.")
    text: str
    occurred_at: datetime = strawberry.field(description="When it happened (clinical time).")
    category: str | None = strawberry.field(
        default=None, description="Optional check: the shared category the heading must map to."
    )
    sensitivity: vocab.Sensitivity | None = strawberry.field(
        default=None, description="Defaults to the category's minimum."
    )
    lawful_basis: vocab.LawfulBasis = vocab.LawfulBasis.CONSENT
    subject_access_exemption: str | None = None


@strawberry.input
class AlertInput:
    kind: vocab.AlertKind
    severity: vocab.Severity
    summary: str
    occurred_at: datetime | None = None
    sensitivity: vocab.Sensitivity | None = None
    lawful_basis: vocab.LawfulBasis = vocab.LawfulBasis.CONSENT


@strawberry.type
class ContributionMutations:
    @mutation("Record an entry on a client's record.")
    def record_contribution(
        self, info: Ctx, client_id: strawberry.ID, input: ContributionInput
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.record_contribution(
                caller,
                client_id,
                heading=input.heading,
                text=input.text,
                occurred_at=input.occurred_at,
                category=input.category,
                sensitivity=input.sensitivity,
                lawful_basis=input.lawful_basis,
                subject_access_exemption=input.subject_access_exemption,
                idempotency_key=key,
            ),
        )

    @mutation(
        "Correct your own entry: the new text shows, marked amended; the old stays in the log."
    )
    def amend_contribution(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        entry_id: strawberry.ID,
        text: str,
        reason: str,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.amend_contribution(
                caller, client_id, entry_id, text=text, reason=reason, at=at, idempotency_key=key
            ),
        )

    @mutation("Mark your own entry as entered in error (it leaves every view).")
    def enter_contribution_in_error(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        entry_id: strawberry.ID,
        reason: str,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.enter_contribution_in_error(
                caller, client_id, entry_id, reason=reason, at=at, idempotency_key=key
            ),
        )

    @mutation("Raise an alert (e.g. a risk to lone workers).")
    def raise_alert(self, info: Ctx, client_id: strawberry.ID, input: AlertInput) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.raise_alert(
                caller,
                client_id,
                kind=input.kind,
                severity=input.severity,
                summary=input.summary,
                occurred_at=input.occurred_at,
                sensitivity=input.sensitivity,
                lawful_basis=input.lawful_basis,
                idempotency_key=key,
            ),
        )

    @mutation("Resolve an alert (the raising agency or a safeguarding lead).")
    def resolve_alert(
        self,
        info: Ctx,
        client_id: strawberry.ID,
        alert_id: strawberry.ID,
        reason: str,
        at: datetime | None = None,
    ) -> CommandOutcome:
        return run_command(
            info,
            lambda app, caller, key: app.resolve_alert(
                caller, client_id, alert_id, reason=reason, at=at, idempotency_key=key
            ),
        )
