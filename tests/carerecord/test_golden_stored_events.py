"""Golden stored bytes: what each event looked like in the store when it shipped.

For one representative event of every ClientRecord type, ``golden/client_record/<Event>.json``
holds the exact bytes the transcoder stored (other aggregates' events:
``golden/<aggregate>/``). They must keep decoding to the same event for ever (STYLE habit 8): a
change to an event class, a value object or the transcoder that breaks old records fails here.
When an event gets a new ``class_version``, keep its old golden file and add an upcaster; never
edit a golden file to make a test pass.

To write the files for a newly added event type (only then; existing files are never
overwritten): run this module with ``CARERECORD_WRITE_GOLDEN=1`` in the environment.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from carerecord.client_record import ClientRecord
from carerecord.idempotency import IdempotencyKey
from carerecord.transcoder import OrjsonTranscoder
from carerecord.values import (
    AudienceSelector,
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    ConsentScope,
    Demographics,
    Labels,
    Restriction,
)
from carerecord.vocab import (
    ConsentDecisionKind,
    ConsentGiver,
    LawfulBasis,
    Purpose,
    RestrictionRequester,
    Sector,
    Sensitivity,
)

GOLDEN = Path(__file__).parent / "golden" / "client_record"
CLIENT = UUID("5b0c9f1e-3c2d-4e6f-8a9b-0c1d2e3f4a5b")
RECORDED = datetime(2026, 1, 15, 10, 30, 0, 250000, tzinfo=UTC)
AT = datetime(2026, 1, 15, 9, 45, tzinfo=UTC)
ENTRY = "1f0e2d3c-4b5a-4968-8776-655443322110"
LABELS = Labels(
    entry_id=ENTRY,
    agency_id="mh-trust",
    sector=Sector.HEALTH,
    author_id="mhp-dev",
    profession="mental_health_practitioner",
    category="mental_health",
    heading="Mental state",
    sensitivity=Sensitivity.SENSITIVE,
    lawful_basis=LawfulBasis.CONSENT,
    occurred_at=AT,
    subject_access_exemption="third_party",
)
WHO: dict[str, Any] = {"by": "mhp-dev", "agency_id": "mh-trust", "at": AT}


def event(cls: type[Any], version: int, **fields: Any) -> Any:
    return cls(originator_id=CLIENT, originator_version=version, timestamp=RECORDED, **fields)


SAMPLES: dict[str, Any] = {
    "Registered": event(
        ClientRecord.Registered,
        1,
        originator_topic="carerecord.client_record:ClientRecord",
        nhs_number="9434765919",
        local_ids={"north-shire": "NS/1001"},
        demographics=Demographics(
            "Zoë", "O'Neill", date(1941, 2, 28), "female", "NS1 4AB", "Welsh", "01632 960123"
        ),
        **WHO,
    ),
    "DemographicsCorrected": event(
        ClientRecord.DemographicsCorrected,
        2,
        demographics=Demographics("Zoë", "O'Neill-Hart", date(1941, 2, 28)),
        reason="Married name",
        **WHO,
    ),
    "LocalIdentifierRecorded": event(
        ClientRecord.LocalIdentifierRecorded, 3, authority="east-vale", local_id="EV-77", **WHO
    ),
    "ContributionRecorded": event(
        ClientRecord.ContributionRecorded, 4, labels=LABELS, text="Low mood.\nSleeping poorly."
    ),
    "ContributionAmended": event(
        ClientRecord.ContributionAmended,
        5,
        entry_id=ENTRY,
        text="Low mood, improving.",
        reason="Clarified",
        **WHO,
    ),
    "ContributionEnteredInError": event(
        ClientRecord.ContributionEnteredInError, 6, entry_id=ENTRY, reason="Wrong client", **WHO
    ),
    "ConsentRecorded": event(
        ClientRecord.ConsentRecorded,
        7,
        decision=ConsentDecision(
            consent_id="c0a1b2c3-d4e5-4f60-8172-839495a6b7c8",
            decision=ConsentDecisionKind.GRANTED,
            scope=ConsentScope(
                categories=frozenset({"mental_health", "medication"}),
                audience=AudienceSelector(
                    agencies=frozenset({"housing"}),
                    sectors=frozenset({Sector.SOCIAL_CARE}),
                    professions=frozenset({"gp"}),
                ),
                purposes=frozenset({Purpose.DIRECT_CARE, Purpose.EMERGENCY}),
            ),
            given_by=ConsentGiver.LASTING_POWER_OF_ATTORNEY,
            representative_name="Jo O'Neill",
            recorded_by="mhp-dev",
            agency_id="mh-trust",
            decided_at=AT,
            expires_at=datetime(2027, 1, 15, 9, 45, tzinfo=UTC),
        ),
    ),
    "ConsentWithdrawn": event(
        ClientRecord.ConsentWithdrawn,
        8,
        consent_id="c0a1b2c3-d4e5-4f60-8172-839495a6b7c8",
        reason="Changed mind",
        **WHO,
    ),
    "RestrictionPlaced": event(
        ClientRecord.RestrictionPlaced,
        9,
        restriction=Restriction(
            restriction_id="ab12cd34-ef56-4a78-9b0c-1d2e3f4a5b6c",
            entry_id=None,
            category="substance_use",
            hidden_from=AudienceSelector(everyone=True),
            requested_by=RestrictionRequester.CLIENT,
            placed_by="mhp-dev",
            agency_id="mh-trust",
            placed_at=AT,
        ),
        reason="Client request",
    ),
    "RestrictionLifted": event(
        ClientRecord.RestrictionLifted,
        10,
        restriction_id="ab12cd34-ef56-4a78-9b0c-1d2e3f4a5b6c",
        reason="Client withdrew it",
        **WHO,
    ),
    "CareRelationshipStarted": event(
        ClientRecord.CareRelationshipStarted,
        11,
        relationship=CareRelationship(
            relationship_id="0d9c8b7a-6f5e-4d3c-8b2a-192837465564",
            practitioner_id=None,
            team_id="crisis-team",
            agency_id="mh-trust",
            profession=None,
            reason="Crisis team caseload",
            started_by="mhp-dev",
            started_at=AT,
        ),
    ),
    "CareRelationshipEnded": event(
        ClientRecord.CareRelationshipEnded,
        12,
        relationship_id="0d9c8b7a-6f5e-4d3c-8b2a-192837465564",
        reason="Discharged",
        **WHO,
    ),
    "ReferralSent": event(
        ClientRecord.ReferralSent,
        13,
        referral_id="9e8d7c6b-5a49-4837-a625-14131211100f",
        to_agency="adult-care",
        category="daily_living",
        reason="Needs assessment of care at home",
        urgency="urgent",
        due_by=datetime(2026, 1, 22, 17, 0, tzinfo=UTC),
        **WHO,
    ),
    "ReferralAcknowledged": event(
        ClientRecord.ReferralAcknowledged,
        14,
        referral_id="9e8d7c6b-5a49-4837-a625-14131211100f",
        by="sw-gail",
        agency_id="adult-care",
        at=AT,
    ),
    "ReferralAccepted": event(
        ClientRecord.ReferralAccepted,
        15,
        referral_id="9e8d7c6b-5a49-4837-a625-14131211100f",
        note="Visit booked",
        by="sw-gail",
        agency_id="adult-care",
        at=AT,
    ),
    "ReferralDeclined": event(
        ClientRecord.ReferralDeclined,
        16,
        referral_id="8d7c6b5a-4938-4726-a514-131211100f0e",
        reason="Outside criteria",
        by="sw-gail",
        agency_id="adult-care",
        at=AT,
    ),
    "ReferralClosed": event(
        ClientRecord.ReferralClosed,
        17,
        referral_id="9e8d7c6b-5a49-4837-a625-14131211100f",
        outcome="Care package started",
        **WHO,
    ),
    "AlertRaised": event(
        ClientRecord.AlertRaised,
        18,
        labels=replace(
            LABELS,
            entry_id="7c6b5a49-3827-4615-a504-f3e2d1c0b9a8",
            category="risk",
            heading="Alert: risk_to_self",
            sensitivity=Sensitivity.NORMAL,
            lawful_basis=LawfulBasis.VITAL_INTERESTS,
            subject_access_exemption=None,
        ),
        kind="risk_to_self",
        severity="high",
        summary="Expressed intent to self-harm",
    ),
    "AlertResolved": event(
        ClientRecord.AlertResolved,
        19,
        alert_id="7c6b5a49-3827-4615-a504-f3e2d1c0b9a8",
        reason="Risk reduced",
        **WHO,
    ),
    "BreakGlassGranted": event(
        ClientRecord.BreakGlassGranted,
        20,
        grant=BreakGlassGrant(
            grant_id="6b5a4938-2716-4504-93e2-d1c0b9a8f7e6",
            practitioner_id="pc-ivy",
            agency_id="police",
            profession="police_officer",
            purpose=Purpose.EMERGENCY,
            granted_at=AT,
            expires_at=datetime(2026, 1, 15, 10, 45, tzinfo=UTC),
        ),
        reason="Person in crisis on the bridge, risk to life",
    ),
    "BreakGlassReviewed": event(
        ClientRecord.BreakGlassReviewed,
        21,
        grant_id="6b5a4938-2716-4504-93e2-d1c0b9a8f7e6",
        outcome="justified",
        note="Matches the control room log",
        by="police-ig",
        agency_id="police",
        at=AT,
    ),
}

MAPPER: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())


def test_there_is_a_golden_sample_of_every_client_record_event_type() -> None:
    event_types = {
        name
        for name, value in vars(ClientRecord).items()
        if isinstance(value, type)
        and issubclass(value, ClientRecord.Event)
        and name not in ("Event", "Created")  # the library's base classes
    }
    assert set(SAMPLES) == event_types
    assert all(type(sample).__name__ == name for name, sample in SAMPLES.items())


def assert_golden(path: Path, topic: str, expected: Any) -> None:
    """The golden bytes at ``path`` decode to ``expected`` under the shipped ``topic``."""
    if os.environ.get("CARERECORD_WRITE_GOLDEN") == "1" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(MAPPER.to_stored_event(expected).state)
    assert get_topic(type(expected)) == topic  # a moved class needs its old topic registered

    stored = StoredEvent(
        originator_id=expected.originator_id,
        originator_version=expected.originator_version,
        topic=topic,
        state=path.read_bytes(),
    )

    assert MAPPER.to_domain_event(stored) == expected


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_stored_bytes_still_decode_to_the_same_event(name: str) -> None:
    topic = f"carerecord.client_record:ClientRecord.{name}"
    assert_golden(GOLDEN / f"{name}.json", topic, SAMPLES[name])


OTHER_SAMPLES: dict[str, tuple[str, Any]] = {
    "idempotency_key/Used": (
        "carerecord.idempotency:IdempotencyKey.Used",
        IdempotencyKey.Used(
            originator_id=UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
            originator_version=1,
            timestamp=RECORDED,
            originator_topic="carerecord.idempotency:IdempotencyKey",
            command="record_contribution",
            input_hash="5f2b8c0e9d4a7b6c3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d",
            result_id=ENTRY,
            by="practitioner:mhp-dev",
            at=RECORDED,
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(OTHER_SAMPLES))
def test_golden_stored_bytes_of_other_aggregates_still_decode_to_the_same_event(
    name: str,
) -> None:
    topic, expected = OTHER_SAMPLES[name]
    assert_golden(GOLDEN.parent / f"{name}.json", topic, expected)
