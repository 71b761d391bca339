"""A client record that has been through every kind of event, built with the domain's own
commands in memory (no application, no store), for persistence contract tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

from policy_cases import audience, practitioner

from carerecord.client_record import ClientRecord
from carerecord.ids import ClientId
from carerecord.values import (
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    ConsentScope,
    Demographics,
    Labels,
    Restriction,
)
from carerecord.vocab import (
    AlertKind,
    BreakGlassOutcome,
    ConsentDecisionKind,
    ConsentGiver,
    LawfulBasis,
    Purpose,
    RestrictionRequester,
    Role,
    Sector,
    Sensitivity,
    Severity,
    Urgency,
)

T0 = datetime(2025, 6, 1, 8, 30, 15, 123456, tzinfo=UTC)
GP = practitioner("gp", "gp-north", practitioner_id="dr-north")
NURSE = practitioner("district_nurse", "community-health", Role.TEAM_LEAD, practitioner_id="dn-1")
POLICE = practitioner("police_officer", "police", practitioner_id="pc-1")
POLICE_IG = practitioner("police_officer", "police", Role.IG_OFFICER, practitioner_id="pc-ig")

CLIENT_EVENT_TYPES = (
    "Registered",
    "DemographicsCorrected",
    "LocalIdentifierRecorded",
    "ContributionRecorded",
    "ContributionAmended",
    "ContributionEnteredInError",
    "ConsentRecorded",
    "ConsentWithdrawn",
    "RestrictionPlaced",
    "RestrictionLifted",
    "CareRelationshipStarted",
    "CareRelationshipEnded",
    "ReferralSent",
    "ReferralAcknowledged",
    "ReferralAccepted",
    "ReferralDeclined",
    "ReferralClosed",
    "AlertRaised",
    "AlertResolved",
    "BreakGlassGranted",
    "BreakGlassReviewed",
)


def labels(entry_id: str, at: datetime, **changes: object) -> Labels:
    base = Labels(
        entry_id=entry_id,
        agency_id="gp-north",
        sector=Sector.HEALTH,
        author_id="dr-north",
        profession="gp",
        category="mental_health",
        heading="Mental state",
        sensitivity=Sensitivity.SENSITIVE,
        lawful_basis=LawfulBasis.CONSENT,
        occurred_at=at - timedelta(hours=2),
        subject_access_exemption="third_party",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def registered(client_id: UUID | None = None, at: datetime = T0) -> ClientRecord:
    record = ClientRecord.register(
        client_id=ClientId(client_id or uuid4()),
        nhs_number="9434765919",
        local_ids={"north-shire": "NS/001", "east-vale": "EV-9"},
        demographics=Demographics("Zoë", "O'Neill", date(1941, 2, 28), "female", "NS1 4AB"),
        actor=GP,
        at=at,
    )
    record.start_care_relationship(
        CareRelationship(
            str(uuid4()), "dr-north", None, "gp-north", "gp", "Registered", "dr-north", at
        ),
        actor=GP,
    )
    return record


def one_of_everything(record: ClientRecord, at: datetime) -> None:
    """Append one round of every event type after registration (each with rich values)."""
    now = at
    nurse_rel = CareRelationship(
        str(uuid4()), "dn-1", None, "community-health", "district_nurse", "Referral", "dn-1", at
    )
    record.start_care_relationship(nurse_rel, actor=NURSE)
    record.correct_demographics(
        Demographics(
            "Zoë",
            "O'Neill-Hart",
            date(1941, 2, 28),
            "female",
            "NS1 4AB",
            "Welsh",
            "+44 1632 960123",
        ),
        reason="Married name",
        actor=GP,
        now=now,
        at=at,
    )
    record.record_local_identifier(f"auth-{uuid4().hex[:6]}", "L-1", actor=GP, now=now, at=at)
    entry = str(uuid4())
    record.record_contribution(
        labels(entry, at), "Low mood; \u2018hopeless\u2019. \U0001f4ac", actor=GP, now=now
    )
    record.amend_contribution(entry, "Low mood, improving.", reason="Clarified", actor=GP, at=at)
    other = str(uuid4())
    record.record_contribution(
        labels(
            other,
            at,
            category="physical_health",
            heading="History",
            sensitivity=Sensitivity.NORMAL,
            lawful_basis=LawfulBasis.VITAL_INTERESTS,
            subject_access_exemption=None,
        ),
        "BP 130/80.",
        actor=GP,
        now=now,
    )
    record.enter_in_error(other, reason="Wrong patient", actor=GP, at=at)
    consent = ConsentDecision(
        consent_id=str(uuid4()),
        decision=ConsentDecisionKind.GRANTED,
        scope=ConsentScope(
            categories=frozenset({"mental_health", "medication"}),
            audience=audience(
                agencies=("housing",),
                sectors=(Sector.SOCIAL_CARE, Sector.POLICE),
                professions=("district_nurse",),
            ),
            purposes=frozenset({Purpose.DIRECT_CARE, Purpose.EMERGENCY}),
        ),
        given_by=ConsentGiver.LASTING_POWER_OF_ATTORNEY,
        representative_name="Jo O'Neill",
        recorded_by="dr-north",
        agency_id="gp-north",
        decided_at=at - timedelta(days=1),
        expires_at=at + timedelta(days=365),
    )
    record.record_consent(consent, actor=GP, now=now)
    record.withdraw_consent(consent.consent_id, reason="Changed mind", actor=GP, now=now, at=at)
    restriction = Restriction(
        str(uuid4()),
        entry,
        None,
        audience(everyone=True),
        RestrictionRequester.CLIENT,
        "dr-north",
        "gp-north",
        at,
    )
    record.place_restriction(restriction, reason="Client request", actor=GP, now=now)
    record.lift_restriction(restriction.restriction_id, reason="Lifted", actor=GP, now=now, at=at)
    record.end_care_relationship(nurse_rel.relationship_id, reason="Discharged", actor=NURSE, at=at)
    for response in ("decline", "accept"):
        referral = str(uuid4())
        record.send_referral(
            referral,
            to_agency="community-health",
            category="mobility",
            reason="Falls",
            urgency=Urgency.URGENT,
            due_by=at + timedelta(days=3),
            actor=GP,
            now=now,
            at=at,
        )
        record.acknowledge_referral(referral, actor=NURSE, at=at)
        if response == "decline":
            record.decline_referral(referral, reason="Full", actor=NURSE, at=at)
        else:
            record.accept_referral(referral, note="Booked", actor=NURSE, at=at)
        record.close_referral(referral, outcome="Done", actor=GP, at=at)
    alert = str(uuid4())
    record.raise_alert(
        labels(
            alert,
            at,
            category="risk",
            heading="Alert: risk_to_self",
            sensitivity=Sensitivity.NORMAL,
            subject_access_exemption=None,
        ),
        kind=AlertKind.RISK_TO_SELF,
        severity=Severity.HIGH,
        summary="Overdose risk",
        actor=GP,
        now=now,
    )
    record.resolve_alert(alert, reason="Risk reduced", actor=GP, now=now, at=at)
    grant = BreakGlassGrant(
        str(uuid4()),
        "pc-1",
        "police",
        "police_officer",
        Purpose.EMERGENCY,
        at,
        at + timedelta(hours=1),
    )
    record.grant_break_glass(grant, reason="Crisis on the bridge, risk to life", actor=POLICE)
    record.review_break_glass(
        grant.grant_id, outcome=BreakGlassOutcome.JUSTIFIED, note="Logged", actor=POLICE_IG, at=at
    )


def long_history(events: int, client_id: UUID | None = None) -> Iterator[ClientRecord]:
    """A client's history of at least ``events`` events: the record is yielded whenever about
    fifty events are pending, for the caller to save (one transaction per batch)."""
    record = registered(client_id)
    rounds = itertools.count()
    while record.version < events:
        one_of_everything(record, T0 + timedelta(hours=next(rounds)))
        if len(record.pending_events) >= 50:
            yield record
    yield record
