"""Every read that returns client data writes exactly one access record per client, before the
response leaves; if the access log cannot be written, the read fails and returns nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_stack import Stack, access_log_unavailable, gql_execute
from world import (
    GP,
    NURSE,
    SOCIAL_WORKER,
    ClientFacts,
    Person,
    record,
    register_client,
    start_relationship,
)

from carerecord.audit.reconstruct import Outcome, reconstruct
from carerecord.slice import SharedEntry, slice_hash
from carerecord.vocab import Purpose


@pytest.fixture(scope="module")
def clients(stack: Stack) -> list[ClientFacts]:
    made = []
    for i in range(3):
        client = register_client(stack.app, NURSE, family_name=f"Audit{i}")
        start_relationship(stack.app, client, SOCIAL_WORKER)
        for heading in ("Wound care", "Mobility and falls", "Nutrition and hydration"):
            record(stack.app, client, NURSE, heading, when=stack.clock())
        stack.app.raise_alert(
            NURSE.caller, client.client_id, kind="access_needs", severity="low", summary="Ramp"
        )
        made.append(client)
    stack.wait_for_views()
    return made


def _full_slice(stack: Stack, person: Person, client: ClientFacts) -> list[SharedEntry]:
    read = stack.server.services.reads.client_slice(
        stack.app.resolve_actor(person.caller), client.client_id, Purpose.DIRECT_CARE
    )
    return list(read.entries)


def test_one_access_record_per_client_however_often_the_query_reads_it(
    stack: Stack, clients: list[ClientFacts]
) -> None:
    a, b = clients[0], clients[1]
    query = """query($a: ID!, $b: ID!) {
      first: client(id: $a) { entries(first: 2) { items { entryId version } } }
      again: client(id: $a) { alerts { entryId version } overview { sections { category } } }
      other: client(id: $b) { clientId }
    }"""
    mark = stack.access_head()
    result = gql_execute(stack, stack.token(NURSE), query, a=a.client_id, b=b.client_id)
    records = stack.access_records(after=mark)
    assert sorted(r.client_id for r in records) == sorted([a.client_id, b.client_id])
    by_client = {r.client_id: r for r in records}
    returned = {
        (e["entryId"], e["version"])
        for e in result["first"]["entries"]["items"] + result["again"]["alerts"]
    }
    assert returned <= set(by_client[a.client_id].items)
    for client in (a, b):
        read = _full_slice(stack, NURSE, client)
        audited = by_client[client.client_id]
        assert audited.items == tuple((e.entry_id, e.version) for e in read)
        assert audited.response_hash == slice_hash(read)
    for r in records:
        assert r.practitioner_id == NURSE.practitioner_id
        assert r.agency_id == NURSE.agency_id
        assert r.profession == NURSE.profession
        assert r.purpose == "direct_care"
        assert r.basis == "care_relationship"
        assert r.view_version is not None
        assert r.state_version is not None
        assert r.protocol_version == stack.app.protocol().version
        assert r.action == "record.read"


def test_the_auditors_can_reconstruct_every_read_the_api_recorded(
    stack: Stack, clients: list[ClientFacts]
) -> None:
    mark = stack.access_head()
    for person in (NURSE, SOCIAL_WORKER):
        for client in clients:
            gql_execute(
                stack,
                stack.token(person),
                "query($c: ID!) { client(id: $c) { entries(first: 2) { items { entryId } } } }",
                c=client.client_id,
            )
    records = stack.access_records(after=mark)
    assert len(records) == 2 * len(clients)
    for access in records:
        replayed = reconstruct(stack.app, access)
        assert replayed.outcome == Outcome.MATCH, replayed.to_json()
        assert access.request_id


def test_lists_audit_each_client_they_return(stack: Stack, clients: list[ClientFacts]) -> None:
    mark = stack.access_head()
    result = gql_execute(
        stack,
        stack.token(SOCIAL_WORKER),
        "{ caseload(first: 50) { items { client { clientId } } } }",
    )
    listed = {i["client"]["clientId"] for i in result["caseload"]["items"]}
    assert {c.client_id for c in clients} <= listed
    records = stack.access_records(after=mark)
    assert sorted(r.client_id for r in records) == sorted(listed)
    assert {r.action for r in records} == {"caseload.list"}


def test_a_lookup_is_audited_hit_or_miss(stack: Stack, clients: list[ClientFacts]) -> None:
    query = "query($n: String!) { findClient(nhsNumber: $n) { clientId familyName } }"
    mark = stack.access_head()
    hit = gql_execute(stack, stack.token(GP), query, n=clients[0].nhs_number)
    assert hit["findClient"]["clientId"] == clients[0].client_id
    miss = gql_execute(stack, stack.token(GP), query, n="9434765919")
    assert miss["findClient"] is None
    first, second = stack.access_records(after=mark)
    assert (first.action, first.client_id) == ("client.lookup", clients[0].client_id)
    assert (second.action, second.client_id) == ("client.lookup", None)
    assert first.practitioner_id == GP.practitioner_id


def test_reads_that_return_nothing_write_nothing(stack: Stack, clients: list[ClientFacts]) -> None:
    mark = stack.access_head()
    response = stack.post("{ me { kind } referralStats { total } }", stack.token(NURSE))
    assert response.status_code == 200
    assert stack.access_head() == mark


def _read(stack: Stack, client: ClientFacts) -> httpx.Response:
    return stack.post(
        "query($c: ID!) { client(id: $c) { entries { items { text } } } }",
        stack.token(NURSE),
        c=client.client_id,
    )


def test_if_the_access_log_cannot_be_written_the_read_fails_with_no_data(
    stack: Stack, clients: list[ClientFacts]
) -> None:
    client = clients[0]
    assert _read(stack, client).status_code == 200
    with access_log_unavailable(stack):
        failed = _read(stack, client)
        feed = httpx.get(
            f"{stack.server.url}/feed",
            headers={"Authorization": f"Bearer {stack.agency_token('community-health')}"},
        )
        lookup = stack.post(
            "query($n: String!) { findClient(nhsNumber: $n) { clientId } }",
            stack.token(GP),
            n=client.nhs_number,
        )
    for response in (failed, feed, lookup):
        assert response.status_code == 503, response.text
        body: dict[str, Any] = response.json()
        assert body.get("data") is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["AUDIT_UNAVAILABLE"]
        assert "Wound care" not in response.text
        assert client.client_id not in response.text
    assert _read(stack, client).status_code == 200, "reads work again once the log is back"


def test_mutations_are_not_blocked_by_the_access_log(
    stack: Stack, clients: list[ClientFacts]
) -> None:
    """Writes are audited by the event log itself; only reads need the access log."""
    with access_log_unavailable(stack):
        response = stack.post(
            """mutation($c: ID!) { startCareRelationship(clientId: $c, reason: "Covering") {
                 __typename } }""",
            stack.token(GP),
            c=clients[1].client_id,
        )
    assert response.json()["data"]["startCareRelationship"]["__typename"] == "Accepted"
