"""Hardening: oversized, over-deep, over-aliased, batched, GET and introspection requests are
refused with a coded error before anything executes (nothing is read, nothing audited)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
import websockets
from api_stack import Stack, production_settings, start_stack
from world import GP, register_client

from api.settings import ApiSettings
from carerecord.settings import Settings

LOOKUP = 'findClient(nhsNumber: "{nhs}") {{ clientId }}'


@pytest.fixture(scope="module")
def limited(store: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = production_settings(
        tmp_path_factory.mktemp("limited"),
        max_depth=1,
        max_aliases=2,
        max_tokens=80,
        max_body_bytes=4096,
    )
    settings = replace(settings, allowed_origins=("https://nurse-app.example",))
    running = start_stack(store, settings)
    try:
        yield running
    finally:
        running.server.stop()
        running.app.close()


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


def assert_refused_before_execution(
    stack: Stack, response: httpx.Response, status: int, code: str, before: int
) -> None:
    assert response.status_code == status, response.text
    assert code in codes(response)
    assert response.json().get("data") is None
    assert stack.access_count() == before


def _client(stack: Stack) -> str:
    return register_client(stack.app, GP).nhs_number


def test_a_query_within_the_limits_runs_and_is_audited(limited: Stack) -> None:
    nhs = _client(limited)
    before = limited.access_count()
    response = limited.post("{ " + LOOKUP.format(nhs=nhs) + " }", limited.token(GP))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["findClient"]["clientId"]
    assert limited.access_count() == before + 1


def test_a_too_deep_query_is_refused_before_execution(limited: Stack) -> None:
    nhs = _client(limited)
    before = limited.access_count()
    query = "{ " + LOOKUP.format(nhs=nhs) + " me { agency { code } } }"
    response = limited.post(query, limited.token(GP))
    assert_refused_before_execution(limited, response, 400, "QUERY_TOO_DEEP", before)


def test_depth_through_fragments_counts(limited: Stack) -> None:
    before = limited.access_count()
    query = "query { me { ...A } } fragment A on Me { agency { code } }"
    response = limited.post(query, limited.token(GP))
    assert_refused_before_execution(limited, response, 400, "QUERY_TOO_DEEP", before)


def test_too_many_aliases_are_refused_before_execution(limited: Stack) -> None:
    nhs = _client(limited)
    before = limited.access_count()
    fields = " ".join(f"a{i}: " + LOOKUP.format(nhs=nhs) for i in range(3))
    response = limited.post("{ " + fields + " }", limited.token(GP))
    assert_refused_before_execution(limited, response, 400, "TOO_MANY_ALIASES", before)


def test_too_many_tokens_are_refused_before_execution(limited: Stack) -> None:
    before = limited.access_count()
    query = "{ me { kind " + " ".join(["kind"] * 100) + " } }"
    response = limited.post(query, limited.token(GP))
    assert_refused_before_execution(limited, response, 400, "TOO_MANY_TOKENS", before)


def test_a_batch_array_is_refused(limited: Stack) -> None:
    nhs = _client(limited)
    before = limited.access_count()
    op = {"query": "{ " + LOOKUP.format(nhs=nhs) + " }"}
    response = httpx.post(
        f"{limited.server.url}/graphql",
        json=[op, op],
        headers={"Authorization": f"Bearer {limited.token(GP)}"},
    )
    assert_refused_before_execution(limited, response, 400, "BATCH_NOT_SUPPORTED", before)


def test_an_oversized_body_is_refused_with_413(limited: Stack) -> None:
    before = limited.access_count()
    body = {"query": "{ me { kind } }", "variables": {"padding": "x" * 5000}}
    response = httpx.post(
        f"{limited.server.url}/graphql",
        json=body,
        headers={"Authorization": f"Bearer {limited.token(GP)}"},
    )
    assert_refused_before_execution(limited, response, 413, "BODY_TOO_LARGE", before)


def test_an_oversized_chunked_body_without_length_is_refused_with_413(limited: Stack) -> None:
    before = limited.access_count()

    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ me { kind } }", "variables": {"padding": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}}'

    response = httpx.post(
        f"{limited.server.url}/graphql",
        content=chunks(),
        headers={
            "Authorization": f"Bearer {limited.token(GP)}",
            "Content-Type": "application/json",
        },
    )
    assert "content-length" not in response.request.headers
    assert_refused_before_execution(limited, response, 413, "BODY_TOO_LARGE", before)


def test_oversized_variables_are_refused(limited: Stack) -> None:
    nhs = _client(limited)
    before = limited.access_count()
    query = "query($n: String!) { findClient(nhsNumber: $n) { clientId } }"
    response = limited.post(query, limited.token(GP), n=nhs + " " * 5000)
    assert_refused_before_execution(limited, response, 413, "BODY_TOO_LARGE", before)


def test_introspection_is_refused_in_production(limited: Stack) -> None:
    for query in ("{ __schema { types { name } } }", '{ __type(name: "Query") { name } }'):
        response = limited.post(query, limited.token(GP))
        assert response.status_code == 400
        assert "INTROSPECTION_DISABLED" in codes(response)
        assert response.json().get("data") is None


def test_queries_via_get_are_refused_in_production(limited: Stack) -> None:
    nhs = _client(limited)
    before = limited.access_count()
    response = httpx.get(
        f"{limited.server.url}/graphql",
        params={"query": "{ " + LOOKUP.format(nhs=nhs) + " }"},
        headers={"Authorization": f"Bearer {limited.token(GP)}", "Accept": "text/html"},
    )
    assert_refused_before_execution(limited, response, 405, "METHOD_NOT_ALLOWED", before)
    assert "graphiql" not in response.text.lower()


def test_a_subscription_over_http_is_refused(limited: Stack) -> None:
    response = limited.post("subscription { recordEvents { eventId } }", limited.token(GP))
    assert response.status_code == 400
    assert codes(response)[0] in ("OPERATION_NOT_ALLOWED", "GRAPHQL_VALIDATION_FAILED")


def test_other_content_types_are_refused(limited: Stack) -> None:
    response = httpx.post(
        f"{limited.server.url}/graphql",
        content="{ me { kind } }",
        headers={"Authorization": f"Bearer {limited.token(GP)}", "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]


def test_malformed_json_and_missing_query_are_coded_400s(limited: Stack) -> None:
    headers = {"Authorization": f"Bearer {limited.token(GP)}", "Content-Type": "application/json"}
    for body in (b"{not json", b'"just a string"', b'{"variables": {}}', b'{"query": 42}'):
        response = httpx.post(f"{limited.server.url}/graphql", content=body, headers=headers)
        assert response.status_code == 400, body
        assert codes(response) == ["BAD_REQUEST"]


def test_errors_give_no_field_suggestions(limited: Stack) -> None:
    response = limited.post("{ mee { kind } }", limited.token(GP))
    assert response.status_code == 400
    assert codes(response) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Did you mean" not in response.text
    assert "me" not in response.json()["errors"][0]["message"].replace("'mee'", "")


def test_syntax_errors_are_coded(limited: Stack) -> None:
    response = limited.post("{ me { kind ", limited.token(GP))
    assert response.status_code == 400
    assert codes(response) == ["GRAPHQL_PARSE_FAILED"]


def test_every_response_carries_a_request_id(limited: Stack) -> None:
    response = httpx.post(
        f"{limited.server.url}/graphql",
        json={"query": "{ me { kind } }"},
        headers={"Authorization": f"Bearer {limited.token(GP)}", "X-Request-ID": "abcd-1234-efgh"},
    )
    assert response.headers["x-request-id"] == "abcd-1234-efgh"
    other = limited.post("{ me { kind } }", None)
    assert len(other.headers["x-request-id"]) == 32


@pytest.fixture(scope="module")
def dev(store: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = ApiSettings(environment="dev", subscription_poll_seconds=0.05)
    running = start_stack(store, settings)
    try:
        yield running
    finally:
        running.server.stop()
        running.app.close()


def test_dev_mode_serves_graphiql_and_allows_introspection(dev: Stack) -> None:
    page = httpx.get(f"{dev.server.url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    response = dev.post('{ __type(name: "Me") { fields { name } } }', dev.token(GP))
    assert response.status_code == 200, response.text
    names = {f["name"] for f in response.json()["data"]["__type"]["fields"]}
    assert {"kind", "practitionerId", "agency"} <= names


def test_dev_mode_still_refuses_queries_via_get(dev: Stack) -> None:
    response = httpx.get(f"{dev.server.url}/graphql", params={"query": "{ me { kind } }"})
    assert response.status_code == 405


def test_browser_origins_are_allowed_only_as_configured(limited: Stack) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{limited.server.url}/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    allowed = preflight("https://nurse-app.example")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://nurse-app.example"
    refused = preflight("https://evil.example")
    assert "access-control-allow-origin" not in refused.headers


def test_an_oversized_websocket_message_closes_the_socket(limited: Stack) -> None:
    async def scenario() -> int | None:
        async with websockets.connect(
            limited.server.ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        ) as socket:
            payload = {"Authorization": f"Bearer {limited.token(GP)}", "padding": "x" * 10_000}
            await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
            try:
                while True:
                    await asyncio.wait_for(socket.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(scenario()) in (1009, 4400)


def test_doubling_fragments_are_answered_or_refused_not_walked_exponentially(
    dev: Stack,
) -> None:
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    query = f"query {{ ...F0 }} {chain} fragment F40 on Query {{ __typename }}"
    response = dev.post(query, dev.token(GP))
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"__typename": "Query"}
    aliased = query.replace("{ __typename }", "{ x: __typename }")
    response = dev.post(aliased, dev.token(GP))
    assert response.status_code == 400
    assert codes(response) == ["TOO_MANY_ALIASES"]


def test_several_operations_without_an_operation_name_are_refused(limited: Stack) -> None:
    nhs = _client(limited)
    lookup = LOOKUP.format(nhs=nhs)
    for document in (
        f"query A {{ {lookup} }} query B {{ me {{ kind }} }}",
        f'query A {{ {lookup} }} mutation B {{ breakGlass(clientId: "x", reason: "r") '
        "{ __typename } }",
    ):
        before = limited.access_count()
        response = limited.post(document, limited.token(GP))
        assert response.status_code == 400, response.text
        assert codes(response) == ["OPERATION_NAME_REQUIRED"]
        assert "data" not in response.json()
        assert limited.access_count() == before
    named = httpx.post(
        f"{limited.server.url}/graphql",
        json={"query": f"query A {{ {lookup} }} query B {{ me {{ kind }} }}", "operationName": "A"},
        headers={"Authorization": f"Bearer {limited.token(GP)}"},
    )
    assert named.status_code == 200, named.text
    assert named.json()["data"]["findClient"]["clientId"]


def test_two_authorization_headers_are_refused(limited: Stack) -> None:
    good, other = limited.token(GP), limited.agency_token("gp-north")
    headers = [("Authorization", f"Bearer {good}"), ("Authorization", f"Bearer {other}")]
    for method, path, body in (
        ("POST", "/graphql", {"query": "{ me { kind } }"}),
        ("GET", "/feed", None),
    ):
        response = httpx.request(method, f"{limited.server.url}{path}", json=body, headers=headers)
        assert response.status_code == 400, response.text
        assert codes(response) == ["BAD_REQUEST"]
        assert response.json()["errors"][0]["extensions"]["fields"] == {
            "reason": "duplicate_authorization"
        }
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_request"'
    single = httpx.post(
        f"{limited.server.url}/graphql",
        json={"query": "{ me { kind } }"},
        headers=headers[:1],
    )
    assert single.status_code == 200, single.text


def test_a_websocket_handshake_with_two_authorization_headers_is_refused(limited: Stack) -> None:
    async def scenario() -> None:
        headers = [("Authorization", f"Bearer {limited.token(GP)}")] * 2
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(
                limited.server.ws_url,
                subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
                additional_headers=headers,
            ):
                pass

    asyncio.run(scenario())
