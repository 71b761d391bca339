"""The long-running loops of a worker ride out their database: a restart, a crash and a
freeze are waited out, and each loop resumes by itself (same thread, no restart by hand).

The projection runner (and its LISTEN waker), the audit index runner and the checkpoint
timer run here in threads, exactly as ``carerecord project`` runs them, against the
private cluster.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pg_cluster import PgCluster
from waiting import wait_until

from carerecord.access_log import AccessLog, AccessRecord
from carerecord.application import CareRecord
from carerecord.audit.checkpoints import load_checkpoints
from carerecord.db import Databases
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from projections.audit.index import INDEX
from projections.audit.registry import GovernanceTasks
from projections.audit.settings import GovernanceSettings
from projections.engine.framework import TRACKING_TABLE
from projections.engine.heartbeat import RUNNING, VIEWS, read_beats
from projections.engine.runner import ProjectionRunner
from projections.engine.settings import ProjectionSettings
from projections.registry import view_runner

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
FREEZE_SECONDS = 3.0
RECOVERY = 30.0
FAULTS = ("restart", "outage", "crash", "freeze")


@dataclass
class Worker:
    settings: Settings
    app: CareRecord
    databases: Databases
    runner: ProjectionRunner
    thread: threading.Thread

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def views_at(self) -> int:
        rows = self.databases.views.read(f"SELECT MIN(position) FROM {TRACKING_TABLE}")
        return int(rows[0][0] or 0)


@pytest.fixture
def worker(healthy: PgCluster, tmp_path: Path) -> Iterator[Worker]:
    settings = Settings(
        data_dir=tmp_path, postgres=healthy.new_database(), identifier_key=b"k" * 32
    )
    migrate(settings)
    app = open_care_record(settings)
    databases = Databases(settings)
    config = ProjectionSettings(poll_seconds=0.05, heartbeat_seconds=0.2)
    runner = view_runner(app, databases.views, config, core=settings, listen=True, heartbeat=True)
    thread = threading.Thread(target=runner.run_forever, name="runner-under-test", daemon=True)
    thread.start()
    try:
        yield Worker(settings, app, databases, runner, thread)
    finally:
        runner.stop()
        thread.join(30)
        databases.close()
        app.close()


def register(app: CareRecord, count: int = 3) -> None:
    for _ in range(count):
        code = f"a-{uuid.uuid4().hex[:10]}"
        app.register_agency(
            code=code,
            name=f"Agency {code}",
            sector="health",
            local_authority_area="north-shire",
            phone="01632 960000",
            email=f"{code}@example.org",
        )


def inflict(cluster: PgCluster, fault: str, noticed: Callable[[], bool]) -> None:
    """``restart``: ``pg_ctl restart -m fast`` (the pools absorb it); ``outage`` and
    ``crash``: stopped (``-m fast`` / ``-m immediate``) until the loops have ``noticed``
    (they are retrying), then started; ``freeze``: SIGSTOP for a few seconds."""
    if fault == "restart":
        cluster.restart("fast")
    elif fault in ("outage", "crash"):
        cluster.stop("fast" if fault == "outage" else "immediate")
        wait_until(noticed, timeout=RECOVERY, what=f"the loops to notice the {fault}")
        cluster.start()
    else:
        cluster.freeze()
        time.sleep(FREEZE_SECONDS)  # the fault itself: the server answers nothing meanwhile
        cluster.thaw()


def retrying(caplog: pytest.LogCaptureFixture, *needles: str) -> Callable[[], bool]:
    """Whether every loop named by ``needles`` has logged that it is waiting the outage out."""

    def seen() -> bool:
        messages = [r.getMessage() for r in caplog.records]
        return all(any(n in m for m in messages) for n in needles)

    return seen


def writes_after(cluster: PgCluster, action: Callable[[], None]) -> None:
    """Do ``action`` as soon as the server takes it (right after a crash it may still be
    recovering; the runner is not what is under test here)."""
    deadline = time.monotonic() + RECOVERY
    while True:
        try:
            action()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_projection_runner_and_its_waker_resume_after_each_fault(
    healthy: PgCluster, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="carerecord")
    register(worker.app)
    wait_until(lambda: worker.views_at() >= worker.head(), timeout=RECOVERY, what="catch-up")
    waker = worker.runner.waker
    assert waker is not None
    for fault in FAULTS:
        listened = waker.connections
        caplog.clear()
        noticed = retrying(caplog, "projection runner (events)", "projection listener")
        inflict(healthy, fault, noticed)
        writes_after(healthy, lambda: register(worker.app))
        head = worker.head()
        wait_until(
            lambda h=head: worker.views_at() >= h,  # type: ignore[misc]
            timeout=RECOVERY,
            what=f"the views after the {fault}",
        )
        assert worker.thread.is_alive(), f"the runner ended after the {fault}"
        assert not worker.runner.failures()
        if fault != "freeze":  # a frozen server keeps its connections: nothing to redo
            wait_until(
                lambda n=listened: waker.connections > n,  # type: ignore[misc]
                timeout=RECOVERY,
                what=f"the listener to listen again after the {fault}",
            )
        assert waker.alive
    beats = [b for b in read_beats(worker.databases.views) if b.kind == VIEWS]
    assert len(beats) == 1
    assert beats[0].status == RUNNING
    assert beats[0].seen_ago < 5


def _access_record() -> AccessRecord:
    return AccessRecord(
        access_id=str(uuid.uuid4()),
        at=datetime.now(UTC),
        request_id="fault-test",
        action="record.read",
        viewer_kind="practitioner",
        practitioner_id="nurse-ann",
        agency_id="community-health",
        profession="district_nurse",
        roles=("practitioner",),
        purpose="direct_care",
        basis="care_relationship",
        client_id=str(uuid.uuid4()),
        items=(),
        response_hash="0" * 64,
    )


def test_the_audit_index_and_the_checkpoint_timer_resume_after_each_fault(
    healthy: PgCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="carerecord")
    settings = Settings(
        data_dir=tmp_path, postgres=healthy.new_database(), identifier_key=b"k" * 32
    )
    migrate(settings)
    app = open_care_record(settings)
    databases = Databases(settings)
    access = AccessLog(databases.access)
    tasks = GovernanceTasks(
        app,
        settings,
        databases,
        ProjectionSettings(poll_seconds=0.05, heartbeat_seconds=0.2),
        GovernanceSettings(checkpoint_every_seconds=0.3, checkpoint_check_seconds=0.1),
        index=True,
    ).start()
    runner, timer = tasks.runner, tasks.timer
    assert runner is not None
    assert timer is not None
    thread = runner._thread
    assert thread is not None

    def indexed() -> int:
        rows = databases.access.read(
            f"SELECT position FROM {TRACKING_TABLE} WHERE name = ?", (INDEX,)
        )
        return int(rows[0][0]) if rows else 0

    def signed_at_head() -> bool:
        head = access.head()[0]
        return any(c.position >= head for c in load_checkpoints(databases, "access"))

    try:
        access.append([_access_record()])
        for fault in FAULTS:
            caplog.clear()
            noticed = retrying(caplog, "projection runner (access)", "checkpoint timer")
            inflict(healthy, fault, noticed)
            writes_after(healthy, lambda: access.append([_access_record()]))
            head = access.head()[0]
            wait_until(
                lambda h=head: indexed() >= h,  # type: ignore[misc]
                timeout=RECOVERY,
                what=f"the audit index after the {fault}",
            )
            wait_until(signed_at_head, timeout=RECOVERY, what=f"a checkpoint after the {fault}")
            wait_until(
                lambda: timer.last_error is None,
                timeout=RECOVERY,
                what=f"the timer to report healthy after the {fault}",
            )
            assert thread.is_alive(), f"the audit runner ended after the {fault}"
            assert not runner.failures()
    finally:
        tasks.close()
        databases.close()
        app.close()
