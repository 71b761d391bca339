"""No existence oracle, and refused attempts are evidence (issue 13, item 5).

A caller without a standing towards a client gets the same bytes whether the client (or
the entry, consent, referral... it names) exists or not, on every query and mutation that
names a client; a purpose the caller may not use is refused with ``NOT_PERMITTED``; and
every refused attempt is recorded in the access log, as refused, with its code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from api_stack import Stack
from world import GP, NURSE, POLICE, TEACHER, new_nhs_number, register_client

from api.graphql.schema import build_schema
from carerecord.access_log import REFUSED, AccessRecord

OUTCOME = "{ __typename ... on Refused { code message fields { name value } } }"
GRANT_OUTCOME = (
    "{ __typename ... on BreakGlassGranted { grantId } "
    "... on Refused { code message fields { name value } } }"
)
CREATES_STANDING = {"startCareRelationship", "breakGlass"}
"""The two ways to *gain* a standing (declaring a relationship; breaking glass where the
protocol allows it): open to a caller without one, attributable and audited - the record
they create is the trace. For a caller the protocol does not let break glass the answer
is the same either way; declaring a relationship is not a lookup."""


@dataclass(frozen=True)
class Ids:
    client: str
    entry: str
    consent: str
    restriction: str
    relationship: str
    referral: str
    alert: str
    grant: str


def invented() -> Ids:
    return Ids(*(str(uuid4()) for _ in range(8)))


def scene(stack: Stack) -> Ids:
    """A client with one of everything (GP, NURSE and a POLICE grant on it)."""
    app = stack.app
    client = register_client(app, GP).client_id
    app.start_care_relationship(NURSE.caller, client, reason="Allocated")
    entry = app.record_contribution(
        GP.caller, client, heading="History", text="Stable.", occurred_at=stack.clock()
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
        due_by=stack.clock() + timedelta(days=7),
    ).id
    alert = app.raise_alert(
        GP.caller, client, kind="access_needs", severity="low", summary="BSL"
    ).id
    grant = app.break_glass(
        POLICE.caller, client, reason="Person in crisis in the street, need history now"
    ).id
    relationship = next(
        r.relationship_id
        for r in app.load_client(client).relationships.values()
        if r.practitioner_id == NURSE.practitioner_id
    )
    assert None not in (entry, consent, restriction, referral, alert, grant)
    return Ids(
        client,
        str(entry),
        str(consent),
        str(restriction),
        relationship,
        str(referral),
        str(alert),
        str(grant),
    )


AUDIENCE = "{everyone: true}"
# Every mutation that names a client: its arguments, from the ids of a scene.
MUTATIONS: dict[str, Any] = {
    "correctDemographics": lambda i: (
        f'(clientId: "{i.client}", reason: "Typo", demographics: '
        '{givenName: "A", familyName: "B", dateOfBirth: "1950-01-01"})'
    ),
    "recordLocalIdentifier": lambda i: (
        f'(clientId: "{i.client}", identifier: {{authority: "north-shire", '
        f'localId: "NS/{new_nhs_number()}"}})'
    ),
    "endCareRelationship": lambda i: (
        f'(clientId: "{i.client}", relationshipId: "{i.relationship}", reason: "Done")'
    ),
    "reviewBreakGlass": lambda i: (
        f'(clientId: "{i.client}", grantId: "{i.grant}", outcome: JUSTIFIED, note: "Ok")'
    ),
    "recordContribution": lambda i: (
        f'(clientId: "{i.client}", input: {{heading: "Attendance", text: "Fine.", '
        'occurredAt: "2026-03-01T09:00:00Z"})'
    ),
    "amendContribution": lambda i: (
        f'(clientId: "{i.client}", entryId: "{i.entry}", text: "New", reason: "Typo")'
    ),
    "enterContributionInError": lambda i: (
        f'(clientId: "{i.client}", entryId: "{i.entry}", reason: "Wrong")'
    ),
    "raiseAlert": lambda i: (
        f'(clientId: "{i.client}", input: {{kind: ACCESS_NEEDS, severity: LOW, summary: "x"}})'
    ),
    "resolveAlert": lambda i: f'(clientId: "{i.client}", alertId: "{i.alert}", reason: "Gone")',
    "recordConsent": lambda i: (
        f'(clientId: "{i.client}", input: {{decision: GRANTED, audience: {AUDIENCE}}})'
    ),
    "withdrawConsent": lambda i: (
        f'(clientId: "{i.client}", consentId: "{i.consent}", reason: "Changed")'
    ),
    "placeRestriction": lambda i: (
        f'(clientId: "{i.client}", input: {{requestedBy: CLIENT, reason: "Private", '
        f'hiddenFrom: {AUDIENCE}, entryId: "{i.entry}"}})'
    ),
    "liftRestriction": lambda i: (
        f'(clientId: "{i.client}", restrictionId: "{i.restriction}", reason: "Lifted")'
    ),
    "sendReferral": lambda i: (
        f'(clientId: "{i.client}", input: {{toAgency: "housing", category: "housing", '
        f'reason: "Damp", dueBy: "{(datetime.now(UTC) + timedelta(days=3)).isoformat()}"}})'
    ),
    "acknowledgeReferral": lambda i: f'(clientId: "{i.client}", referralId: "{i.referral}")',
    "acceptReferral": lambda i: f'(clientId: "{i.client}", referralId: "{i.referral}")',
    "declineReferral": lambda i: (
        f'(clientId: "{i.client}", referralId: "{i.referral}", reason: "Full")'
    ),
    "closeReferral": lambda i: (
        f'(clientId: "{i.client}", referralId: "{i.referral}", outcome: "Done")'
    ),
    "startCareRelationship": lambda i: f'(clientId: "{i.client}", reason: "Allocated")',
    "breakGlass": lambda i: (
        f'(clientId: "{i.client}", reason: "Person in crisis, need the history now please")'
    ),
}
QUERIES: dict[str, Any] = {
    "client": lambda i: f'(id: "{i.client}") {{ clientId }}',
    "involvement": lambda i: f'(clientId: "{i.client}") {{ clientId }}',
    "explainAccess": lambda i: f'(clientId: "{i.client}", entryId: "{i.entry}") {{ found }}',
    "recordAsOf": lambda i: f'(clientId: "{i.client}", at: "2026-03-01T09:00:00Z") {{ clientId }}',
}


def naming_a_client(kind: str) -> set[str]:
    """The schema's fields of ``kind`` (Query, Mutation) that take a client id."""
    from api.settings import ApiSettings

    schema = build_schema(ApiSettings())._schema
    root = schema.query_type if kind == "Query" else schema.mutation_type
    assert root is not None
    return {
        name
        for name, f in root.fields.items()
        if "clientId" in f.args or (name == "client" and "id" in f.args)
    }


