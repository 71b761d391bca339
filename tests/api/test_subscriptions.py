"""Subscriptions over graphql-transport-ws (gql's websockets transport, a real socket):
catch-up then live, resumable from a cursor with no gap and no duplicate, recalls after a
consent withdrawal, closed when the token expires."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from api_stack import Stack, access_log_unavailable
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed
from world import (
    GP,
    NURSE,
    SOCIAL_WORKER,
    ClientFacts,
    record,
    register_client,
    start_relationship,
    wait_until,
)

EVENTS = """subscription($after: String) {
  recordEvents(after: $after) {
    eventId cursor kind clientId entryId
    entry { entryId text category sharedUnder { basis } }
    referral { referralId status }
  }
}"""
TIMEOUT = 20


def transport(stack: Stack, token: str | None, **kwargs: Any) -> WebsocketsTransport:
    payload = {} if token is None else {"Authorization": f"Bearer {token}"}
    return WebsocketsTransport(url=stack.server.ws_url, init_payload=payload, **kwargs)


async def collect(
    stack: Stack, token: str, count: int, *, after: str | None = None, client_id: str | None = None
) -> list[dict[str, Any]]:
    """Subscribe, take ``count`` events (about ``client_id`` if given), then disconnect."""
    got: list[dict[str, Any]] = []
    async with Client(transport=transport(stack, token)) as session:
        request = GraphQLRequest(EVENTS, variable_values={"after": after})

        async def take() -> None:
            async for result in session.subscribe(request):
                event = result["recordEvents"]
                if client_id is None or event["clientId"] == client_id:
                    got.append(event)
                if len(got) >= count:
                    return

        await asyncio.wait_for(take(), TIMEOUT)
    return got


def nurse_client(stack: Stack, entries: int) -> ClientFacts:
    client = register_client(stack.app, NURSE)
    for i in range(entries):
        record(stack.app, client, NURSE, "Wound care", text=f"Visit {i}", when=stack.clock())
    return client


def test_a_subscription_catches_up_then_follows_live(stack: Stack) -> None:
    client = nurse_client(stack, 2)
    stack.wait_for_views()

    async def scenario() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        async with Client(transport=transport(stack, stack.token(NURSE))) as session:
            request = GraphQLRequest(EVENTS, variable_values={"after": None})

            async def take() -> None:
                async for result in session.subscribe(request):
                    event = result["recordEvents"]
                    if event["clientId"] != client.client_id:
                        continue
                    got.append(event)
                    if len(got) == 2:  # caught up: now record more, live
                        await asyncio.to_thread(
                            record,
                            stack.app,
                            client,
                            NURSE,
                            "Wound care",
                            text="Visit live",
                            when=stack.clock(),
                        )
                    if len(got) == 3:
                        return

            await asyncio.wait_for(take(), TIMEOUT)
        return got

    events = asyncio.run(scenario())
    assert [e["entry"]["text"] for e in events] == ["Visit 0", "Visit 1", "Visit live"]
    assert {e["kind"] for e in events} == {"ENTRY_SHARED"}
    assert all(e["entry"]["sharedUnder"]["basis"] for e in events)
    assert len({e["eventId"] for e in events}) == 3


def test_a_subscription_resumes_from_its_cursor_with_no_gap_and_no_duplicate(stack: Stack) -> None:
    token = stack.token(NURSE)
    client = nurse_client(stack, 5)
    stack.wait_for_views()
    first = asyncio.run(collect(stack, token, 3, client_id=client.client_id))
    # Disconnected mid-stream; meanwhile more happens.
    for i in range(5, 8):
        record(stack.app, client, NURSE, "Wound care", text=f"Visit {i}", when=stack.clock())
    stack.wait_for_views()
    rest = asyncio.run(
        collect(stack, token, 5, after=first[-1]["cursor"], client_id=client.client_id)
    )
    texts = [e["entry"]["text"] for e in first + rest]
    assert texts == [f"Visit {i}" for i in range(8)]
    ids = [e["eventId"] for e in first + rest]
    assert len(ids) == len(set(ids)), "no duplicates"
    assert all(not e["cursor"].isdigit() for e in first + rest)


def test_the_access_log_records_each_delivery(stack: Stack) -> None:
    client = nurse_client(stack, 2)
    stack.wait_for_views()
    mark = stack.access_head()
    asyncio.run(collect(stack, stack.token(NURSE), 2, client_id=client.client_id))
    records = [r for r in stack.access_records(after=mark) if r.client_id == client.client_id]
    assert records
    assert {r.action for r in records} == {"feed.subscription"}
    delivered = {entry_id for r in records for entry_id, _ in r.items}
    assert set(client.entries) <= delivered


def test_a_consent_withdrawal_reaches_subscribers_as_a_recall(stack: Stack) -> None:
    client = register_client(stack.app, GP)
    start_relationship(stack.app, client, SOCIAL_WORKER)
    consent = stack.app.record_consent(
        GP.caller, client.client_id, decision="granted", sectors=["social_care"]
    )
    entry = record(
        stack.app, client, GP, "History", text="Shared under consent", when=stack.clock()
    )
    stack.wait_for_views()
    token = stack.token(SOCIAL_WORKER)
    (shared,) = asyncio.run(collect(stack, token, 1, client_id=client.client_id))
    assert shared["kind"] == "ENTRY_SHARED"
    assert shared["entry"]["text"] == "Shared under consent"
    stack.app.withdraw_consent(
        GP.caller, client.client_id, str(consent.id), reason="Client withdrew consent"
    )
    stack.wait_for_views()
    (recall,) = asyncio.run(
        collect(stack, token, 1, after=shared["cursor"], client_id=client.client_id)
    )
    assert recall["kind"] == "ENTRY_RECALLED"
    assert recall["entryId"] == entry
    assert recall["entry"] is None


def test_the_socket_closes_when_the_token_expires(stack: Stack) -> None:
    token = stack.token(NURSE, ttl=timedelta(seconds=3))

    async def scenario() -> BaseException | None:
        async with Client(transport=transport(stack, token)) as session:
            try:
                await asyncio.wait_for(_drain(session.subscribe(GraphQLRequest(EVENTS))), TIMEOUT)
            except (ConnectionClosed, TransportQueryError) as exc:
                return exc
            except Exception as exc:
                return exc
        return None

    started = time.monotonic()
    closed = asyncio.run(scenario())
    assert closed is not None, "the subscription ended"
    assert close_code(closed) == 4401
    assert time.monotonic() - started < TIMEOUT


def close_code(exc: BaseException | None) -> int | None:
    """The WebSocket close code the server sent, found in the exception chain."""
    while exc is not None:
        if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
            return exc.rcvd.code
        exc = exc.__cause__ or exc.__context__
    return None


async def _drain(events: Any) -> None:
    async for _ in events:
        pass


def test_a_bad_token_cannot_open_a_subscription(stack: Stack) -> None:
    async def scenario(token: str | None) -> BaseException | None:
        try:
            async with Client(transport=transport(stack, token)) as session:
                await session.execute(GraphQLRequest(EVENTS))
        except Exception as exc:
            return exc
        return None

    mark = stack.access_head()
    for token in (None, "not-a-token", stack.token(NURSE) + "x"):
        outcome = asyncio.run(scenario(token))
        assert outcome is not None, "connected"
        assert close_code(outcome) == 4403
    assert stack.access_head() == mark


def test_queries_are_refused_over_the_socket(stack: Stack) -> None:
    async def scenario() -> str:
        async with Client(transport=transport(stack, stack.token(NURSE))) as session:
            try:
                await session.execute(GraphQLRequest("{ me { kind } }"))
            except TransportQueryError as exc:
                return str(exc.errors)
        return "answered"

    assert "OPERATION_NOT_ALLOWED" in asyncio.run(scenario())


def test_subscriptions_per_socket_are_capped(stack: Stack) -> None:
    cap = stack.api_settings.limits.max_subscriptions_per_socket

    async def scenario() -> list[str]:
        outcomes: list[str] = []
        async with Client(transport=transport(stack, stack.token(NURSE))) as session:
            streams = [session.subscribe(GraphQLRequest(EVENTS)) for _ in range(cap + 1)]
            tasks = [asyncio.create_task(_first(s)) for s in streams]
            done, pending = await asyncio.wait(
                tasks, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                outcomes.append(task.result())
            for task in pending:
                task.cancel()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert any("Subscription limit" in o for o in outcomes), outcomes


async def _first(stream: Any) -> str:
    try:
        async for _ in stream:
            return "event"
    except TransportQueryError as exc:
        return str(exc)
    return "ended"


def test_a_cross_origin_socket_from_an_unlisted_origin_is_refused(stack: Stack) -> None:
    async def scenario() -> str:
        try:
            async with Client(
                transport=transport(
                    stack, stack.token(NURSE), headers={"Origin": "https://evil.example"}
                )
            ) as session:
                await session.execute(GraphQLRequest(EVENTS))
        except Exception as exc:
            return repr(exc)
        return "connected"

    assert asyncio.run(scenario()) != "connected"


@pytest.mark.parametrize("protocol", ["graphql-ws"])
def test_only_graphql_transport_ws_is_spoken(stack: Stack, protocol: str) -> None:
    async def scenario() -> str:
        try:
            async with Client(
                transport=transport(stack, stack.token(NURSE), subprotocols=[protocol])
            ) as session:
                await session.execute(GraphQLRequest(EVENTS))
        except Exception as exc:
            return repr(exc)
        return "connected"

    assert asyncio.run(scenario()) != "connected"


def test_if_deliveries_cannot_be_audited_the_subscription_ends_with_no_data(stack: Stack) -> None:
    client = nurse_client(stack, 1)
    stack.wait_for_views()

    async def scenario() -> BaseException | None:
        async with Client(transport=transport(stack, stack.token(NURSE))) as session:
            try:
                async for result in session.subscribe(GraphQLRequest(EVENTS)):
                    raise AssertionError(f"delivered without an audit record: {result}")
            except TransportQueryError as exc:
                return exc
        return None

    with access_log_unavailable(stack):
        refused = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    assert isinstance(refused, TransportQueryError)
    assert refused.errors is not None
    assert [e["extensions"]["code"] for e in refused.errors] == ["AUDIT_UNAVAILABLE"]
    assert client.client_id not in str(refused)


@contextmanager
def access_log_held(stack: Stack) -> Iterator[None]:
    """The access log locked by another transaction (a real lock, held in its own thread):
    the audit writer's commits wait behind it, so deliveries cannot be audited in time."""
    db = stack.server.services.databases.access
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.transaction() as tx:
            if db.dialect == "postgres":
                tx.execute("LOCK TABLE access_log IN EXCLUSIVE MODE")
            else:
                tx.execute("UPDATE access_log SET position = position WHERE 0 = 1")
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(30)


