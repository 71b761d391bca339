"""Rebuild equality: views rebuilt from zero equal the views maintained incrementally.

The history is the benchmark's generator at test size (more than 10,000 events): consents
granted, refused, withdrawn and granted again, restrictions placed and lifted, amendments,
entries in error, alerts, referrals, break-glass, relationships started and ended, roles
reassigned and a protocol change. The incremental views follow the history while it is
written, in small irregular batches; the rebuild reads it all in large ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.synthetic import Spec, generate
from carerecord.application import CareRecord
from carerecord.db import Database, Databases
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from projections.errors import ProjectionFailed
from projections.framework import TRACKING_TABLE
from projections.rebuild import rebuild, rebuild_in_workers, worker_groups
from projections.registry import VIEW_NAMES, view_projections, view_runner
from projections.settings import ProjectionSettings

pytestmark = pytest.mark.slow


@pytest.fixture
def store(settings: Settings, clock: Any) -> Iterator[tuple[CareRecord, Databases]]:
    migrate(settings)
    app = open_care_record(settings, clock=clock)
    databases = Databases(settings)
    try:
        yield app, databases
    finally:
        databases.close()
        app.close()


def dump(views: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view table, in a canonical order."""
    tables = [t for p in view_projections(views, ProjectionSettings()) for t in p.tables]
    with views.snapshot() as tx:
        return {
            table: sorted(
                (tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                 for row in tx.fetchall(f"SELECT * FROM {table}")),
                key=repr,
            )
            for table in tables
        }  # fmt: skip


def positions(views: Database) -> dict[str, int]:
    with views.snapshot() as tx:
        return {
            str(r[0]): int(r[1])
            for r in tx.fetchall(f"SELECT name, position FROM {TRACKING_TABLE}")
        }


def test_a_rebuilt_view_in_this_process_or_in_worker_processes_equals_the_incremental_one(
    store: tuple[CareRecord, Databases], settings: Settings
) -> None:
    app, databases = store
    # A tiny cache: working states are dropped and read back from the tables all the time.
    config = ProjectionSettings(cache_clients=5)
    runner = view_runner(app, databases.views, config, page_size=97)

    def follow(done: int, total: int) -> None:
        runner.run_once()  # keep up as the history is written, a page at a time

    report = generate(
        app, Spec(events=10_500, clients=90, active=25, save_every=250, churn=6), follow
    )
    runner.catch_up()
    counts = report.counts
    assert report.events >= 10_000
    for kind in ("consent_withdrawn", "restriction", "restriction_lifted", "amendment",
                 "in_error", "alert_resolved", "break_glass", "relationship_ended",
                 "roles_reassigned"):  # fmt: skip
        assert counts.get(kind, 0) > 0, kind
    assert counts["consent"] > counts["client"]  # granted again after withdrawals
    incremental = dump(databases.views)
    assert len(incremental["av_visible"]) > 500  # (client, audience) views
    assert len(incremental["av_feed"]) > 10_000

    rebuilt_report = rebuild(app, databases.views, ProjectionSettings())

    assert rebuilt_report.names == VIEW_NAMES
    rebuilt = dump(databases.views)
    for table in incremental:
        assert rebuilt[table] == incremental[table], table
    head = int(app.recorder.max_notification_id() or 0)
    assert all(positions(databases.views)[name] == head for name in VIEW_NAMES)

    # Two worker processes (the audience views in one, the rest in the other), small pages.
    seen: list[int] = []
    in_workers = rebuild_in_workers(
        settings, ProjectionSettings(), page_size=1_500, workers=2,
        progress=lambda done, total: seen.append(done),
    )  # fmt: skip

    assert in_workers.names == VIEW_NAMES
    assert in_workers.events >= head
    rebuilt_in_workers = dump(databases.views)
    for table in incremental:
        assert rebuilt_in_workers[table] == incremental[table], table
    assert all(positions(databases.views)[name] == head for name in VIEW_NAMES)
    assert seen == sorted(seen)
    assert seen[-1] == head
    assert len(seen) > 2  # the slowest worker's progress, page by page


def test_the_audience_views_get_a_worker_of_their_own() -> None:
    rest = tuple(n for n in VIEW_NAMES if n != "audience_views")
    assert worker_groups(VIEW_NAMES, 2) == [("audience_views",), rest]
    assert worker_groups(VIEW_NAMES, 3) == [("audience_views",), rest]
    assert worker_groups(VIEW_NAMES, 1) == [("audience_views", *rest)]
    assert worker_groups(("referrals", "concerns"), 4) == [("referrals", "concerns")]
    assert worker_groups(("audience_views",), 2) == [("audience_views",)]


def refuse_inserts(views: Database, table: str) -> None:
    """A trigger that makes every insert into ``table`` fail (a real database error)."""
    with views.transaction() as tx:
        if views.dialect == "postgres":
            tx.execute(
                "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
            )
            tx.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
            )
        else:
            tx.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )


def test_a_projection_failing_in_a_worker_fails_the_rebuild_and_the_others_finish(
    store: tuple[CareRecord, Databases], settings: Settings
) -> None:
    app, databases = store
    generate(app, Spec(events=2_000, clients=20, active=10))
    head = int(app.recorder.max_notification_id() or 0)
    refuse_inserts(databases.views, "rf_referrals")

    with pytest.raises(ProjectionFailed) as failure:
        rebuild_in_workers(settings, ProjectionSettings(), page_size=500, workers=2)

    assert failure.value.name == "referrals"
    reached = positions(databases.views)
    assert reached["referrals"] < head
    assert reached["audience_views"] == head  # the other worker's views were finished
    assert reached["concerns"] == head  # and so were the failing one's other views
    with databases.views.snapshot() as tx:
        error = tx.scalar(f"SELECT error FROM {TRACKING_TABLE} WHERE name = 'referrals'")
    assert error is not None


def test_rebuilding_one_view_leaves_the_others_alone(
    store: tuple[CareRecord, Databases],
) -> None:
    app, databases = store
    generate(app, Spec(events=2_000, clients=20, active=10))
    view_runner(app, databases.views, ProjectionSettings()).catch_up()
    before = dump(databases.views)

    report = rebuild(app, databases.views, ProjectionSettings(), names=["referrals"])

    assert report.names == ("referrals",)
    assert dump(databases.views) == before
