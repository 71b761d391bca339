"""The batched runner: exactly-once effect, failures stop one projection, waking, waiting."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from views_world import GP, SOCIAL_WORKER, World

from carerecord.client_record import ClientRecord
from carerecord.db import Tx
from projections.engine.errors import ProjectionFailed
from projections.engine.framework import TRACKING_TABLE, Envelope
from projections.engine.runner import EventLogSource, ProjectionRunner, Waker
from projections.engine.settings import ProjectionSettings
from projections.lists.directory import DirectoryProjection


class Ledger:
    """A real projection that records every position it applies, once (primary key)."""

    tables = ("test_ledger",)

    def __init__(self, name: str = "ledger", *, fail_on: type | None = None) -> None:
        self.name = name
        self.fail_on = fail_on

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        for item in items:
            if self.fail_on is not None and isinstance(item.event, self.fail_on):
                raise RuntimeError("cannot fold this event")
        tx.executemany(
            "INSERT INTO test_ledger (position, name) VALUES (?, ?)",
            [(item.position, self.name) for item in items],
        )

    def forget(self) -> None:
        pass


@pytest.fixture
def ledger_table(world: World) -> None:
    with world.databases.views.transaction() as tx:
        tx.execute(
            "CREATE TABLE test_ledger (position BIGINT NOT NULL, name TEXT NOT NULL, "
            "PRIMARY KEY (name, position))"
        )


def applied(world: World, name: str = "ledger") -> list[int]:
    with world.databases.views.snapshot() as tx:
        rows = tx.fetchall("SELECT position FROM test_ledger WHERE name = ? ORDER BY 1", (name,))
    return [int(r[0]) for r in rows]


def head(world: World) -> int:
    return int(world.app.recorder.max_notification_id() or 0)


def make_history(world: World, clients: int = 3) -> None:
    for _ in range(clients):
        client = world.register(GP)
        world.relate(client, SOCIAL_WORKER)
        world.note(client, GP, "History")


def test_the_source_reads_the_same_pages_as_the_recorder(world: World) -> None:
    # On PostgreSQL the source has a binary cursor of its own: every page (positions,
    # ids, versions, topics, stored bytes) must be the library's page, and decode alike.
    make_history(world, clients=4)
    source = EventLogSource(world.app)
    last = head(world)
    assert last > 20
    for after, limit in [(0, 1), (0, 7), (5, 3), (last - 2, 10), (last, 5), (last + 10, 5)]:
        ours = list(source.notifications(after, limit))
        theirs = list(
            world.app.recorder.select_notifications(
                start=after, limit=limit, inclusive_of_start=False
            )
        )
        assert ours == theirs
        assert [type(n.state) for n in ours] == [bytes] * len(ours)
    envelopes = source.read(0, last)
    assert [e.position for e in envelopes] == list(range(1, last + 1))
    events = world.app.recorder.select_notifications(start=1, limit=last)
    assert [e.event for e in envelopes] == [world.app.mapper.to_domain_event(n) for n in events]


@pytest.mark.usefixtures("ledger_table")
def test_every_event_is_applied_once_in_batches_and_ignored_events_advance(world: World) -> None:
    make_history(world)
    runner = ProjectionRunner(
        EventLogSource(world.app),
        world.databases.views,
        [Ledger(), DirectoryProjection()],
        page_size=4,
    )

    runner.catch_up()

    assert applied(world) == list(range(1, head(world) + 1))
    # The directory ignores client events, yet its position reached the head.
    assert runner.positions() == {"ledger": head(world), "directory": head(world)}


@pytest.mark.usefixtures("ledger_table")
def test_a_failing_projection_stops_alone_never_skips_and_resumes_after_a_fix(
    world: World,
) -> None:
    make_history(world)
    failing = Ledger("fragile", fail_on=ClientRecord.ContributionRecorded)
    runner = ProjectionRunner(
        EventLogSource(world.app), world.databases.views, [failing, Ledger()], page_size=5
    )

    with pytest.raises(ProjectionFailed) as stopped:
        runner.catch_up()

    first_note = min(
        e.position
        for e in EventLogSource(world.app).read(0, 1000)
        if isinstance(e.event, ClientRecord.ContributionRecorded)
    )
    assert stopped.value.name == "fragile"
    assert "RuntimeError" in stopped.value.error
    assert applied(world) == list(range(1, head(world) + 1))  # the other one carried on
    assert applied(world, "fragile") == list(range(1, runner.positions()["fragile"] + 1))
    assert runner.positions()["fragile"] < first_note
    status = {s.name: s for s in runner.status()}
    assert status["fragile"].failed
    assert status["fragile"].lag > 0
    assert not status["ledger"].failed
    with world.databases.views.snapshot() as tx:
        error = tx.scalar(f"SELECT error FROM {TRACKING_TABLE} WHERE name = 'fragile'")
    assert error is not None
    assert "RuntimeError" in error

    fixed = ProjectionRunner(
        EventLogSource(world.app), world.databases.views, [Ledger("fragile"), Ledger()]
    )
    fixed.catch_up()
    assert applied(world, "fragile") == list(range(1, head(world) + 1))


@pytest.mark.usefixtures("ledger_table")
def test_two_runners_racing_over_the_same_views_never_apply_a_batch_twice(world: World) -> None:
    make_history(world, clients=8)
    runners = [
        ProjectionRunner(EventLogSource(world.app), world.databases.views, [Ledger()], page_size=3)
        for _ in range(2)
    ]
    errors: list[BaseException] = []

    def run(runner: ProjectionRunner) -> None:
        try:
            while runner.run_once():
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert all(not r.failures() for r in runners)
    assert applied(world) == list(range(1, head(world) + 1))


def test_a_read_can_wait_for_the_position_a_command_returned(world: World) -> None:
    assert world.runner is not None
    world.runner.start()
    client = world.register(GP)
    result = world.app.record_contribution(
        world.caller(GP), client, heading="History", text="x", occurred_at=world.tick()
    )

    assert world.reads.wait_for(result.position, timeout=10)
    assert [e.entry_id for e in world.reads.client_slice(world.caller(GP), client).entries] == [
        result.id
    ]
    assert not world.reads.wait_for(result.position + 1000, timeout=0.05)


def test_waiting_without_an_in_process_runner_reads_the_tracking_table(world: World) -> None:
    from projections.repository import ReadRepository

    detached = ReadRepository(world.app, world.databases.views, settings=world.config)
    client = world.register(GP)
    target = head(world)
    assert not detached.wait_for(target, timeout=0.05)
    world.project()
    assert detached.wait_for(target, timeout=1)
    readiness = detached.readiness()
    assert readiness.ready
    assert readiness.max_lag == 0
    assert readiness.head == target
    assert client


def test_readiness_reports_lag_and_failures(world: World) -> None:
    make_history(world, clients=1)
    readiness = world.reads.readiness()
    assert readiness.ready
    assert readiness.max_lag == head(world)
    world.project()
    assert world.reads.readiness().max_lag == 0


@pytest.mark.postgres_only  # LISTEN/NOTIFY is PostgreSQL's; the SQLite runner polls
def test_on_postgresql_a_notify_wakes_an_idle_worker(world: World) -> None:
    assert world.settings.postgres is not None
    channel = EventLogSource(world.app).channel()
    assert channel == "carerecord_events"
    from projections.registry import view_projections

    config = ProjectionSettings(poll_seconds=60.0)  # only a NOTIFY can wake it in time
    runner = ProjectionRunner(
        EventLogSource(world.app),
        world.databases.views,
        view_projections(world.databases.views, config),
        poll_seconds=config.poll_seconds,
        waker=Waker(world.settings, channel),
    )
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,))
    thread.start()
    try:
        assert runner.wait_for(head(world), timeout=30)
        # Let it go idle (sleeping up to a minute): a command's NOTIFY must wake it.
        assert runner.wait_for(head(world), timeout=1, wake=False)
        client = world.register(GP)
        assert runner.wait_for(head(world), timeout=10, wake=False), "NOTIFY did not wake it"
        assert client
    finally:
        stop.set()
        runner.wake()
        thread.join(10)
