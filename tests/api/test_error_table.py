"""The error-code table in docs/graphql.md is the behaviour: every code the API can answer is
listed, each with the HTTP status the code maps to, and requests that trigger the codes get
that status (refused before execution, or from a REST route) or 200 (a field error or a
``Refused``), as the table's *in GraphQL* column says."""

from __future__ import annotations

import importlib
import pkgutil
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_stack import Stack, access_log_unavailable
from world import GP, NURSE, register_client

import api
import carerecord
import projections
from api import errors as api_errors
from api.errors import status_of_code
from carerecord.errors import CareRecordError

DOC = Path(__file__).resolve().parents[2] / "docs" / "graphql.md"
BEFORE, FIELD, REFUSED, REPLACES, REST = (
    "before execution",
    "on the field",
    "`Refused`",
    "replaces the response",
    "REST only",
)
FORMS = (BEFORE, FIELD, REFUSED, REPLACES, REST)
COMMAND_LINE_ONLY = {
    "CARE_RECORD_ERROR": "the base class, never raised itself",
    "CONFLICT": "the base class of the 409 family, never raised itself",
    "INVALID_PROTOCOL": "protocol documents are adopted with `carerecord protocol adopt`",
    "PROTOCOL_VERSION_NOT_NEWER": "likewise",
    "CHAIN_BROKEN": "`carerecord audit verify` and the checkpoint timer",
    "CHECKPOINT_KEY_MISSING": "the audit commands and the checkpoint timer",
    "STORE_NOT_MIGRATED": "the audit commands on a store never migrated",
}


@dataclass(frozen=True)
class Row:
    codes: tuple[str, ...]
    http: int
    forms: frozenset[str]


def documented() -> dict[str, Row]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, Row] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        codes = tuple(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]))
        forms = frozenset(f for f in FORMS if f in cells[2])
        assert codes, line
        assert forms, f"no form given in: {line}"
        row = Row(codes, int(cells[1]), forms)
        for code in codes:
            assert code not in rows, f"{code} is listed twice"
            rows[code] = row
    return rows


TABLE = documented()


def known_codes() -> set[str]:
    for package in (carerecord, projections, api):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    codes = {
        value
        for name, value in vars(api_errors).items()
        if name.isupper() and isinstance(value, str) and value == name
    }
    family: list[type[CareRecordError]] = [CareRecordError]
    while family:
        cls = family.pop()
        codes.add(cls.code)
        family.extend(cls.__subclasses__())
    return codes - set(COMMAND_LINE_ONLY)


def test_the_table_lists_exactly_the_codes_the_api_can_answer() -> None:
    assert set(TABLE) == known_codes()
    note = DOC.read_text(encoding="utf-8").split("## Error codes", 1)[1].split("\n## ", 1)[0]
    for code in set(COMMAND_LINE_ONLY) - {"CARE_RECORD_ERROR", "CONFLICT"}:
        assert f"`{code}`" in note, f"{code}: say where command-line codes are documented"


@pytest.mark.parametrize("code", sorted(TABLE))
def test_each_code_maps_to_its_documented_status(code: str) -> None:
    assert status_of_code(code) == TABLE[code].http


# --- triggering the codes through the real server -------------------------------------------


def _post(stack: Stack, query: str, token: str | None, **variables: Any) -> httpx.Response:
    return stack.post(query, token, **variables)


def _raw(stack: Stack, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{stack.server.url}{path}", timeout=30, **kwargs)


def _auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token(GP)}"}


def _contribute(stack: Stack, person: Any, occurred_at: datetime) -> httpx.Response:
    client = register_client(stack.app, NURSE)
    query = """mutation($c: ID!, $input: ContributionInput!) {
      recordContribution(clientId: $c, input: $input) { ... on Refused { code } }
    }"""
    return _post(
        stack,
        query,
        stack.token(person),
        c=client.client_id,
        input={"heading": "History", "text": "Seen.", "occurredAt": occurred_at.isoformat()},
    )


def _audit_down(stack: Stack) -> httpx.Response:
    nhs = register_client(stack.app, GP).nhs_number
    with access_log_unavailable(stack):
        return _post(
            stack,
            "query($n: String!) { findClient(nhsNumber: $n) { clientId } }",
            stack.token(GP),
            n=nhs,
        )


