"""The agency pull feed (REST): pages of what an agency may see, resumable after any downtime
without loss or duplication; cursors that only work for the audience they were issued to."""

from __future__ import annotations

from typing import Any

import httpx
from api_stack import Stack
from world import GP, NURSE, POLICE, ClientFacts, record, register_client


def get_feed(stack: Stack, token: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{stack.server.url}/feed",
        params={k: v for k, v in params.items() if v is not None},
        headers={"Authorization": f"Bearer {token}"},
    )


def drain(
    stack: Stack, token: str, after: str | None, limit: int = 3
) -> tuple[list[dict[str, Any]], str]:
    """Read pages until the feed has nothing more right now."""
    items: list[dict[str, Any]] = []
    while True:
        page = get_feed(stack, token, after=after, limit=limit)
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        after = body["next_cursor"]
        if not body["has_more"]:
            return items, after


def clinic(stack: Stack, visits: int) -> ClientFacts:
    client = register_client(stack.app, NURSE)
    for i in range(visits):
        record(stack.app, client, NURSE, "Wound care", text=f"Visit {i}", when=stack.clock())
    return client


def test_an_agency_system_pages_through_its_feed_and_resumes_without_loss_or_duplication(
    stack: Stack,
) -> None:
    token = stack.agency_token("community-health")
    _, cursor = drain(stack, token, None)  # whatever came before this test
    client = clinic(stack, 4)
    stack.wait_for_views()
    first, cursor = drain(stack, token, cursor, limit=3)
    # "Downtime": the consumer is away while more is recorded.
    for i in range(4, 9):
        record(stack.app, client, NURSE, "Wound care", text=f"Visit {i}", when=stack.clock())
    stack.wait_for_views()
    second, _ = drain(stack, token, cursor, limit=2)
    mine = [i for i in first + second if i["client_id"] == client.client_id]
    assert [i["entry"]["text"] for i in mine] == [f"Visit {n}" for n in range(9)]
    ids = [i["event_id"] for i in first + second]
    assert len(ids) == len(set(ids))
    # Event ids are opaque: no log position, no client id, nothing to count by.
    assert all(len(i) == 24 and ":" not in i for i in ids)
    assert all(client.client_id not in i for i in ids)
    assert all(i["kind"] == "entry_shared" for i in mine)


def test_resuming_from_any_item_cursor_repeats_nothing_before_it(stack: Stack) -> None:
    token = stack.agency_token("community-health")
    _, cursor = drain(stack, token, None)
    clinic(stack, 5)
    stack.wait_for_views()
    items, _ = drain(stack, token, cursor, limit=50)
    middle = items[2]
    rest, _ = drain(stack, token, middle["cursor"], limit=50)
    assert [i["event_id"] for i in rest] == [i["event_id"] for i in items[3:]]


def test_an_agency_sees_nothing_about_clients_it_is_not_involved_with(stack: Stack) -> None:
    police = stack.agency_token("police")
    _, cursor = drain(stack, police, None)
    client = clinic(stack, 2)
    stack.wait_for_views()
    items, _ = drain(stack, police, cursor)
    assert client.client_id not in {i["client_id"] for i in items}


def test_cursors_are_opaque_and_bound_to_the_audience(stack: Stack) -> None:
    token = stack.agency_token("community-health")
    clinic(stack, 1)
    stack.wait_for_views()
    body = get_feed(stack, token, limit=1).json()
    cursor = body["next_cursor"]
    assert not cursor.isdigit()
    for other in (stack.agency_token("police"), stack.token(NURSE), stack.token(GP)):
        refused = get_feed(stack, other, after=cursor)
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
        assert "items" not in refused.json()
    for forged in ("0", "123", cursor[:-3] + "abc", "x" * 600):
        response = get_feed(stack, token, after=forged)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


def test_the_feed_needs_a_token_and_a_sane_page_size(stack: Stack) -> None:
    anonymous = httpx.get(f"{stack.server.url}/feed")
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    token = stack.agency_token("community-health")
    for limit in (0, 10_000):
        response = get_feed(stack, token, limit=limit)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    bad = get_feed(stack, token, limit="many")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_each_feed_page_is_audited_per_client(stack: Stack) -> None:
    token = stack.agency_token("community-health")
    _, cursor = drain(stack, token, None)
    a, b = clinic(stack, 2), clinic(stack, 1)
    stack.wait_for_views()
    mark = stack.access_head()
    items, _ = drain(stack, token, cursor, limit=50)
    records = stack.access_records(after=mark)
    assert sorted(r.client_id for r in records) == sorted({i["client_id"] for i in items})
    assert {a.client_id, b.client_id} <= {r.client_id for r in records}
    assert all(r.viewer_kind == "agency_system" and r.action == "feed.page" for r in records)


def test_practitioners_read_their_own_feed_and_police_see_the_same_filtering(stack: Stack) -> None:
    token = stack.token(POLICE)
    response = get_feed(stack, token, limit=5)
    assert response.status_code == 200
    assert set(response.json()) == {"items", "next_cursor", "has_more"}


def test_the_openapi_spec_describes_the_rest_routes_only(stack: Stack) -> None:
    spec = httpx.get(f"{stack.server.url}/openapi.json").json()
    assert {"/feed", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert "/graphql" not in spec["paths"]
    assert "FeedPageModel" in spec["components"]["schemas"]
