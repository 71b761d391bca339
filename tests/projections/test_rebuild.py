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
from projections.framework import TRACKING_TABLE
from projections.rebuild import rebuild
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


def test_a_rebuilt_view_equals_the_incrementally_maintained_one(
    store: tuple[CareRecord, Databases],
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
    with databases.views.snapshot() as tx:
        positions = {
            r[0]: r[1] for r in tx.fetchall(f"SELECT name, position FROM {TRACKING_TABLE}")
        }
    head = int(app.recorder.max_notification_id() or 0)
    assert all(positions[name] == head for name in VIEW_NAMES)


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