def test_the_tables_cover_every_field_that_names_a_client() -> None:
    assert naming_a_client("Mutation") == set(MUTATIONS)
    assert naming_a_client("Query") == set(QUERIES)


def with_client(ids: Ids, real: Ids) -> Ids:
    """``ids`` (invented) on the real client."""
    return Ids(
        real.client,
        ids.entry,
        ids.consent,
        ids.restriction,
        ids.relationship,
        ids.referral,
        ids.alert,
        ids.grant,
    )


def mutate(stack: Stack, token: str, name: str, ids: Ids) -> bytes:
    shape = GRANT_OUTCOME if name == "breakGlass" else OUTCOME
    response = stack.post(f"mutation {{ {name}{MUTATIONS[name](ids)} {shape} }}", token)
    assert response.status_code == 200
    return response.content


def query(stack: Stack, token: str, name: str, ids: Ids) -> bytes:
    response = stack.post(f"query {{ {name}{QUERIES[name](ids)} }}", token)
    return bytes(str(response.status_code), "ascii") + b" " + response.content


def refused_records(stack: Stack, mark: int) -> list[AccessRecord]:
    return [r for r in stack.access_records(after=mark) if r.outcome == REFUSED]


@pytest.mark.parametrize("name", sorted(set(MUTATIONS) - CREATES_STANDING))
def test_a_mutation_answers_alike_for_real_and_invented_clients_and_entries(
    stack: Stack, name: str
) -> None:
    real = scene(stack)
    token = stack.token(TEACHER)  # no standing towards the client
    before = stack.app.recorder.max_notification_id()
    mark = stack.access_head()
    answers = {
        "real client, real ids": mutate(stack, token, name, real),
        "real client, invented ids": mutate(stack, token, name, with_client(invented(), real)),
        "invented client": mutate(stack, token, name, invented()),
    }
    assert len(set(answers.values())) == 1, answers
    assert b'"code":"NO_CARE_RELATIONSHIP"' in answers["invented client"]
    assert stack.app.recorder.max_notification_id() == before, "a refusal stored something"

    recorded = refused_records(stack, mark)
    assert len(recorded) == 3
    assert {r.refusal for r in recorded} == {"NO_CARE_RELATIONSHIP"}
    assert {r.action for r in recorded} == {f"mutation.{name}"}
    assert {r.practitioner_id for r in recorded} == {TEACHER.practitioner_id}
    assert [r.items for r in recorded] == [(), (), ()]
    assert sum(r.client_id == real.client for r in recorded) == 2