def test_a_subscription_waits_out_an_access_log_that_cannot_be_written_for_a_while(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """A delivery that cannot be audited in time is not sent, and tried again: the
    subscription does not end (it used to end with AUDIT_UNAVAILABLE)."""
    caplog.set_level(logging.WARNING, logger="carerecord.api")
    client = nurse_client(stack, 1)
    stack.wait_for_views()
    writer = stack.server.services.access_writer
    timeout = writer.timeout

    def retried() -> bool:
        return any("subscription: store unavailable" in r.getMessage() for r in caplog.records)

    async def scenario() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        async with Client(transport=transport(stack, stack.token(NURSE))) as session:

            async def take() -> None:
                async for result in session.subscribe(GraphQLRequest(EVENTS)):
                    event = result["recordEvents"]
                    if event["clientId"] == client.client_id:
                        got.append(event)
                    if len(got) == 2:
                        return

            task = asyncio.create_task(take())
            await asyncio.to_thread(wait_until, lambda: len(got) == 1, what="the catch-up")
            with access_log_held(stack):
                await asyncio.to_thread(
                    record, stack.app, client, NURSE, "Wound care", text="Later", when=stack.clock()
                )
                await asyncio.to_thread(wait_until, retried, timeout=TIMEOUT, what="a retry")
                assert not task.done(), "the subscription ended"
            await asyncio.wait_for(task, TIMEOUT)
        return got

    writer.timeout = 0.5  # the delivery's audit write gives up quickly
    try:
        events = asyncio.run(scenario())
    finally:
        writer.timeout = timeout
    assert [e["entry"]["text"] for e in events] == ["Visit 0", "Later"]
