"""A value its type refuses, sent as a variable, is a coded 400 - as when written inline - never
an internal error: the response names the variable (never the value), nothing is stored or
audited, and nothing is logged as unexpected."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from api_stack import Stack
from world import GP, NURSE, SECRET, register_client

CASELOAD = "query($f: Int) { caseload(first: $f) { items { since } } }"
FIND = "query($n: String!) { findClient(nhsNumber: $n) { clientId } }"
REFERRALS = "query($d: Direction!) { referrals(direction: $d) { items { referralId } } }"
CONTRIBUTE = """mutation($c: ID!, $input: ContributionInput!) {
  recordContribution(clientId: $c, input: $input) { __typename }
}"""
REGISTER = """mutation($input: RegisterClientInput!) {
  registerClient(input: $input) { __typename }
}"""


def contribution(**changes: Any) -> dict[str, Any]:
    return {
        "heading": "Wound care",
        "text": SECRET,
        "occurredAt": "2026-01-05T09:00:00Z",
        **changes,
    }


def registration(**demographics: Any) -> dict[str, Any]:
    person = {"givenName": SECRET, "familyName": "Example", "dateOfBirth": "1948-02-29"}
    return {"nhsNumber": "9434765919", "demographics": {**person, **demographics}}


QUERY_CASES = [
    ("Int over 2^31-1", CASELOAD, {"f": 3_000_000_000}, "INVALID_VARIABLE", "f"),
    ("Int as text", CASELOAD, {"f": SECRET}, "INVALID_VARIABLE", "f"),
    ("missing required variable", FIND, {}, "INVALID_VARIABLE", "n"),
    ("NHS number as a JSON number", FIND, {"n": 9434765919}, "INVALID_VARIABLE", "n"),
    ("null for a required variable", FIND, {"n": None}, "INVALID_VARIABLE", "n"),
    ("unknown enum value", REFERRALS, {"d": SECRET}, "INVALID_VARIABLE", "d"),
    ("enum in lower case", REFERRALS, {"d": "incoming"}, "INVALID_VARIABLE", "d"),
]

MUTATION_CASES = [
    (
        "bad DateTime",
        {"input": contribution(occurredAt=SECRET)},
        "INVALID_DATE",
        "input.occurredAt",
    ),
    (
        "DateTime without a timezone",
        {"input": contribution(occurredAt="2026-01-05T09:00:00")},
        "INVALID_DATE",
        "input.occurredAt",
    ),
    (
        "DateTime as a number",
        {"input": contribution(occurredAt=1767603600)},
        "INVALID_DATE",
        "input.occurredAt",
    ),
    (
        "misspelt input field",
        {"input": {**contribution(), "txet": SECRET}},
        "INVALID_VARIABLE",
        None,
    ),
    (
        "missing input field",
        {"input": {k: v for k, v in contribution().items() if k != "heading"}},
        "INVALID_VARIABLE",
        None,
    ),
    (
        "bad enum in an input",
        {"input": contribution(sensitivity=SECRET)},
        "INVALID_VARIABLE",
        "input.sensitivity",
    ),
    ("input as a list", {"input": [contribution()]}, "INVALID_VARIABLE", None),
    ("missing input", {}, "INVALID_VARIABLE", None),
]


def post(stack: Stack, token: str, query: str, variables: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{stack.server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def assert_coded_refusal(
    stack: Stack,
    response: httpx.Response,
    code: str,
    variable: str,
    *,
    field: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, body
    fields = error["extensions"]["fields"]
    assert fields["variable"] == variable
    if field is not None:
        assert fields["field"] == field
    assert SECRET not in response.text
    assert "Did you mean" not in response.text
    assert "3000000000" not in response.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("query", "variables", "code", "variable"),
    [case[1:] for case in QUERY_CASES],
    ids=[case[0] for case in QUERY_CASES],
)
def test_a_query_variable_its_type_refuses_is_a_coded_400(
    stack: Stack,
    caplog: pytest.LogCaptureFixture,
    query: str,
    variables: dict[str, Any],
    code: str,
    variable: str,
) -> None:
    before = stack.access_count()
    response = post(stack, stack.token(GP), query, variables)
    assert_coded_refusal(stack, response, code, variable, field=None, caplog=caplog)
    assert stack.access_count() == before


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [case[1:] for case in MUTATION_CASES],
    ids=[case[0] for case in MUTATION_CASES],
)
def test_a_mutation_variable_its_type_refuses_is_a_coded_400_and_stores_nothing(
    stack: Stack,
    caplog: pytest.LogCaptureFixture,
    variables: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    client = register_client(stack.app, NURSE)
    head = stack.app.recorder.max_notification_id()
    response = post(stack, stack.token(NURSE), CONTRIBUTE, {"c": client.client_id, **variables})
    assert_coded_refusal(stack, response, code, "input", field=field, caplog=caplog)
    assert stack.app.recorder.max_notification_id() == head


@pytest.mark.parametrize(
    ("demographics", "code"),
    [
        ({"dateOfBirth": "29/02/1948"}, "INVALID_DATE"),
        ({"dateOfBirth": 19480229}, "INVALID_DATE"),
        ({"dateOfBirth": "1948-02-30"}, "INVALID_DATE"),
        ({"familyName": None}, "INVALID_VARIABLE"),
    ],
)
def test_a_bad_date_in_a_registration_is_a_coded_400(
    stack: Stack, caplog: pytest.LogCaptureFixture, demographics: dict[str, Any], code: str
) -> None:
    head = stack.app.recorder.max_notification_id()
    response = post(stack, stack.token(NURSE), REGISTER, {"input": registration(**demographics)})
    assert_coded_refusal(stack, response, code, "input", field=None, caplog=caplog)
    assert stack.app.recorder.max_notification_id() == head


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (
            "query($unused: Int) { caseload { items { since } } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "query($f: String) { caseload(first: $f) { items { since } } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("{ caseload(first: 3000000000) { items { since } } }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ referrals(direction: SIDEWAYS) { items { referralId } } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            'mutation { recordContribution(clientId: "x", input: {heading: "h", text: "t", '
            'occurredAt: "9999-12-31T23:59:59-14:00"}) { __typename } }',
            "INVALID_DATE",
        ),
        (
            'mutation { recordContribution(clientId: "x", input: {heading: "h", text: "t", '
            'occurredAt: "2026-01-05T09:00:00"}) { __typename } }',
            "INVALID_DATE",
        ),
        (
            'mutation { registerClient(input: {demographics: {givenName: "a", familyName: "b",'
            ' dateOfBirth: "29/02/1948"}}) { __typename } }',
            "INVALID_DATE",
        ),
    ],
)
def test_the_same_values_written_inline_and_bad_variable_definitions_are_coded_400s(
    stack: Stack, caplog: pytest.LogCaptureFixture, query: str, code: str
) -> None:
    response = post(stack, stack.token(NURSE), query, {})
    assert response.status_code == 400, response.text
    assert "data" not in response.json()
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == [code]
    assert "3000000000" not in response.text
    assert "SIDEWAYS" not in response.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
