"""Rebuild equality: views rebuilt from zero equal the views maintained incrementally.

The history is the benchmark's generator at test size (more than 10,000 events): consents
granted, refused, withdrawn and granted again, restrictions placed and lifted, amendments,
entries in error, alerts, referrals, break-glass, relationships started and ended, roles
reassigned, a protocol change, and idempotency keys saved with some contributions (every
view ignores them, its position still advancing past them). The incremental views follow
the history while it is written, in small irregular batches; the rebuild reads it all in
large ones.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.utils import get_topic
from typer.testing import CliRunner

from bench.synthetic import Spec, generate
from carerecord.application import CareRecord
from carerecord.client_record import ClientRecord
from carerecord.db import Database, Databases, SQLiteDatabase
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from entrypoint.cli import app as cli
from projections.audience.reader import (
    FeedRow,
    PostgresAudienceViewReader,
    SQLiteAudienceViewReader,
)
from projections.audience.store import FEED_CHUNK, unpack_feed
from projections.engine.errors import ProjectionFailed
from projections.engine.framework import TRACKING_TABLE, reset_views
from projections.engine.runner import EventLogSource, ProjectionRunner
from projections.engine.settings import ProjectionSettings
from projections.rebuild import (
    _copy_scratch,
    _scratch_views,
    rebuild,
    rebuild_in_workers,
    worker_groups,
)
from projections.registry import VIEW_NAMES, view_projections, view_runner

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
    """Every row of every view table, in a canonical order. The feed is compared item by
    item: how its items are cut into rows follows the batches, which a rebuild changes."""
    tables = [t for p in view_projections(views, ProjectionSettings()) for t in p.tables]
    with views.snapshot() as tx:
        dumped = {
            table: sorted(
                (tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                 for row in tx.fetchall(f"SELECT * FROM {table}")),
                key=repr,
            )
            for table in tables if table != "av_feed"
        }  # fmt: skip
        dumped["av_feed"] = [
            (int(audience), *item)
            for audience, items in tx.fetchall(
                "SELECT audience_id, items FROM av_feed ORDER BY audience_id, last_seq"
            )
            for item in unpack_feed(items)
        ]
    return dumped


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
        app,
        Spec(events=10_500, clients=90, active=25, save_every=250, churn=6, keyed=0.05),
        follow,
    )
    runner.catch_up()
    counts = report.counts
    assert report.events >= 10_000
    for kind in ("consent_withdrawn", "restriction", "restriction_lifted", "amendment",
                 "in_error", "alert_resolved", "break_glass", "relationship_ended",
                 "roles_reassigned", "idempotency_key"):  # fmt: skip
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
    assert [views for views, _ in in_workers.workers] == worker_groups(VIEW_NAMES, 2)
    assert all(seconds > 0 for _, seconds in in_workers.workers)
    assert in_workers.events >= head
    rebuilt_in_workers = dump(databases.views)
    for table in incremental:
        assert rebuilt_in_workers[table] == incremental[table], table
    assert all(positions(databases.views)[name] == head for name in VIEW_NAMES)
    assert seen == sorted(seen)
    assert seen[-1] == head
    assert len(seen) > 2  # the slowest worker's progress, page by page


def test_views_kept_with_bounded_caches_equal_the_rebuild_and_hold_no_entry_text(
    store: tuple[CareRecord, Databases], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory bounds that drop state (the audience views' signature registries starting
    again, cached working states keeping no entry text) change nothing in the views."""
    import projections.audience.views as audience_views

    monkeypatch.setattr(audience_views, "REGISTRY_LIMIT", 30)  # restarts every few batches
    app, databases = store
    runner = view_runner(app, databases.views, ProjectionSettings(), page_size=61)
    views = next(p for p in runner.projections if p.name == audience_views.NAME)
    assert isinstance(views, audience_views.AudienceViewsProjection)
    resets: list[int] = []
    reset = audience_views.Context.reset_registries

    def counted(ctx: audience_views.Context) -> None:
        resets.append(1)
        reset(ctx)

    monkeypatch.setattr(audience_views.Context, "reset_registries", counted)

    def follow(done: int, total: int) -> None:
        runner.run_once()
        cached = [s for w in views._cache.values() for s in w.entries.values()]
        assert all(s.text == "" for s in cached)  # written, then dropped from memory

    generate(app, Spec(events=3_000, clients=40, active=15, save_every=100, churn=4), follow)
    runner.catch_up()
    assert len(resets) > 3
    incremental = dump(databases.views)
    assert any(row for row in incremental["av_entries"])
    rebuild(app, databases.views, ProjectionSettings())
    rebuilt = dump(databases.views)
    for table in incremental:
        assert rebuilt[table] == incremental[table], table


