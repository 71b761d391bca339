"""Break-glass, end to end through the API: the grant, the read under it (recorded with the
grant), the notice to the care team's feeds, expiry, the review queue of the accessing
agency's information-governance officers (overdue after the review period), the review
recorded as an event, and the person's own access log showing all of it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gov_stack import GovStack
from gov_world import (
    AUDITOR,
    HEALTH_IG,
    HOUSING,
    NURSE,
    POLICE,
    POLICE_IG,
    REASON,
    SECRET,
    care_team_client,
    register,
)
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

BREAK = """mutation($c: ID!, $r: String!) {
  breakGlass(clientId: $c, reason: $r, minutes: 60) {
    __typename
    ... on BreakGlassGranted { grantId purpose expiresAt }
    ... on Refused { code }
  }
}"""
TRIAGE = """query($c: ID!) {
  client(id: $c, purpose: EMERGENCY) {
    basis { kind grantId }
    entries(first: 50) { items { entryId category sharedUnder { basis } } }
  }
}"""
QUEUE = """query($overdue: Boolean!) {
  breakGlassReviewQueue(overdueOnly: $overdue, first: 20) {
    reviewPeriodHours
    items { grantId clientId practitionerId practitionerName profession purpose reason
            grantedAt expiresAt reviewDueBy overdue readsUnderGrant }
    pageInfo { hasNextPage }
  }
}"""
REVIEW = """mutation($c: ID!, $g: ID!, $o: BreakGlassOutcome!) {
  reviewBreakGlass(clientId: $c, grantId: $g, outcome: $o,
                   note: "No risk to life was recorded; advice given") {
    __typename ... on Refused { code }
  }
}"""
MY_LOG = """{ myAccessLog(first: 100) {
  note
  items { at description organisation organisationPhone profession action purpose basis
          breakGlass byAuditor reviewOutcome }
} }"""
EVENTS = """subscription { recordEvents {
  kind clientId eventId notice { grantId agency profession purpose grantedAt expiresAt }
} }"""


def _notices(items: list[dict[str, Any]], client: str) -> list[dict[str, Any]]:
    return [i for i in items if i["kind"] == "break_glass_granted" and i["client_id"] == client]


def _feed(gov: GovStack, token: str) -> tuple[list[dict[str, Any]], str]:
    response = gov.get("/feed?limit=100", token)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = []
    body = response.json()
    items += body["items"]
    while body["has_more"]:
        response = gov.get(f"/feed?limit=100&after={body['next_cursor']}", token)
        body = response.json()
        items += body["items"]
    return items, response.text


async def _subscribed_notice(gov: GovStack, token: str, client: str) -> dict[str, Any]:
    transport = WebsocketsTransport(
        url=f"ws://127.0.0.1:{gov.server.port}/graphql",
        init_payload={"Authorization": f"Bearer {token}"},
    )
    async with Client(transport=transport) as session:

        async def first() -> dict[str, Any]:
            async for result in session.subscribe(GraphQLRequest(EVENTS)):
                event: dict[str, Any] = result["recordEvents"]
                if event["kind"] == "BREAK_GLASS_GRANTED" and event["clientId"] == client:
                    return event
            raise AssertionError("subscription ended")

        return await asyncio.wait_for(first(), 20)


def test_break_glass_from_grant_to_review_and_the_persons_own_log(gov: GovStack) -> None:
    client = care_team_client(gov.app, gov.clock())
    other = register(gov.app, family_name="Unrelated")  # the GP's only: no notices for it
    gov.wait_for_views()
    police = gov.token(POLICE)

    # No standing yet: the emergency view is closed.
    before = gov.post(police, TRIAGE, c=client)
    assert before["data"] is None
    assert before["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"

    # The grant: a reason is required, time-boxed.
    short = gov.gql(police, BREAK, c=client, r="urgent")["breakGlass"]
    assert short == {"__typename": "Refused", "code": "INVALID_INPUT"}
    granted = gov.gql(police, BREAK, c=client, r=REASON)["breakGlass"]
    assert granted["__typename"] == "BreakGlassGranted"
    assert granted["purpose"] == "EMERGENCY"
    grant_id = granted["grantId"]
    gov.wait_for_views()

    # The read under it is recorded with the basis break_glass and the grant.
    mark = gov.access_head()
    read = gov.gql(police, TRIAGE, c=client)["client"]
    assert read["basis"] == {"kind": "BREAK_GLASS", "grantId": grant_id}
    assert read["entries"]["items"], "the emergency view shows the categories it opens"
    (record,) = [r for r in gov.access_records(after=mark) if r.client_id == client]
    assert (record.basis, record.grant_id, record.purpose) == ("break_glass", grant_id, "emergency")
    assert record.practitioner_id == POLICE.practitioner_id

    # The care team is told, through the agency pull feed and their subscription - who,
    # when, until when - never the reason; nobody outside the care team is told.
    mark = gov.access_head()
    items, text = _feed(gov, gov.agency_token(NURSE.agency_id))
    (notice,) = _notices(items, client)
    assert notice["notice"]["grant_id"] == grant_id
    assert notice["notice"]["agency_id"] == "police"
    assert notice["notice"]["profession"] == "police_officer"
    assert notice["notice"]["expires_at"] == granted["expiresAt"].replace("Z", "+00:00")
    assert REASON not in text
    assert SECRET not in str(notice)
    feed_records = [r for r in gov.access_records(after=mark) if r.client_id == client]
    assert feed_records
    assert all(r.action == "feed.page" for r in feed_records)
    nurse_items, _ = _feed(gov, gov.token(NURSE))
    assert len(_notices(nurse_items, client)) == 1
    outsiders, _ = _feed(gov, gov.agency_token(HOUSING.agency_id))
    assert not _notices(outsiders, client)
    assert not _notices(outsiders, other)
    event = asyncio.run(_subscribed_notice(gov, gov.token(NURSE), client))
    assert event["notice"]["grantId"] == grant_id
    assert event["notice"]["agency"] == "police"

    # The review queue: the accessing agency's IG officers only, with the reason.
    gov.wait_for_index()
    mark = gov.access_head()
    queue = gov.gql(gov.token(POLICE_IG), QUEUE, overdue=False)["breakGlassReviewQueue"]
    (item,) = [i for i in queue["items"] if i["grantId"] == grant_id]
    assert item["clientId"] == client
    assert item["reason"] == REASON
    assert item["practitionerId"] == POLICE.practitioner_id
    assert item["profession"] == "police_officer"
    assert item["overdue"] is False
    assert item["readsUnderGrant"] == 1
    assert queue["reviewPeriodHours"] == 1
    queue_reads = [
        r for r in gov.access_records(after=mark) if r.action == "audit.break_glass_queue"
    ]
    assert [(r.client_id, r.purpose, r.basis) for r in queue_reads] == [(client, "audit", "audit")]
    elsewhere = gov.gql(gov.token(HEALTH_IG), QUEUE, overdue=False)["breakGlassReviewQueue"]
    assert elsewhere["items"] == []
    for person in (NURSE, POLICE, AUDITOR):
        refused = gov.post(gov.token(person), QUEUE, overdue=False)
        assert refused["data"] is None
        assert [e["extensions"]["code"] for e in refused["errors"]] == ["NOT_PERMITTED"]
    none_due = gov.gql(gov.token(POLICE_IG), QUEUE, overdue=True)["breakGlassReviewQueue"]
    assert grant_id not in [i["grantId"] for i in none_due["items"]]

    # Time passes: the grant expires (the view closes) and its review becomes overdue.
    gov.clock.advance(hours=2)
    expired = gov.post(police, TRIAGE, c=client)
    assert expired["data"] is None
    assert expired["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"
    overdue = gov.gql(gov.token(POLICE_IG), QUEUE, overdue=True)["breakGlassReviewQueue"]
    assert [i["overdue"] for i in overdue["items"] if i["grantId"] == grant_id] == [True]

    # The review: the accessing agency's IG officer only, once.
    # Without a standing towards the client (the other agency's officer; the officer whose
    # grant expired) the refusal tells nothing more; the nurse, who has one, is told no.
    for person, code in (
        (HEALTH_IG, "NO_CARE_RELATIONSHIP"),
        (POLICE, "NO_CARE_RELATIONSHIP"),
        (NURSE, "NOT_PERMITTED"),
    ):
        refused = gov.gql(gov.token(person), REVIEW, c=client, g=grant_id, o="JUSTIFIED")
        assert refused["reviewBreakGlass"] == {"__typename": "Refused", "code": code}
    done = gov.gql(gov.token(POLICE_IG), REVIEW, c=client, g=grant_id, o="NOT_JUSTIFIED")
    assert done["reviewBreakGlass"]["__typename"] == "Accepted"
    again = gov.gql(gov.token(POLICE_IG), REVIEW, c=client, g=grant_id, o="JUSTIFIED")
    assert again["reviewBreakGlass"]["code"] == "BREAK_GLASS_ALREADY_REVIEWED"
    grant = gov.app.load_client(client).grants[grant_id]
    assert grant.review_outcome is not None
    assert grant.review_outcome.value == "not_justified"
    gov.wait_for_views()
    after = gov.gql(gov.token(POLICE_IG), QUEUE, overdue=False)["breakGlassReviewQueue"]
    assert grant_id not in [i["grantId"] for i in after["items"]]

    # The person sees every access, the emergency one and the officer's review included,
    # by organisation and profession - never the reason or the practitioner's name.
    head = gov.access_head()
    response = gov.post(gov.client_token(client), MY_LOG)
    log = response["data"]["myAccessLog"]["items"]
    recorded = [
        r for r in gov.access_records()[:head] if r.client_id == client and not r.refused
    ]  # refused attempts are for the IG officers, not the person's log
    assert [i["at"] for i in log] == [r.at.isoformat() for r in reversed(recorded)]
    (emergency,) = [i for i in log if i["breakGlass"]]
    assert emergency["organisation"] == "Shires Police"
    assert emergency["profession"] == "Police officer"
    assert emergency["reviewOutcome"] == "NOT_JUSTIFIED"
    assert emergency["description"].startswith("A police officer from Shires Police looked at")
    assert "emergency access (break-glass)" in emergency["description"]
    assert "found it was not justified" in emergency["description"]
    reviews = [i for i in log if i["byAuditor"]]
    assert reviews
    assert all("information-governance officer" in i["description"] for i in reviews)
    text = str(response)
    for secret in (REASON, SECRET, "Pc Ian", POLICE.practitioner_id, POLICE_IG.practitioner_id):
        assert secret not in text


@pytest.mark.parametrize("person", [NURSE, AUDITOR])
def test_only_information_governance_officers_review_and_read_the_queue(
    gov: GovStack, person: Any
) -> None:
    body = gov.post(gov.token(person), QUEUE, overdue=False)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_PERMITTED"
    assert REASON not in str(body)


def test_the_queue_pages_oldest_first_without_repeats(gov: GovStack) -> None:
    clients = [register(gov.app, family_name=f"Queue{i}") for i in range(3)]
    for client in clients:
        gov.app.break_glass(POLICE.caller, client, reason=REASON)
        gov.clock.advance(seconds=1)
    gov.wait_for_views()
    token = gov.token(POLICE_IG)
    page = """query($after: String) { breakGlassReviewQueue(first: 2, after: $after) {
        items { clientId grantedAt } pageInfo { endCursor hasNextPage } } }"""
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        got = gov.gql(token, page, after=after)["breakGlassReviewQueue"]
        seen += got["items"]
        if not got["pageInfo"]["hasNextPage"]:
            break
        after = got["pageInfo"]["endCursor"]
    mine = [i["clientId"] for i in seen if i["clientId"] in clients]
    assert mine == clients
    assert [i["grantedAt"] for i in seen] == sorted(i["grantedAt"] for i in seen)
    foreign = gov.post(gov.token(HEALTH_IG), page, after=after)
    assert foreign["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
