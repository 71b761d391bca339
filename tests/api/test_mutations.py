"""Every command of the core through GraphQL (gql over real HTTP): what is accepted is recorded,
what is refused comes back as a typed ``Refused`` with a stable code and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_stack import Stack, gql_execute
from world import (
    GP,
    IG_OFFICER,
    NURSE,
    POLICE,
    SECRET,
    SOCIAL_WORKER,
    TEACHER,
    ClientFacts,
    Person,
    new_nhs_number,
    register_client,
)

OUTCOME = """__typename
  ... on Accepted { id consistencyToken }
  ... on Refused { code message fields { name value } }"""


def run(
    stack: Stack, person: Person, field: str, signature: str, call: str, **variables: Any
) -> Any:
    query = f"mutation{signature} {{ {field}{call} {{ {OUTCOME} }} }}"
    return gql_execute(stack, stack.token(person), query, **variables)[field]


def head(stack: Stack) -> int:
    return int(stack.app.recorder.max_notification_id() or 0)


def accepted(outcome: dict[str, Any]) -> str | None:
    assert outcome["__typename"] == "Accepted", outcome
    token = outcome["consistencyToken"]
    assert isinstance(token, str)
    assert not token.isdigit()
    assert len(token) > 20
    return outcome["id"]


def refused(stack: Stack, before: int, outcome: dict[str, Any], code: str) -> dict[str, Any]:
    assert outcome["__typename"] == "Refused", outcome
    assert outcome["code"] == code
    assert SECRET not in str(outcome)
    assert head(stack) == before, "a refused command must store nothing"
    return {f["name"]: f["value"] for f in outcome["fields"]}


def now() -> str:
    return datetime.now(UTC).isoformat()


REGISTER = """($input: RegisterClientInput!)""", "(input: $input)"


def register_input(nhs: str, **demographics: Any) -> dict[str, Any]:
    person = {"givenName": "Robin", "familyName": "Example", "dateOfBirth": "1948-02-29"}
    person.update(demographics)
    return {
        "nhsNumber": nhs,
        "demographics": person,
        "localIds": [{"authority": "north-shire", "localId": "NS/" + nhs}],
    }


def test_register_client_records_the_client_with_a_relationship_for_the_registrar(
    stack: Stack,
) -> None:
    nhs = new_nhs_number()
    client_id = accepted(run(stack, NURSE, "registerClient", *REGISTER, input=register_input(nhs)))
    assert client_id is not None
    record = stack.app.load_client(client_id)
    assert record.nhs_number == nhs
    assert record.demographics.given_name == "Robin"
    assert [r.practitioner_id for r in record.relationships.values()] == [NURSE.practitioner_id]
    assert stack.app.lookup_client(authority="north-shire", local_id="NS/" + nhs) is not None


def test_register_client_refuses_duplicates_and_bad_identifiers_storing_nothing(
    stack: Stack,
) -> None:
    nhs = new_nhs_number()
    accepted(run(stack, NURSE, "registerClient", *REGISTER, input=register_input(nhs)))
    before = head(stack)
    duplicate = run(stack, GP, "registerClient", *REGISTER, input=register_input(nhs))
    refused(stack, before, duplicate, "DUPLICATE_IDENTIFIER")
    bad = nhs[:9] + str((int(nhs[9]) + 1) % 10)
    fields = refused(
        stack,
        before,
        run(stack, GP, "registerClient", *REGISTER, input=register_input(bad)),
        "INVALID_NHS_NUMBER",
    )
    assert bad not in str(fields)
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    outcome = run(
        stack,
        GP,
        "registerClient",
        *REGISTER,
        input=register_input(new_nhs_number(), dateOfBirth=future, givenName=SECRET),
    )
    refused(stack, before, outcome, "DATE_IN_FUTURE")


CONTRIBUTION = "($c: ID!, $input: ContributionInput!)", "(clientId: $c, input: $input)"


def test_contributions_are_recorded_amended_and_entered_in_error_by_their_author(
    stack: Stack,
) -> None:
    client = register_client(stack.app, NURSE)
    entry = accepted(
        run(
            stack,
            NURSE,
            "recordContribution",
            *CONTRIBUTION,
            c=client.client_id,
            input={"heading": "Wound care", "text": "Dressing changed", "occurredAt": now()},
        )
    )
    assert entry in stack.app.load_client(client.client_id).contributions
    amend = run(
        stack,
        NURSE,
        "amendContribution",
        "($c: ID!, $e: ID!)",
        '(clientId: $c, entryId: $e, text: "Dressing changed, healing", reason: "Typo")',
        c=client.client_id,
        e=entry,
    )
    accepted(amend)
    before = head(stack)
    not_author = run(
        stack,
        GP,
        "amendContribution",
        "($c: ID!, $e: ID!, $t: String!)",
        '(clientId: $c, entryId: $e, text: $t, reason: "Mine now")',
        c=client.client_id,
        e=entry,
        t=SECRET,
    )
    # The GP has no standing towards the client: told nothing about the entry (no oracle).
    refused(stack, before, not_author, "NO_CARE_RELATIONSHIP")
    accepted(
        run(
            stack,
            NURSE,
            "enterContributionInError",
            "($c: ID!, $e: ID!)",
            '(clientId: $c, entryId: $e, reason: "Wrong client")',
            c=client.client_id,
            e=entry,
        )
    )
    assert stack.app.load_client(client.client_id).contributions[entry].in_error
    events = [
        type(e).__name__
        for e in stack.app.repository.event_store.get(stack.app.load_client(client.client_id).id)
    ]
    assert events[-3:] == [
        "ContributionRecorded",
        "ContributionAmended",
        "ContributionEnteredInError",
    ]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"heading": "Not a heading"}, "UNKNOWN_HEADING"),
        ({"text": "bad \u202e text"}, "INVALID_TEXT"),
        ({"text": "hidden\u200bspace"}, "INVALID_TEXT"),
        ({"text": "\ufeffbyte order mark"}, "INVALID_TEXT"),
        ({"heading": "Wound\u2028care"}, "INVALID_TEXT"),
        ({"text": "x" * 20_001}, "TEXT_TOO_LONG"),
        ({"text": "   "}, "TEXT_EMPTY"),
        ({"sensitivity": "NORMAL", "heading": "Mental wellbeing"}, "SENSITIVITY_TOO_LOW"),
        ({"category": "housing"}, "INVALID_INPUT"),
    ],
)
def test_bad_contributions_are_refused_with_a_code_and_store_nothing(
    stack: Stack, changes: dict[str, Any], code: str
) -> None:
    client = register_client(stack.app, NURSE)
    fields = {"heading": "Wound care", "text": SECRET, "occurredAt": now(), **changes}
    before = head(stack)
    outcome = run(
        stack, NURSE, "recordContribution", *CONTRIBUTION, c=client.client_id, input=fields
    )
    refused(stack, before, outcome, code)


def test_a_practitioner_without_a_relationship_cannot_contribute(stack: Stack) -> None:
    client = register_client(stack.app, NURSE)
    before = head(stack)
    outcome = run(
        stack,
        GP,
        "recordContribution",
        *CONTRIBUTION,
        c=client.client_id,
        input={"heading": "History", "text": SECRET, "occurredAt": now()},
    )
    refused(stack, before, outcome, "NO_CARE_RELATIONSHIP")


def test_care_relationships_start_and_end_with_a_reason(stack: Stack) -> None:
    client = register_client(stack.app, NURSE)
    relationship = accepted(
        run(
            stack,
            GP,
            "startCareRelationship",
            "($c: ID!)",
            '(clientId: $c, reason: "Registered patient")',
            c=client.client_id,
        )
    )
    assert relationship in stack.app.load_client(client.client_id).relationships
    before = head(stack)
    again = run(
        stack,
        GP,
        "startCareRelationship",
        "($c: ID!)",
        '(clientId: $c, reason: "Again")',
        c=client.client_id,
    )
    refused(stack, before, again, "RELATIONSHIP_ALREADY_ACTIVE")
    accepted(
        run(
            stack,
            GP,
            "endCareRelationship",
            "($c: ID!, $r: ID!)",
            '(clientId: $c, relationshipId: $r, reason: "Moved practice")',
            c=client.client_id,
            r=relationship,
        )
    )
    assert relationship not in stack.app.load_client(client.client_id).relationships


CONSENT = "($c: ID!, $input: ConsentInput!)", "(clientId: $c, input: $input)"


def test_consent_is_recorded_by_the_client_or_a_named_representative_and_withdrawn(
    stack: Stack,
) -> None:
    client = register_client(stack.app, NURSE)
    own = accepted(
        run(
            stack,
            NURSE,
            "recordConsent",
            *CONSENT,
            c=client.client_id,
            input={"decision": "GRANTED", "audience": {"sectors": ["SOCIAL_CARE"]}},
        )
    )
    by_parent = accepted(
        run(
            stack,
            NURSE,
            "recordConsent",
            *CONSENT,
            c=client.client_id,
            input={
                "decision": "REFUSED",
                "audience": {"agencies": ["police"]},
                "givenBy": "LASTING_POWER_OF_ATTORNEY",
                "representativeName": "Sam Example",
                "categories": ["mental_health"],
            },
        )
    )
    consents = stack.app.load_client(client.client_id).consents
    assert consents[str(by_parent)].representative_name == "Sam Example"
    before = head(stack)
    unnamed = run(
        stack,
        NURSE,
        "recordConsent",
        *CONSENT,
        c=client.client_id,
        input={"decision": "GRANTED", "audience": {"everyone": True}, "givenBy": "PARENT"},
    )
    assert refused(stack, before, unnamed, "INVALID_INPUT")["field"] == "representative_name"
    empty = run(
        stack,
        NURSE,
        "recordConsent",
        *CONSENT,
        c=client.client_id,
        input={"decision": "GRANTED", "audience": {}},
    )
    refused(stack, before, empty, "INVALID_INPUT")
    accepted(
        run(
            stack,
            NURSE,
            "withdrawConsent",
            "($c: ID!, $k: ID!)",
            '(clientId: $c, consentId: $k, reason: "Client changed their mind")',
            c=client.client_id,
            k=own,
        )
    )
    assert str(own) not in stack.app.load_client(client.client_id).consents


def test_restrictions_are_placed_and_lifted(stack: Stack) -> None:
    client = register_client(stack.app, NURSE)
    restriction = accepted(
        run(
            stack,
            NURSE,
            "placeRestriction",
            "($c: ID!, $input: RestrictionInput!)",
            "(clientId: $c, input: $input)",
            c=client.client_id,
            input={
                "requestedBy": "CLIENT",
                "reason": "Client asked",
                "category": "mental_health",
                "hiddenFrom": {"sectors": ["POLICE"]},
            },
        )
    )
    assert restriction in stack.app.load_client(client.client_id).restrictions
    accepted(
        run(
            stack,
            NURSE,
            "liftRestriction",
            "($c: ID!, $r: ID!)",
            '(clientId: $c, restrictionId: $r, reason: "Client agreed")',
            c=client.client_id,
            r=restriction,
        )
    )
    assert restriction not in stack.app.load_client(client.client_id).restrictions


REFERRAL = "($c: ID!, $input: ReferralInput!)", "(clientId: $c, input: $input)"


def _referral(stack: Stack, client: ClientFacts) -> str:
    due = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    referral = accepted(
        run(
            stack,
            GP,
            "sendReferral",
            *REFERRAL,
            c=client.client_id,
            input={
                "toAgency": "adult-care",
                "category": "daily_living",
                "reason": "Needs a care assessment",
                "dueBy": due,
                "urgency": "URGENT",
            },
        )
    )
    assert referral is not None
    return referral


def test_referrals_are_sent_and_answered_by_the_receiving_agency(stack: Stack) -> None:
    client = register_client(stack.app, GP)
    referral = _referral(stack, client)
    ids = "($c: ID!, $r: ID!)"
    before = head(stack)
    refused(
        stack,
        before,
        run(
            stack,
            POLICE,
            "acknowledgeReferral",
            ids,
            "(clientId: $c, referralId: $r)",
            c=client.client_id,
            r=referral,
        ),
        "NO_CARE_RELATIONSHIP",  # not a party to the referral, and no standing: told nothing
    )
    accepted(
        run(
            stack,
            SOCIAL_WORKER,
            "acknowledgeReferral",
            ids,
            "(clientId: $c, referralId: $r)",
            c=client.client_id,
            r=referral,
        )
    )
    accepted(
        run(
            stack,
            SOCIAL_WORKER,
            "acceptReferral",
            ids,
            '(clientId: $c, referralId: $r, note: "Allocated")',
            c=client.client_id,
            r=referral,
        )
    )
    record = stack.app.load_client(client.client_id)
    assert record.referrals[referral].status.value == "accepted"
    assert any(
        r.practitioner_id == SOCIAL_WORKER.practitioner_id for r in record.relationships.values()
    )
    accepted(
        run(
            stack,
            GP,
            "closeReferral",
            ids,
            '(clientId: $c, referralId: $r, outcome: "Assessed")',
            c=client.client_id,
            r=referral,
        )
    )
    other = _referral(stack, client)
    accepted(
        run(
            stack,
            SOCIAL_WORKER,
            "declineReferral",
            ids,
            '(clientId: $c, referralId: $r, reason: "Not eligible")',
            c=client.client_id,
            r=other,
        )
    )
    assert stack.app.load_client(client.client_id).referrals[other].status.value == "declined"


def test_alerts_are_raised_and_resolved(stack: Stack) -> None:
    client = register_client(stack.app, NURSE)
    alert = accepted(
        run(
            stack,
            NURSE,
            "raiseAlert",
            "($c: ID!, $input: AlertInput!)",
            "(clientId: $c, input: $input)",
            c=client.client_id,
            input={
                "kind": "RISK_TO_LONE_WORKERS",
                "severity": "HIGH",
                "summary": "Dog on premises",
            },
        )
    )
    assert alert in stack.app.load_client(client.client_id).alerts
    accepted(
        run(
            stack,
            NURSE,
            "resolveAlert",
            "($c: ID!, $a: ID!)",
            '(clientId: $c, alertId: $a, reason: "Dog rehomed")',
            c=client.client_id,
            a=alert,
        )
    )
    assert alert not in stack.app.load_client(client.client_id).alerts


BREAK_GLASS = """mutation($c: ID!, $reason: String!, $m: Int) {
  breakGlass(clientId: $c, reason: $reason, minutes: $m) {
    __typename
    ... on BreakGlassGranted { grantId purpose expiresAt consistencyToken }
    ... on Refused { code fields { name value } }
  }
}"""


def test_break_glass_needs_a_reason_and_an_eligible_profession_and_is_time_boxed(
    stack: Stack,
) -> None:
    client = register_client(stack.app, GP)
    reason = "Street triage: person in crisis at the bridge, need risk history"
    before = head(stack)
    short = gql_execute(
        stack, stack.token(POLICE), BREAK_GLASS, c=client.client_id, reason="Urgent"
    )
    assert short["breakGlass"]["code"] == "INVALID_INPUT"
    teacher = gql_execute(
        stack, stack.token(TEACHER), BREAK_GLASS, c=client.client_id, reason=reason
    )
    assert teacher["breakGlass"]["code"] == "NOT_PERMITTED"
    too_long = gql_execute(
        stack, stack.token(POLICE), BREAK_GLASS, c=client.client_id, reason=reason, m=10_000
    )
    assert too_long["breakGlass"]["code"] == "INVALID_INPUT"
    assert head(stack) == before
    granted = gql_execute(
        stack, stack.token(POLICE), BREAK_GLASS, c=client.client_id, reason=reason, m=30
    )
    grant = granted["breakGlass"]
    assert grant["__typename"] == "BreakGlassGranted"
    assert grant["purpose"] == "EMERGENCY"
    expires = datetime.fromisoformat(grant["expiresAt"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    stored = stack.app.load_client(client.client_id).grants[grant["grantId"]]
    assert stored.practitioner_id == POLICE.practitioner_id
    assert stored.review_outcome is None  # flagged for review


def test_break_glass_is_reviewed_by_the_accessing_agencys_ig_officer(stack: Stack) -> None:
    client = register_client(stack.app, GP)
    reason = "Found collapsed at home, no answer from the surgery"
    grant = gql_execute(stack, stack.token(NURSE), BREAK_GLASS, c=client.client_id, reason=reason)
    grant_id = grant["breakGlass"]["grantId"]
    review = (
        "($c: ID!, $g: ID!)",
        '(clientId: $c, grantId: $g, outcome: JUSTIFIED, note: "Appropriate")',
    )
    before = head(stack)
    refused(
        stack,
        before,
        run(stack, NURSE, "reviewBreakGlass", *review, c=client.client_id, g=grant_id),
        "NOT_PERMITTED",
    )
    accepted(run(stack, IG_OFFICER, "reviewBreakGlass", *review, c=client.client_id, g=grant_id))
    reviewed = stack.app.load_client(client.client_id).grants[grant_id]
    assert reviewed.review_outcome is not None
    assert reviewed.reviewed_by == IG_OFFICER.practitioner_id


def test_demographics_are_corrected_and_local_ids_recorded(stack: Stack) -> None:
    client = register_client(stack.app, NURSE)
    accepted(
        run(
            stack,
            NURSE,
            "correctDemographics",
            "($c: ID!, $d: DemographicsInput!)",
            '(clientId: $c, demographics: $d, reason: "Spelling")',
            c=client.client_id,
            d={"givenName": "Alexa", "familyName": "Example", "dateOfBirth": "1950-05-17"},
        )
    )
    assert stack.app.load_client(client.client_id).demographics.given_name == "Alexa"
    accepted(
        run(
            stack,
            NURSE,
            "recordLocalIdentifier",
            "($c: ID!, $i: LocalIdInput!)",
            "(clientId: $c, identifier: $i)",
            c=client.client_id,
            i={"authority": "east-vale", "localId": "EV-" + client.nhs_number},
        )
    )
    found = stack.app.lookup_client(authority="east-vale", local_id="EV-" + client.nhs_number)
    assert str(found) == client.client_id


def test_a_malformed_id_is_a_coded_refusal(stack: Stack) -> None:
    before = head(stack)
    outcome = run(
        stack,
        NURSE,
        "startCareRelationship",
        "($c: ID!)",
        '(clientId: $c, reason: "x")',
        c="not-a-uuid",
    )
    refused(stack, before, outcome, "INVALID_IDENTIFIER")
    missing = run(
        stack,
        NURSE,
        "startCareRelationship",
        "($c: ID!)",
        '(clientId: $c, reason: "x")',
        c="00000000-0000-4000-8000-000000000000",
    )
    refused(stack, before, missing, "NO_CARE_RELATIONSHIP")  # as for a client one may not see
