"""Property: whatever consents, refusals and restrictions a client's record holds, every
caller's slice over HTTP is exactly what the sharing policy decides."""

from __future__ import annotations

from typing import Any

from api_stack import Stack, gql_execute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from world import (
    GP,
    HOUSING,
    MENTAL_HEALTH,
    NURSE,
    POLICE,
    RICH_ENTRIES,
    SOCIAL_WORKER,
    SUPPORT,
    Person,
    expected_slice,
    record,
    register_client,
    start_relationship,
)

from carerecord.vocab import Purpose

CALLERS = (GP, NURSE, SOCIAL_WORKER, POLICE, HOUSING, SUPPORT, MENTAL_HEALTH)
SECTORS = ("health", "social_care", "police", "housing", "voluntary", "education")
CATEGORIES = ("physical_health", "mental_health", "housing", "risk", "daily_living", "finances")
QUERY = """query($id: ID!, $purpose: Purpose!) { client(id: $id, purpose: $purpose) {
  entries(first: 100) { items { entryId text heading authorId sharedUnder { basis rule } } } } }"""

consents = st.lists(
    st.fixed_dictionaries(
        {
            "decision": st.sampled_from(["granted", "refused"]),
            "sectors": st.lists(st.sampled_from(SECTORS), min_size=1, max_size=3, unique=True),
            "categories": st.none()
            | st.lists(st.sampled_from(CATEGORIES), min_size=1, unique=True),
        }
    ),
    max_size=3,
)
restrictions = st.lists(
    st.fixed_dictionaries(
        {
            "category": st.sampled_from(CATEGORIES),
            "sectors": st.lists(st.sampled_from(SECTORS), min_size=1, max_size=2, unique=True),
        }
    ),
    max_size=2,
)
recorded = st.lists(st.sampled_from(range(len(RICH_ENTRIES))), min_size=1, max_size=8, unique=True)


def _has_relationship(person: Person) -> bool:
    return person in CALLERS


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    entries=recorded,
    decisions=consents,
    seals=restrictions,
    withdraw_first=st.booleans(),
    purpose=st.sampled_from([Purpose.DIRECT_CARE, Purpose.EMERGENCY]),
)
def test_every_callers_slice_is_what_the_policy_decides(
    stack: Stack,
    entries: list[int],
    decisions: list[dict[str, Any]],
    seals: list[dict[str, Any]],
    withdraw_first: bool,
    purpose: Purpose,
) -> None:
    app = stack.app
    client = register_client(app, GP)
    for person in CALLERS[1:]:
        start_relationship(app, client, person)
    now = stack.clock()
    for index in entries:
        person, heading, labels = RICH_ENTRIES[index]
        if _has_relationship(person):
            record(app, client, person, heading, when=now, **labels)
    made = []
    for decision in decisions:
        result = app.record_consent(
            GP.caller,
            client.client_id,
            decision=decision["decision"],
            sectors=decision["sectors"],
            categories=decision["categories"],
        )
        made.append(result.id)
    if withdraw_first and made:
        app.withdraw_consent(GP.caller, client.client_id, str(made[0]), reason="Changed mind")
    for seal in seals:
        app.place_restriction(
            GP.caller,
            client.client_id,
            requested_by="client",
            reason="Client asked",
            category=seal["category"],
            sectors=seal["sectors"],
        )
    stack.wait_for_views()
    for person in CALLERS:
        expected = expected_slice(app, client.client_id, person, purpose, stack.clock())
        response = stack.post(QUERY, stack.token(person), id=client.client_id, purpose=purpose.name)
        body = response.json()
        if "errors" in body:  # the purpose is not open to this caller: nothing is shown
            assert body["errors"][0]["extensions"]["code"] == "NOT_PERMITTED"
            assert expected == []
            continue
        seen = body["data"]["client"]["entries"]["items"]
        assert seen == [
            {
                "entryId": e.entry_id,
                "text": e.text,
                "heading": e.heading,
                "authorId": e.author_id,
                "sharedUnder": {"basis": e.basis, "rule": e.rule},
            }
            for e in expected
        ], person.practitioner_id


def test_the_property_runs_through_gql_too(stack: Stack) -> None:
    """One example through the gql client, so the property is not an artefact of raw JSON."""
    client = register_client(stack.app, GP)
    start_relationship(stack.app, client, NURSE)
    record(stack.app, client, GP, "History", when=stack.clock())
    stack.wait_for_views()
    result = gql_execute(
        stack, stack.token(NURSE), QUERY, id=client.client_id, purpose="DIRECT_CARE"
    )
    expected = expected_slice(
        stack.app, client.client_id, NURSE, Purpose.DIRECT_CARE, stack.clock()
    )
    assert [e["entryId"] for e in result["client"]["entries"]["items"]] == [
        e.entry_id for e in expected
    ]
