"""The audience feed: per-audience sequences, filtered and re-checked per caller."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eventsourcing.utils import get_topic
from views_world import GP, GP_COLLEAGUE, HOUSING, NURSE, SOCIAL_WORKER, World

from carerecord import errors
from carerecord.application import CommandResult
from carerecord.idempotency import IdempotencyKey
from projections.audience.store import unpack_feed
from projections.feed.results import FeedPage


def drain(world: World, caller: object, after: int = 0, limit: int = 100) -> list[FeedPage]:
    pages = []
    while True:
        page = world.reads.feed(caller, after=after, limit=limit)  # type: ignore[arg-type]
        pages.append(page)
        if not page.has_more and page.next_after == after:
            return pages
        after = page.next_after
        if not page.has_more:
            return pages


def kinds(pages: list[FeedPage]) -> list[tuple[str, str | None]]:
    return [(i.kind, i.entry_id) for p in pages for i in p.items]


def test_an_agency_system_follows_shares_updates_and_recalls_of_its_clients(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    consent = world.consent(client, GP, everyone=True)
    entry = world.note(client, GP, "History", "first")
    world.tick()
    world.app.amend_contribution(world.caller(GP), client, entry, text="second", reason="Typo")
    world.tick()
    world.app.withdraw_consent(world.caller(GP), client, consent, reason="Client asked")
    world.project()
    system = world.system("adult-care")

    pages = drain(world, system)

    # Shared and updated items are re-checked now (consent withdrawn): only the recall is left.
    assert kinds(pages) == [("entry_recalled", entry)]
    with world.databases.views.snapshot() as tx:  # ... though all three are in the feed
        stored = [
            item[3]
            for (items,) in tx.fetchall("SELECT items FROM av_feed ORDER BY audience_id, last_seq")
            for item in unpack_feed(items)
        ]
    assert {"entry_shared", "entry_updated", "entry_recalled"} <= set(stored)


def test_feed_items_carry_the_current_entry_and_resume_from_the_cursor(world: World) -> None:
    client = world.register(GP)
    first = world.note(client, GP, "History", "one")
    second = world.note(client, GP, "Plan", "two")
    world.project()
    system = world.system("gp-north")

    page = world.reads.feed(system, after=0, limit=1)
    assert [(i.kind, i.entry_id) for i in page.items] == [("entry_shared", first)]
    assert page.items[0].entry is not None
    assert page.items[0].entry.text == "one"
    rest = world.reads.feed(system, after=page.next_after, limit=10)
    assert [(i.kind, i.entry_id) for i in rest.items] == [("entry_shared", second)]
    assert not rest.has_more
    again = world.reads.feed(system, after=rest.next_after, limit=10)
    assert again.items == ()
    assert again.next_after == rest.next_after

    records = page.access_records(request_id="r", action="feed", at=world.clock())
    assert [r.items for r in records] == [((first, page.items[0].entry.version),)]


def test_a_colleague_sharing_the_audience_gets_nothing_about_clients_they_do_not_know(
    world: World,
) -> None:
    client = world.register(GP)
    world.note(client, GP, "History")
    world.project()

    mine = world.reads.feed(world.caller(GP))
    theirs = world.reads.feed(world.caller(GP_COLLEAGUE))

    assert mine.audience == theirs.audience  # same agency, profession and roles
    assert mine.items
    assert theirs.items == ()
    assert theirs.next_after == mine.next_after  # the colleague's cursor moves past them


def test_referral_items_reach_both_agencies_only(world: World) -> None:
    client = world.register(GP)
    now = world.tick()
    referral = world.app.send_referral(
        world.caller(GP),
        client,
        to_agency="housing",
        category="housing",
        reason="Damp flat",
        due_by=now + timedelta(days=3),
    ).id
    world.tick()
    world.app.acknowledge_referral(world.caller(HOUSING), client, referral)
    world.project()

    housing = drain(world, world.system("housing"))
    sent = [
        (i.kind, i.referral.referral_id if i.referral else None) for p in housing for i in p.items
    ]
    assert sent == [("referral_sent", referral), ("referral_acknowledged", referral)]
    assert housing[0].items[0].referral is not None
    assert housing[0].items[0].referral.to_agency == "housing"
    gp_items = [i.kind for p in drain(world, world.system("gp-north")) for i in p.items]
    assert gp_items.count("referral_sent") == 1
    assert [i for p in drain(world, world.system("community-health")) for i in p.items] == []


def test_a_new_agency_system_gets_the_existing_record_when_its_agency_becomes_involved(
    world: World,
) -> None:
    client = world.register(GP)
    entry = world.note(client, GP, "History")
    world.project()
    system = world.system("community-health")
    assert world.reads.feed(system).items == ()

    world.relate(client, NURSE)
    world.project()
    assert [(i.kind, i.entry_id) for i in world.reads.feed(system).items] == [
        ("entry_shared", entry)
    ]


def test_the_feed_is_for_practitioners_and_agency_systems_only(world: World) -> None:
    client = world.register(GP)
    world.project()
    with pytest.raises(errors.NotPermitted):
        world.reads.feed(world.client(client))
    with pytest.raises(errors.InvalidInput):
        world.reads.feed(world.caller(GP), after=-1)


def test_an_idempotency_key_adds_nothing_to_the_feed_and_the_views_move_past_it(
    world: World,
) -> None:
    client = world.register(GP)
    plain = world.note(client, GP, "History", "one")
    now = world.tick()

    def keyed() -> CommandResult:
        return world.app.record_contribution(
            world.caller(GP),
            client,
            heading="Plan",
            text="two",
            occurred_at=now,
            idempotency_key="plan-2026-03-02",
        )

    result = keyed()
    assert keyed() == result  # the retry stored nothing
    world.project()

    (last,) = world.app.recorder.select_notifications(start=result.position, limit=1)
    assert last.topic == get_topic(IdempotencyKey.Used)  # the log ends with the key's event
    assert world.runner is not None
    assert set(world.runner.positions().values()) == {result.position}
    pages = drain(world, world.system("gp-north"))
    assert kinds(pages) == [("entry_shared", plain), ("entry_shared", result.id)]