@pytest.mark.parametrize("name", sorted(CREATES_STANDING))
def test_the_ways_to_gain_a_standing_leave_a_trace(stack: Stack, name: str) -> None:
    """Not a lookup: the teacher may not break glass at all (alike for any client), and a
    declared relationship is an attributable event on the client's record."""
    real = scene(stack)
    token = stack.token(TEACHER)
    if name == "breakGlass":
        assert mutate(stack, token, name, real) == mutate(stack, token, name, invented())
        return
    before = stack.app.recorder.max_notification_id() or 0
    assert b"Accepted" in mutate(stack, token, name, real)
    stored = stack.app.load_client(real.client).relationships.values()
    assert any(r.practitioner_id == TEACHER.practitioner_id for r in stored)
    assert (stack.app.recorder.max_notification_id() or 0) > before


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_a_query_answers_alike_for_real_and_invented_clients_and_entries(
    stack: Stack, name: str
) -> None:
    real = scene(stack)
    stack.wait_for_views()
    token = stack.token(TEACHER)
    mark = stack.access_head()
    answers = {
        "real": query(stack, token, name, real),
        "real client, invented entry": query(stack, token, name, with_client(invented(), real)),
        "invented": query(stack, token, name, invented()),
    }
    assert len(set(answers.values())) == 1, answers
    recorded = refused_records(stack, mark)
    assert len(recorded) == 3
    assert {r.action for r in recorded} == {f"query.{name}"}
    assert len({r.refusal for r in recorded}) == 1
    assert {r.practitioner_id for r in recorded} == {TEACHER.practitioner_id}
    assert not [r for r in stack.access_records(after=mark) if r.outcome != REFUSED]


def test_a_purpose_not_open_to_the_caller_is_refused_before_anything_is_read(
    stack: Stack,
) -> None:
    real = scene(stack)
    stack.wait_for_views()
    app = stack.app
    app.start_care_relationship(TEACHER.caller, real.client, reason="Class teacher")
    stack.wait_for_views()
    mark = stack.access_head()
    doc = "query($c: ID!, $p: Purpose!) { client(id: $c, purpose: $p) { clientId } }"
    asked = {
        "teacher, safeguarding": (TEACHER, "SAFEGUARDING", real.client),
        "teacher, safeguarding, invented client": (TEACHER, "SAFEGUARDING", str(uuid4())),
        "police under a grant, direct care": (POLICE, "DIRECT_CARE", real.client),
    }
    for label, (person, purpose, client) in asked.items():
        response = stack.post(doc, stack.token(person), c=client, p=purpose)
        body = response.json()
        assert response.status_code == 200, label
        assert body["data"] is None, label
        assert body["errors"][0]["extensions"]["code"] == "NOT_PERMITTED", label
    recorded = stack.access_records(after=mark)
    assert [r.outcome for r in recorded] == [REFUSED] * 3  # nothing shown, all recorded
    assert [r.refusal for r in recorded] == ["NOT_PERMITTED"] * 3
    assert [r.purpose for r in recorded] == ["safeguarding", "safeguarding", "direct_care"]
    # The same teacher reads for direct care (a purpose open to them) as before.
    response = stack.post(doc, stack.token(TEACHER), c=real.client, p="DIRECT_CARE")
    assert response.json()["data"]["client"]["clientId"] == real.client
