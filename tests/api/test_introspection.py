"""Schema tools: in dev mode the standard introspection query (graphql-core's, gql's) is answered
- introspection nests deeper than the query limit and has its own cap - and in production it
is refused; ``carerecord schema`` prints the served schema as SDL without a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_stack import Stack, start_stack
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.httpx import HTTPXTransport
from graphql import (
    GraphQLSchema,
    build_schema,
    get_introspection_query,
    lexicographic_sort_schema,
    print_schema,
)
from typer.testing import CliRunner
from world import GP

from api.graphql.hardening import INTROSPECTION_MAX_DEPTH
from api.settings import ApiSettings
from carerecord.settings import Settings
from entrypoint.cli import app as cli

FULL = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
    one_of=True,
)


@pytest.fixture(scope="module")
def dev(store: Settings) -> Iterator[Stack]:
    running = start_stack(store, ApiSettings(environment="dev", subscription_poll_seconds=0.05))
    try:
        yield running
    finally:
        running.server.stop()
        running.app.close()


def codes(body: dict[str, object]) -> list[str]:
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return [e["extensions"]["code"] for e in errors]


def printed(schema: GraphQLSchema) -> str:
    return print_schema(lexicographic_sort_schema(schema))


def test_the_standard_introspection_query_is_answered_in_dev_mode(dev: Stack) -> None:
    assert dev.api_settings.limits.max_depth < 14  # it nests 14 deep
    for query in (get_introspection_query(), FULL):
        response = dev.post(query, dev.token(GP))
        assert response.status_code == 200, response.text
        assert "errors" not in response.json()
        assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


def test_gql_fetches_the_schema_from_the_server(dev: Stack) -> None:
    transport = HTTPXTransport(
        url=f"{dev.server.url}/graphql",
        headers={"Authorization": f"Bearer {dev.token(GP)}"},
        timeout=30,
    )
    client = Client(transport=transport, fetch_schema_from_transport=True)
    with client as session:
        result = session.execute(GraphQLRequest("{ me { kind } }"))
    assert result == {"me": {"kind": "PRACTITIONER"}}
    assert client.schema is not None
    assert "recordContribution" in client.schema.mutation_type.fields  # type: ignore[union-attr]


def test_introspection_nesting_past_its_own_cap_is_refused(dev: Stack) -> None:
    levels = INTROSPECTION_MAX_DEPTH + 1
    query = '{ __type(name: "Query") { ' + "ofType { " * levels + "name" + " }" * (levels + 2)
    response = dev.post(query, dev.token(GP))
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["QUERY_TOO_DEEP"]
    assert response.json()["errors"][0]["extensions"]["limit"] == INTROSPECTION_MAX_DEPTH


def test_plain_fields_beside_introspection_keep_the_query_limit(dev: Stack) -> None:
    deep = "me { agency { code } }"
    limit = dev.api_settings.limits.max_depth
    for _ in range(limit):
        deep = f"me {{ kind }} {deep}"
    response = dev.post("{ __typename " + deep + " }", dev.token(GP))
    assert response.status_code == 200, response.text


def test_introspection_stays_refused_in_production(stack: Stack) -> None:
    response = stack.post(FULL, stack.token(GP))
    assert response.status_code == 400, response.text
    assert "INTROSPECTION_DISABLED" in codes(response.json())
    assert "data" not in response.json()


def test_the_schema_command_prints_the_served_schema(dev: Stack) -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    from_cli = build_schema(result.stdout)
    response = dev.post(FULL, dev.token(GP))
    served = Client(introspection=response.json()["data"]).schema
    assert served is not None
    assert printed(from_cli) == printed(served)