Trigger = Callable[[Stack], httpx.Response]
NOW = datetime.now(UTC)
TRIGGERS: list[tuple[str, str, Trigger]] = [
    ("UNAUTHENTICATED", BEFORE, lambda s: _post(s, "{ me { kind } }", None)),
    (
        "BAD_REQUEST",
        BEFORE,
        lambda s: _raw(s, "POST", "/graphql", json="just a string", headers=_auth(s)),
    ),
    (
        "BATCH_NOT_SUPPORTED",
        BEFORE,
        lambda s: _raw(
            s, "POST", "/graphql", json=[{"query": "{ me { kind } }"}], headers=_auth(s)
        ),
    ),
    (
        "UNSUPPORTED_MEDIA_TYPE",
        BEFORE,
        lambda s: _raw(
            s,
            "POST",
            "/graphql",
            content="{ me { kind } }",
            headers={**_auth(s), "Content-Type": "text/plain"},
        ),
    ),
    (
        "METHOD_NOT_ALLOWED",
        BEFORE,
        lambda s: _raw(s, "GET", "/graphql", params={"query": "{ me { kind } }"}),
    ),
    (
        "BODY_TOO_LARGE",
        BEFORE,
        lambda s: _raw(
            s,
            "POST",
            "/graphql",
            json={"query": "{ me { kind } }", "variables": {"pad": "x" * 300_000}},
            headers=_auth(s),
        ),
    ),
    ("NOT_FOUND", REST, lambda s: _raw(s, "GET", "/nowhere")),
    ("GRAPHQL_PARSE_FAILED", BEFORE, lambda s: _post(s, "{ me { kind ", s.token(GP))),
    ("GRAPHQL_VALIDATION_FAILED", BEFORE, lambda s: _post(s, "{ mee { kind } }", s.token(GP))),
    (
        "TOO_MANY_ALIASES",
        BEFORE,
        lambda s: _post(
            s, "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }", s.token(GP)
        ),
    ),
    (
        "TOO_MANY_TOKENS",
        BEFORE,
        lambda s: _post(s, "{ me { " + "kind " * 2100 + "} }", s.token(GP)),
    ),
    (
        "INTROSPECTION_DISABLED",
        BEFORE,
        lambda s: _post(s, "{ __schema { types { name } } }", s.token(GP)),
    ),
    (
        "OPERATION_NOT_ALLOWED",
        BEFORE,
        lambda s: _post(s, "subscription { recordEvents { eventId } }", s.token(GP)),
    ),
    (
        "OPERATION_NAME_REQUIRED",
        BEFORE,
        lambda s: _post(s, "query A { me { kind } } query B { me { kind } }", s.token(GP)),
    ),
    (
        "INVALID_VARIABLE",
        BEFORE,
        lambda s: _post(
            s,
            "query($f: Int) { caseload(first: $f) { items { since } } }",
            s.token(GP),
            f=3_000_000_000,
        ),
    ),
    (
        "INVALID_DATE",
        BEFORE,
        lambda s: _post(
            s,
            "query($at: DateTime) { usageReport(from: $at) { generatedAt } }",
            s.token(GP),
            at="9999-12-31T23:59:59-14:00",
        ),
    ),
    (
        "INVALID_CURSOR",
        FIELD,
        lambda s: _post(s, '{ caseload(after: "bogus") { items { since } } }', s.token(GP)),
    ),
    (
        "INVALID_CURSOR",
        REST,
        lambda s: _raw(s, "GET", "/feed", params={"after": "bogus"}, headers=_auth(s)),
    ),
    (
        "CLIENT_NOT_FOUND",
        FIELD,
        lambda s: _post(
            s, f'{{ client(id: "{uuid.uuid4()}") {{ basis {{ kind }} }} }}', s.token(GP)
        ),
    ),
    ("NOT_PERMITTED", FIELD, lambda s: _post(s, "{ accessAudit { indexedUpTo } }", s.token(GP))),
    (
        "INVALID_INPUT",
        FIELD,
        lambda s: _post(s, "{ caseload(first: 101) { items { since } } }", s.token(GP)),
    ),
    (
        "INVALID_INPUT",
        REST,
        lambda s: _raw(s, "GET", "/feed", params={"limit": 1000}, headers=_auth(s)),
    ),
    ("NO_CARE_RELATIONSHIP", REFUSED, lambda s: _contribute(s, GP, NOW - timedelta(hours=1))),
    ("DATE_IN_FUTURE", REFUSED, lambda s: _contribute(s, NURSE, NOW + timedelta(days=2))),
    ("AUDIT_UNAVAILABLE", REPLACES, _audit_down),
]


def _codes_in(response: httpx.Response) -> list[str]:
    body = response.json()
    found = [e["extensions"]["code"] for e in body.get("errors") or []]
    data = body.get("data") or {}
    for value in data.values() if isinstance(data, dict) else ():
        if isinstance(value, dict) and "code" in value:
            found.append(value["code"])
    return found


@pytest.mark.parametrize(
    ("code", "form", "trigger"), TRIGGERS, ids=[f"{c} ({f})" for c, f, _ in TRIGGERS]
)
def test_a_triggered_code_arrives_with_its_documented_status(
    stack: Stack, code: str, form: str, trigger: Trigger
) -> None:
    row = TABLE[code]
    response = trigger(stack)
    assert code in _codes_in(response), response.text
    expected = row.http if form in (BEFORE, REST, REPLACES) else 200
    assert response.status_code == expected, response.text
    if form != REST:
        assert form in row.forms, f"{code} arrived {form}, the table says {sorted(row.forms)}"
    if form in (BEFORE, REPLACES):
        assert "data" not in response.json() or response.json()["data"] is None
    if form == BEFORE and response.request.url.path == "/graphql":
        assert "data" not in response.json()