def feed_rows(views: Database) -> list[tuple[int, int, int, bytes]]:
    with views.snapshot() as tx:
        return [
            (int(a), int(first), int(last), bytes(items))
            for a, first, last, items in tx.fetchall(
                "SELECT audience_id, first_seq, last_seq, items FROM av_feed "
                "ORDER BY audience_id, last_seq"
            )
        ]


def read_feeds(views: Database) -> dict[int, list[FeedRow]]:
    """Every audience's whole feed, through the reader the API reads it with."""
    kind = SQLiteAudienceViewReader if views.dialect == "sqlite" else PostgresAudienceViewReader
    reader = kind(views)
    with views.snapshot() as tx:
        audiences = [int(r[0]) for r in tx.fetchall("SELECT audience_id FROM av_audiences")]
    return {a: reader.feed_rows(a, 0, 1_000_000) for a in sorted(audiences)}


def test_a_worker_following_the_log_event_by_event_writes_the_feed_rows_a_rebuild_writes(
    store: tuple[CareRecord, Databases],
) -> None:
    app, databases = store
    runner = view_runner(app, databases.views, ProjectionSettings(), page_size=1)

    def follow(done: int, total: int) -> None:
        while runner.run_once():  # one event per batch, as a worker keeping up live does
            pass

    generate(app, Spec(events=2_500, clients=30, active=10, save_every=50, churn=4), follow)
    follow(0, 0)
    live_rows, live_feeds = feed_rows(databases.views), read_feeds(databases.views)
    items = sum(len(rows) for rows in live_feeds.values())
    assert items > 2 * FEED_CHUNK
    assert max(len(rows) for rows in live_feeds.values()) > FEED_CHUNK  # several rows
    # Full rows but each audience's last: as many as the items need, however they came.
    assert len(live_rows) == sum(-(-len(rows) // FEED_CHUNK) for rows in live_feeds.values())

    rebuild(app, databases.views, ProjectionSettings())

    assert feed_rows(databases.views) == live_rows
    assert read_feeds(databases.views) == live_feeds


def test_the_audience_views_get_a_worker_of_their_own() -> None:
    rest = tuple(n for n in VIEW_NAMES if n != "audience_views")
    assert worker_groups(VIEW_NAMES, 2) == [("audience_views",), rest]
    assert worker_groups(VIEW_NAMES, 3) == [("audience_views",), rest]
    assert worker_groups(VIEW_NAMES, 1) == [("audience_views", *rest)]
    assert worker_groups(("referrals", "concerns"), 4) == [("referrals", "concerns")]
    assert worker_groups(("audience_views",), 2) == [("audience_views",)]


def append_inconsistent_event(app: CareRecord) -> None:
    """Put in the log, past the domain's guards, a referral accepted that was never sent:
    the views that fold referral events cannot apply it (a real, unforeseen log state)."""
    registered = get_topic(ClientRecord.Registered)
    first = next(
        n for n in app.recorder.select_notifications(start=1, limit=1_000) if n.topic == registered
    )
    record = app.load_client(first.originator_id)
    accepted = ClientRecord.ReferralAccepted(
        originator_id=record.id,
        originator_version=record.version + 1,
        timestamp=datetime(2030, 1, 1, tzinfo=UTC),
        referral_id="never-sent",
        note="",
        by="nobody",
        agency_id="nowhere",
        at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    app.recorder.insert_events([app.mapper.to_stored_event(accepted)])


def test_a_projection_failing_in_a_worker_fails_the_rebuild_and_the_others_finish(
    store: tuple[CareRecord, Databases], settings: Settings
) -> None:
    app, databases = store
    generate(app, Spec(events=2_000, clients=20, active=10))
    append_inconsistent_event(app)
    head = int(app.recorder.max_notification_id() or 0)

    with pytest.raises(ProjectionFailed) as failure:
        rebuild_in_workers(settings, ProjectionSettings(), page_size=500, workers=2)

    # Both workers met the event: the audience views (alone in theirs) and the referrals
    # (in the other) stopped before it, recorded why, and everything else was finished.
    assert failure.value.name in {"audience_views", "referrals", "involvement"}
    reached = positions(databases.views)
    with databases.views.snapshot() as tx:
        failed = {
            str(r[0])
            for r in tx.fetchall(f"SELECT name FROM {TRACKING_TABLE} WHERE error IS NOT NULL")
        }
    assert {"audience_views", "referrals"} <= failed
    for name in failed:
        assert reached[name] < head, name
    for name in set(VIEW_NAMES) - failed:
        assert reached[name] == head, name
    assert {"caseload", "usage_contributions", "directory"}.isdisjoint(failed)


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


def command_env(settings: Settings) -> dict[str, str]:
    """The environment that points ``carerecord`` commands at this store."""
    env = {
        "CARERECORD_DATA_DIR": str(settings.data_dir),
        "CARERECORD_IDENTIFIER_KEY": base64.b64encode(settings.identifier_key or b"").decode(),
    }
    pg = settings.postgres
    if pg is not None:
        env["CARERECORD_DATABASE_URL"] = f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.dbname}"
        env["CARERECORD_POSTGRES_SCHEMA"] = pg.schema
    return env


def test_the_rebuild_command_uses_worker_processes_and_reports_the_rate(
    store: tuple[CareRecord, Databases], settings: Settings
) -> None:
    app, databases = store
    generate(app, Spec(events=1_500, clients=15, active=8))
    view_runner(app, databases.views, ProjectionSettings()).catch_up()
    before = dump(databases.views)

    result = CliRunner().invoke(cli, ["rebuild", "--workers", "2"], env=command_env(settings))

    assert result.exit_code == 0, result.output
    assert "Rebuilt directory, audience_views" in result.output
    assert "events/s" in result.output
    assert dump(databases.views) == before
    refused = CliRunner().invoke(cli, ["rebuild", "--workers", "0"], env=command_env(settings))
    assert refused.exit_code == 2


def test_a_scratch_copy_is_dropped_when_a_live_runner_rebuilt_those_views_meanwhile(
    tmp_path: Path, clock: Any
) -> None:
    # SQLite: a rebuild worker writes its views into a scratch file, copied into the views
    # file at the end. If a live worker rebuilt the same (emptied) views in the meantime,
    # the copy must be dropped: its rows would collide with the live runner's rows.
    settings = Settings(data_dir=tmp_path / "data", identifier_key=b"k" * 32)
    migrate(settings)
    app = open_care_record(settings, clock=clock)
    databases = Databases(settings)
    try:
        generate(app, Spec(events=1_500, clients=20, active=8, save_every=100))
        config = ProjectionSettings()
        groups = worker_groups(VIEW_NAMES, 2)
        light = groups[1]
        reset_views(databases.views, view_projections(databases.views, config, light))

        path = _scratch_views(tmp_path / "scratch.sqlite3")
        scratch = SQLiteDatabase(path)
        try:
            ProjectionRunner(
                EventLogSource(app), scratch, view_projections(scratch, config, light)
            ).catch_up()
        finally:
            scratch.close()
        head = int(app.recorder.max_notification_id() or 0)

        view_runner(app, databases.views, config, names=light).catch_up()  # the live one
        live = dump(databases.views)
        assert len(live["inv_involvements"]) > 10

        _copy_scratch(settings, config, groups, [None, path])

        assert dump(databases.views) == live
        assert all(positions(databases.views)[name] == head for name in light)

        # With nobody else writing, the same scratch file is copied in, row for row.
        reset_views(databases.views, view_projections(databases.views, config, light))
        assert dump(databases.views)["inv_involvements"] == []
        _copy_scratch(settings, config, groups, [None, path])
        assert dump(databases.views) == live
        assert all(positions(databases.views)[name] == head for name in light)
    finally:
        databases.close()
        app.close()
