"""Kill the projection worker (a real process, SIGKILL) in the middle of a batch and
restart it: no event is processed twice and none is skipped.

"In the middle of a batch" is observed, not hoped for: on SQLite the worker holds the
views file's write lock (a batch transaction is open); on PostgreSQL its backend holds
locks on the view tables. The restarted worker's views must equal views rebuilt from
zero, which they would not if any event had been applied twice (duplicate feed items,
rows) or skipped.
"""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_rebuild import dump

from bench.synthetic import Spec, generate
from carerecord.application import CareRecord
from carerecord.db import Databases
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from projections.engine.framework import TRACKING_TABLE
from projections.engine.settings import ProjectionSettings
from projections.rebuild import rebuild
from projections.registry import VIEW_NAMES

pytestmark = pytest.mark.slow
CLI = Path(sys.executable).with_name("carerecord")


@pytest.fixture
def store(settings: Settings, clock: Any) -> Iterator[tuple[CareRecord, Databases]]:
    migrate(settings)
    app = open_care_record(settings, clock=clock)
    databases = Databases(settings)
    generate(app, Spec(events=12_000, clients=120, active=30))
    try:
        yield app, databases
    finally:
        databases.close()
        app.close()


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CARERECORD_DATA_DIR=str(settings.data_dir),
        CARERECORD_IDENTIFIER_KEY=base64.b64encode(settings.identifier_key or b"").decode(),
        CARERECORD_PROJECTION_PAGE_SIZE="400",
        CARERECORD_PROJECTION_POLL_SECONDS="0.05",
        CARERECORD_CHECKPOINT_EVERY_SECONDS="0",  # the views are under test, not checkpoints
    )
    if settings.postgres is not None:
        pg = settings.postgres
        env["CARERECORD_DATABASE_URL"] = f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.dbname}"
        env["CARERECORD_POSTGRES_SCHEMA"] = pg.schema
    return env


def positions(databases: Databases) -> dict[str, int]:
    with databases.views.snapshot() as tx:
        rows = tx.fetchall(f"SELECT name, position FROM {TRACKING_TABLE}")
    return {str(r[0]): int(r[1]) for r in rows}


def batch_open(settings: Settings, databases: Databases) -> bool:
    """Is a projection batch transaction open right now (in another process)?"""
    if settings.postgres is None:
        conn = sqlite3.connect(str(settings.sqlite_path("views")), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True  # the write lock is held
        finally:
            conn.close()
    with databases.events.snapshot() as tx:
        held = tx.scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? "
            "AND c.relname = 'av_entries' AND l.mode = 'RowExclusiveLock' AND l.granted",
            (settings.postgres.schema,),
        )
    return bool(held)


def test_a_worker_killed_mid_batch_resumes_without_duplicates_or_gaps(
    settings: Settings, store: tuple[CareRecord, Databases]
) -> None:
    app, databases = store
    head = int(app.recorder.max_notification_id() or 0)
    env = worker_env(settings)
    worker = subprocess.Popen([str(CLI), "project"], env=env)
    killed_mid_batch = False
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and worker.poll() is None:
            progress = positions(databases).get("audience_views", 0)
            if 0 < progress < head * 0.7 and batch_open(settings, databases):
                worker.send_signal(signal.SIGKILL)
                killed_mid_batch = True
                break
    finally:
        if worker.poll() is None and not killed_mid_batch:
            worker.kill()
        worker.wait(30)
    assert killed_mid_batch, "never caught the worker inside a batch"
    assert worker.returncode == -signal.SIGKILL
    at_kill = positions(databases)
    assert all(pos < head for name, pos in at_kill.items() if name in VIEW_NAMES)

    restarted = subprocess.run(
        [str(CLI), "project", "--once"], env=env, capture_output=True, text=True, timeout=300
    )
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert all(positions(databases)[name] == head for name in VIEW_NAMES)
    resumed = dump(databases.views)

    rebuild(app, databases.views, ProjectionSettings())
    rebuilt = dump(databases.views)
    for table in rebuilt:
        assert resumed[table] == rebuilt[table], table
