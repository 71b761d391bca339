"""Runners' heartbeats: written from the loop at most every interval, aged by the database's
clock, and read by readiness as "a runner is live" only while it runs or advances."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from waiting import wait_until

from carerecord.db import Database, Databases
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from projections.engine.heartbeat import (
    HEARTBEAT_TABLE,
    KEEP_SECONDS,
    RETRYING,
    RUNNING,
    STOPPED,
    VIEWS,
    Heartbeat,
    WorkerBeat,
    now_sql,
    read_beats,
    workers_state,
)
from projections.engine.settings import ProjectionSettings
from projections.registry import view_runner


@pytest.fixture
def views(settings: Settings) -> Iterator[Database]:
    migrate(settings)
    databases = Databases(settings)
    try:
        yield databases.views
    finally:
        databases.close()


def test_a_beat_is_written_when_due_or_when_the_status_changes(views: Database) -> None:
    beat = Heartbeat(views, VIEWS, every=60)
    assert beat.beat(10)
    assert not beat.beat(11), "not due again for a minute"
    assert beat.beat(11, RETRYING), "a new status is written at once"
    (row,) = read_beats(views)
    assert (row.worker_id, row.kind, row.status, row.position) == (
        beat.worker_id,
        VIEWS,
        RETRYING,
        11,
    )
    assert 0 <= row.seen_ago < 5
    assert beat.beat(11, RUNNING, force=True)
    assert read_beats(views)[0].status == RUNNING


def test_advancing_is_told_apart_from_merely_reporting(views: Database) -> None:
    beat = Heartbeat(views, VIEWS, every=60)
    beat.beat(5, force=True)
    views_now = now_sql(views.dialect)
    with views.transaction() as tx:  # as if both happened a minute ago
        tx.execute(
            f"UPDATE {HEARTBEAT_TABLE} "
            f"SET seen_at = {views_now} - 60, advanced_at = {views_now} - 60"
        )
    beat.beat(5, force=True)  # reports again, same position
    (row,) = read_beats(views)
    assert row.seen_ago < 5
    assert row.advanced_ago >= 59
    beat.beat(6, force=True)
    assert read_beats(views)[0].advanced_ago < 5


def test_rows_of_long_gone_workers_are_pruned(views: Database) -> None:
    views_now = now_sql(views.dialect)
    with views.transaction() as tx:
        tx.execute(
            f"INSERT INTO {HEARTBEAT_TABLE} (worker_id, kind, status, position, started_at, "
            f"seen_at, advanced_at) VALUES ('gone', ?, ?, 1, 0, {views_now} - ?, 0)",
            (VIEWS, STOPPED, KEEP_SECONDS + 60),
        )
    Heartbeat(views, VIEWS, every=1).beat(1)
    assert "gone" not in {b.worker_id for b in read_beats(views)}


def _beat(status: str, seen: float, advanced: float, kind: str = VIEWS) -> WorkerBeat:
    return WorkerBeat("w", kind, status, 1, seen, advanced)


@pytest.mark.parametrize(
    ("beats", "behind", "expected"),
    [
        ((), False, "ok"),  # nothing to do: no worker needed
        ((), True, "stalled (no live worker)"),
        ((_beat(RUNNING, 1, 100),), True, "ok"),  # running, idle or mid-page
        ((_beat(RUNNING, 20, 20),), True, "stalled (last heartbeat 20 s ago)"),
        ((_beat(RETRYING, 1, 2),), True, "ok"),  # failing now and then, still advancing
        ((_beat(RETRYING, 1, 60),), True, "stalled (last heartbeat 1 s ago)"),
        ((_beat(STOPPED, 1, 1),), True, "stalled (no live worker)"),
        ((_beat(RUNNING, 1, 1, kind="access_index"),), True, "stalled (no live worker)"),
    ],
)
def test_readiness_wants_a_live_views_runner_only_while_the_views_are_behind(
    beats: tuple[WorkerBeat, ...], behind: bool, expected: str
) -> None:
    assert workers_state(beats, behind=behind, window=15) == expected


def test_a_following_runner_beats_while_idle_and_says_when_it_stops(
    settings: Settings, views: Database
) -> None:
    app = open_care_record(settings)
    runner = view_runner(
        app,
        views,
        ProjectionSettings(poll_seconds=0.02, heartbeat_seconds=0.05),
        heartbeat=True,
    )
    thread = threading.Thread(target=runner.run_forever, daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(read_beats(views)) == 1, what="the first heartbeat")
        first = read_beats(views)[0]
        assert first.status == RUNNING
        with views.transaction() as tx:  # age it: an idle runner must write it again
            tx.execute(f"UPDATE {HEARTBEAT_TABLE} SET seen_at = seen_at - 30")
        wait_until(lambda: read_beats(views)[0].seen_ago < 5, what="an idle heartbeat")
    finally:
        runner.stop()
        thread.join(10)
        app.close()
    assert read_beats(views)[0].status == STOPPED
