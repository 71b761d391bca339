"""The ``Idempotency-Key`` header over real HTTP: a retried mutation gets its first outcome
and stores nothing; other input is 422 ``IDEMPOTENCY_KEY_REUSED``; a malformed key, or a key
on a request with several mutation fields, is a 400 before anything runs; every mutation of
the schema takes the key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from api_stack import Stack
from graphql import build_schema
from world import (
    GP,
    HOUSING,
    IG_OFFICER,
    NURSE,
    OTHER_GP,
    POLICE,
    SECRET,
    SOCIAL_WORKER,
    Person,
    new_nhs_number,
    register_client,
    start_relationship,
)

from api.graphql.common import CONSISTENCY

OUTCOME = """__typename
  ... on Accepted { id consistencyToken }
  ... on Refused { code fields { name value } }"""
GRANTED = """__typename
  ... on BreakGlassGranted { grantId consistencyToken }
  ... on Refused { code fields { name value } }"""


def new_key() -> str:
    return f"req-{uuid4()}"


def send(
    stack: Stack,
    person: Person,
    query: str,
    key: str | list[str] | None,
    **variables: Any,
) -> httpx.Response:
    """POST one operation as ``person`` with ``key`` as its Idempotency-Key header(s)."""
    keys = [] if key is None else [key] if isinstance(key, str) else key
    return stack.post(
        query,
        stack.token(person),
        headers=[("Idempotency-Key", k) for k in keys],
        **variables,
    )


def head(stack: Stack) -> int:
    return int(stack.app.recorder.max_notification_id() or 0)


def position(stack: Stack, person: Person, token: str) -> int:
    """The log position a consistency token stands for (tokens are sealed afresh each time)."""
    return stack.server.services.cursors.open_int(CONSISTENCY, person.caller.scope, token)


def outcome(response: httpx.Response, field: str) -> dict[str, Any]:
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][field]
    return result


CONTRIBUTE = f"""mutation($c: ID!, $input: ContributionInput!) {{
  recordContribution(clientId: $c, input: $input) {{ {OUTCOME} }}
}}"""


def entry(text: str = "Dressing changed.") -> dict[str, Any]:
    occurred = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    return {"heading": "History", "text": text, "occurredAt": occurred.isoformat()}


def test_a_mutation_retried_with_its_key_gets_the_first_outcome_and_stores_nothing(
    stack: Stack,
) -> None:
    client = register_client(stack.app, GP)
    key, input_ = new_key(), entry()
    first = send(stack, GP, CONTRIBUTE, f'"{key}"', c=client.client_id, input=input_)
    assert first.status_code == 200, first.text
    accepted = outcome(first, "recordContribution")
    assert accepted["__typename"] == "Accepted"
    before = head(stack)
    assert position(stack, GP, accepted["consistencyToken"]) == before

    # The same key quoted (the draft's sf-string) or bare is the same key.
    for sent in (f'"{key}"', key):
        again = send(stack, GP, CONTRIBUTE, sent, c=client.client_id, input=input_)
        assert again.status_code == 200
        replay = outcome(again, "recordContribution")
        assert replay["id"] == accepted["id"]
        assert position(stack, GP, replay["consistencyToken"]) == before
    assert head(stack) == before
    entries = stack.app.load_client(client.client_id).contributions
    assert list(entries) == [accepted["id"]]


def test_the_same_key_with_other_input_is_refused_with_422_and_stores_nothing(
    stack: Stack,
) -> None:
    client = register_client(stack.app, GP)
    key = new_key()
    send(stack, GP, CONTRIBUTE, key, c=client.client_id, input=entry())
    before = head(stack)

    response = send(stack, GP, CONTRIBUTE, key, c=client.client_id, input=entry(SECRET))

    assert response.status_code == 422
    refused = outcome(response, "recordContribution")
    assert refused["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert SECRET not in response.text
    assert key not in response.text
    assert head(stack) == before


def test_a_key_is_its_callers_own(stack: Stack) -> None:
    client = register_client(stack.app, GP)
    start_relationship(stack.app, client, OTHER_GP)
    key, input_ = new_key(), entry()
    mine = outcome(
        send(stack, GP, CONTRIBUTE, key, c=client.client_id, input=input_), "recordContribution"
    )
    theirs = outcome(
        send(stack, OTHER_GP, CONTRIBUTE, key, c=client.client_id, input=input_),
        "recordContribution",
    )
    assert theirs["__typename"] == "Accepted"
    assert theirs["id"] != mine["id"]
    retried = send(stack, OTHER_GP, CONTRIBUTE, key, c=client.client_id, input=input_)
    assert outcome(retried, "recordContribution")["id"] == theirs["id"]


@pytest.mark.parametrize(
    "header",
    [
        [""],
        ['"unterminated'],
        ['"key";param=1'],
        ['"key" trailing'],
        ['"bad \\escape"'],
        ["two words"],
        ["a,b"],
        ['""'],
        ['"' + "k" * 256 + '"'],
        ["k" * 256],
        ["first", "second"],
    ],
    ids=[
        "empty",
        "unterminated",
        "parameters",
        "trailing",
        "bad-escape",
        "bare-space",
        "bare-comma",
        "empty-string",
        "too-long-quoted",
        "too-long-bare",
        "repeated",
    ],
)
def test_a_malformed_key_header_is_a_400_before_anything_runs(
    stack: Stack, header: list[str]
) -> None:
    client = register_client(stack.app, GP)
    before = head(stack)
    response = send(stack, GP, CONTRIBUTE, header, c=client.client_id, input=entry())
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert error["extensions"]["fields"]["field"] == "Idempotency-Key"
    assert head(stack) == before


TWO_INPUTS = "$c: ID!, $one: ContributionInput!, $two: ContributionInput!"
TWO_FIELDS = f"""mutation({TWO_INPUTS}) {{
  first: recordContribution(clientId: $c, input: $one) {{ {OUTCOME} }}
  second: recordContribution(clientId: $c, input: $two) {{ {OUTCOME} }}
}}"""

TWO_FIELDS_IN_FRAGMENTS = f"""mutation({TWO_INPUTS}) {{
  first: recordContribution(clientId: $c, input: $one) {{ {OUTCOME} }}
  ...More
}}
fragment More on Mutation {{
  ... on Mutation {{ second: recordContribution(clientId: $c, input: $two) {{ {OUTCOME} }} }}
}}"""


@pytest.mark.parametrize(
    "document", [TWO_FIELDS, TWO_FIELDS_IN_FRAGMENTS], ids=["plain", "fragment"]
)
def test_a_request_with_a_key_must_select_exactly_one_mutation_field(
    stack: Stack, document: str
) -> None:
    client = register_client(stack.app, GP)
    before = head(stack)
    response = send(
        stack, GP, document, new_key(), c=client.client_id, one=entry("one"), two=entry("two")
    )
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body  # refused before execution
    assert [e["extensions"]["code"] for e in body["errors"]] == ["IDEMPOTENCY_KEY_AMBIGUOUS"]
    assert head(stack) == before

    without_key = send(
        stack, GP, document, None, c=client.client_id, one=entry("one"), two=entry("two")
    )
    assert without_key.status_code == 200
    assert head(stack) > before  # the same document without a key runs as before


def test_one_mutation_field_with_typename_and_a_repeated_alias_is_one_field(stack: Stack) -> None:
    client = register_client(stack.app, GP)
    document = f"""mutation($c: ID!, $input: ContributionInput!) {{
      __typename
      rc: recordContribution(clientId: $c, input: $input) {{ __typename }}
      rc: recordContribution(clientId: $c, input: $input) {{ {OUTCOME} }}
    }}"""
    response = send(stack, GP, document, new_key(), c=client.client_id, input=entry())
    assert response.status_code == 200
    assert outcome(response, "rc")["__typename"] == "Accepted"


def test_a_query_ignores_the_key(stack: Stack) -> None:
    response = send(stack, GP, "{ me { practitionerId } }", new_key())
    assert response.status_code == 200
    assert response.json()["data"]["me"]["practitionerId"] == GP.practitioner_id


# --- every mutation of the schema ------------------------------------------------------------


@dataclass
class Scene:
    """A client with one of everything (made through the core), for mutations to act on."""

    client: str
    entry: str
    consent: str
    restriction: str
    relationship: str
    referral: str
    alert: str
    grant: str
    nhs_number: str
    local_id: str
    due_by: str
    occurred_at: str


def build_scene(stack: Stack) -> Scene:
    app = stack.app
    client = register_client(app, GP).client_id
    app.start_care_relationship(SOCIAL_WORKER.caller, client, reason="Allocated")
    now = datetime.now(UTC)
    entry_id = app.record_contribution(
        GP.caller, client, heading="History", text="Seen.", occurred_at=now - timedelta(hours=2)
    ).id
    consent = app.record_consent(GP.caller, client, decision="granted", everyone=True).id
    restriction = app.place_restriction(
        GP.caller,
        client,
        requested_by="client",
        reason="Private",
        category="housing",
        everyone=True,
    ).id
    referral = app.send_referral(
        GP.caller,
        client,
        to_agency="community-health",
        category="mobility",
        reason="Please assess",
        due_by=now + timedelta(days=7),
    ).id
    alert = app.raise_alert(
        GP.caller, client, kind="access_needs", severity="low", summary="BSL"
    ).id
    grant = app.break_glass(
        NURSE.caller, client, reason="Found collapsed at home, no answer from the surgery"
    ).id
    relationship = next(
        r.relationship_id
        for r in app.load_client(client).relationships.values()
        if r.practitioner_id == SOCIAL_WORKER.practitioner_id
    )
    return Scene(
        client=client,
        entry=str(entry_id),
        consent=str(consent),
        restriction=str(restriction),
        relationship=relationship,
        referral=str(referral),
        alert=str(alert),
        grant=str(grant),
        nhs_number=new_nhs_number(),
        local_id=f"EV{uuid4().hex[:8]}",
        due_by=(now + timedelta(days=3)).replace(microsecond=0).isoformat(),
        occurred_at=(now - timedelta(hours=1)).replace(microsecond=0).isoformat(),
    )


Mutation = tuple[Person, str, str, Any]
"""(caller, variable definitions, arguments, variables from a scene)."""

MUTATIONS: dict[str, Mutation] = {
    "registerClient": (
        GP,
        "$input: RegisterClientInput!",
        "input: $input",
        lambda s: {
            "input": {
                "nhsNumber": s.nhs_number,
                "demographics": {
                    "givenName": "Robin",
                    "familyName": "Example",
                    "dateOfBirth": "1948-02-29",
                },
            }
        },
    ),
    "correctDemographics": (
        GP,
        "$c: ID!, $d: DemographicsInput!",
        'clientId: $c, demographics: $d, reason: "Spelling"',
        lambda s: {
            "c": s.client,
            "d": {"givenName": "Alexa", "familyName": "Example", "dateOfBirth": "1950-05-17"},
        },
    ),
    "recordLocalIdentifier": (
        GP,
        "$c: ID!, $i: LocalIdInput!",
        "clientId: $c, identifier: $i",
        lambda s: {"c": s.client, "i": {"authority": "east-vale", "localId": s.local_id}},
    ),
    "startCareRelationship": (
        HOUSING,
        "$c: ID!",
        'clientId: $c, reason: "Tenancy support"',
        lambda s: {"c": s.client},
    ),
    "endCareRelationship": (
        SOCIAL_WORKER,
        "$c: ID!, $r: ID!",
        'clientId: $c, relationshipId: $r, reason: "Case closed"',
        lambda s: {"c": s.client, "r": s.relationship},
    ),
    "breakGlass": (
        POLICE,
        "$c: ID!",
        'clientId: $c, reason: "Street triage: person in crisis at the bridge, need history"',
        lambda s: {"c": s.client},
    ),
    "reviewBreakGlass": (
        IG_OFFICER,
        "$c: ID!, $g: ID!",
        'clientId: $c, grantId: $g, outcome: JUSTIFIED, note: "Appropriate"',
        lambda s: {"c": s.client, "g": s.grant},
    ),
    "recordContribution": (
        GP,
        "$c: ID!, $input: ContributionInput!",
        "clientId: $c, input: $input",
        lambda s: {
            "c": s.client,
            "input": {"heading": "Plan", "text": "Review.", "occurredAt": s.occurred_at},
        },
    ),
    "amendContribution": (
        GP,
        "$c: ID!, $e: ID!",
        'clientId: $c, entryId: $e, text: "Seen again.", reason: "Typo"',
        lambda s: {"c": s.client, "e": s.entry},
    ),
    "enterContributionInError": (
        GP,
        "$c: ID!, $e: ID!",
        'clientId: $c, entryId: $e, reason: "Wrong client"',
        lambda s: {"c": s.client, "e": s.entry},
    ),
    "raiseAlert": (
        GP,
        "$c: ID!, $input: AlertInput!",
        "clientId: $c, input: $input",
        lambda s: {
            "c": s.client,
            "input": {"kind": "RISK_TO_SELF", "severity": "HIGH", "summary": "Overdose"},
        },
    ),
    "resolveAlert": (
        GP,
        "$c: ID!, $a: ID!",
        'clientId: $c, alertId: $a, reason: "Interpreter booked"',
        lambda s: {"c": s.client, "a": s.alert},
    ),
    "recordConsent": (
        GP,
        "$c: ID!, $input: ConsentInput!",
        "clientId: $c, input: $input",
        lambda s: {
            "c": s.client,
            "input": {"decision": "REFUSED", "audience": {"sectors": ["POLICE"]}},
        },
    ),
    "withdrawConsent": (
        GP,
        "$c: ID!, $k: ID!",
        'clientId: $c, consentId: $k, reason: "Changed mind"',
        lambda s: {"c": s.client, "k": s.consent},
    ),
    "placeRestriction": (
        GP,
        "$c: ID!, $input: RestrictionInput!",
        "clientId: $c, input: $input",
        lambda s: {
            "c": s.client,
            "input": {
                "requestedBy": "CLIENT",
                "reason": "Private",
                "hiddenFrom": {"everyone": True},
                "entryId": s.entry,
            },
        },
    ),
    "liftRestriction": (
        GP,
        "$c: ID!, $r: ID!",
        'clientId: $c, restrictionId: $r, reason: "Client agreed"',
        lambda s: {"c": s.client, "r": s.restriction},
    ),
    "sendReferral": (
        GP,
        "$c: ID!, $input: ReferralInput!",
        "clientId: $c, input: $input",
        lambda s: {
            "c": s.client,
            "input": {
                "toAgency": "housing",
                "category": "housing",
                "reason": "Damp flat",
                "dueBy": s.due_by,
            },
        },
    ),
    "acknowledgeReferral": (
        NURSE,
        "$c: ID!, $r: ID!",
        "clientId: $c, referralId: $r",
        lambda s: {"c": s.client, "r": s.referral},
    ),
    "acceptReferral": (
        NURSE,
        "$c: ID!, $r: ID!",
        "clientId: $c, referralId: $r",
        lambda s: {"c": s.client, "r": s.referral},
    ),
    "declineReferral": (
        NURSE,
        "$c: ID!, $r: ID!",
        'clientId: $c, referralId: $r, reason: "Outside criteria"',
        lambda s: {"c": s.client, "r": s.referral},
    ),
    "closeReferral": (
        GP,
        "$c: ID!, $r: ID!",
        'clientId: $c, referralId: $r, outcome: "Withdrawn"',
        lambda s: {"c": s.client, "r": s.referral},
    ),
}


def test_the_catalogue_covers_every_mutation_of_the_schema(stack: Stack) -> None:
    schema = build_schema(stack.server.app.state.schema.as_str())
    assert schema.mutation_type is not None
    assert set(schema.mutation_type.fields) == set(MUTATIONS)


@pytest.mark.parametrize("field", sorted(MUTATIONS))
def test_every_mutation_retried_with_its_key_gets_the_first_outcome(
    stack: Stack, field: str
) -> None:
    person, definitions, arguments, variables = MUTATIONS[field]
    scene = build_scene(stack)
    selection = GRANTED if field == "breakGlass" else OUTCOME
    query = f"mutation({definitions}) {{ {field}({arguments}) {{ {selection} }} }}"
    key = new_key()

    first = outcome(send(stack, person, query, key, **variables(scene)), field)
    assert first["__typename"] in ("Accepted", "BreakGlassGranted"), first
    before = head(stack)
    again = outcome(send(stack, person, query, key, **variables(scene)), field)

    assert head(stack) == before
    tokens = (first.pop("consistencyToken"), again.pop("consistencyToken"))
    assert again == first
    assert {position(stack, person, t) for t in tokens} == {before}
