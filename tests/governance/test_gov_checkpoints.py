"""Checkpoints on a timer: a running API server signs checkpoints of both logs as they grow
(verifiable with the configured key), the timer refuses to sign over a broken chain, and
the projection worker builds the audit index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from gov_stack import FAST, GovStack, cli_env, fresh_store, signing_keys
from gov_world import NURSE, care_team_client, wait_until
from typer.testing import CliRunner

from carerecord.access_log import AccessLog, AccessRecord
from carerecord.audit.checkpoints import load_checkpoints, trusted_keys
from carerecord.audit.verify import verify_logs
from carerecord.db import Databases
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from entrypoint.cli import app as cli
from projections.audit.registry import CheckpointTimer, GovernanceTasks
from projections.audit.settings import GovernanceSettings
from projections.engine.settings import ProjectionSettings

READ = "query($c: ID!) { client(id: $c) { entries { items { entryId } } } }"


def _latest(gov: GovStack, log: str) -> int:
    found = load_checkpoints(gov.services.databases, log)
    return max((c.position for c in found), default=0)


def test_a_running_server_signs_checkpoints_of_both_logs_as_they_grow(gov: GovStack) -> None:
    client = care_team_client(gov.app, gov.clock())
    gov.wait_for_views()
    gov.gql(gov.token(NURSE), READ, c=client)
    access_head = gov.access_head()
    events_head = int(gov.app.recorder.max_notification_id() or 0)
    wait_until(
        lambda: _latest(gov, "access") >= access_head and _latest(gov, "events") >= events_head,
        what="checkpoints of both logs",
    )
    gov.gql(gov.token(NURSE), READ, c=client)  # the access log grows: a later checkpoint
    grown = gov.access_head()
    assert grown > access_head
    wait_until(lambda: _latest(gov, "access") >= grown, what="a checkpoint of the grown log")
    reports = verify_logs(gov.settings, gov.services.databases, trusted=trusted_keys(gov.settings))
    for report in reports:
        assert report.intact, report.to_json()
        assert report.checkpoints_valid == report.checkpoints >= 2
    timer = gov.tasks.timer
    assert timer is not None
    assert timer.signed >= 4
    assert timer.last_error is None


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Settings]:
    with fresh_store(backend, tmp_path) as settings:
        yield settings


def _records(count: int, start: int = 0) -> list[AccessRecord]:
    return [
        AccessRecord(
            access_id=str(uuid4()),
            at=datetime.now(UTC),
            request_id=f"r{n}",
            action="client.lookup",
            viewer_kind="practitioner",
            practitioner_id=NURSE.practitioner_id,
            agency_id=NURSE.agency_id,
            profession=NURSE.profession,
            roles=("practitioner",),
            purpose="direct_care",
            basis="care_relationship",
            client_id=None,
            items=(),
            response_hash="0" * 64,
        )
        for n in range(start, start + count)
    ]


def test_the_timer_signs_nothing_over_a_broken_chain(store: Settings) -> None:
    dbs = Databases(store)
    try:
        log = AccessLog(dbs.access)
        log.append(_records(3))
        timer = CheckpointTimer(store, dbs, FAST)
        assert {c.log for c in timer.run_once()} == {"events", "access"}
        signed = load_checkpoints(dbs, "access")
        log.append(_records(2, start=3))
        with dbs.access.transaction() as tx:  # an intruder rewrites a stored record
            tx.execute("UPDATE access_log SET response_hash = ? WHERE position = 4", ("f" * 64,))
        timer.every = timedelta(0)
        assert timer.run_once() == []
        assert timer.last_error == "CHAIN_BROKEN"
        assert load_checkpoints(dbs, "access") == signed
    finally:
        dbs.close()


def test_the_interval_is_configured_and_zero_turns_the_timer_off(store: Settings) -> None:
    configured = GovernanceSettings.from_env(
        {"CARERECORD_CHECKPOINT_EVERY_SECONDS": "120", "CARERECORD_BREAK_GLASS_REVIEW_HOURS": "24"}
    )
    assert configured.checkpoint_every == timedelta(minutes=2)
    assert configured.review_period == timedelta(hours=24)
    assert GovernanceSettings.from_env({}).checkpoint_every == timedelta(minutes=15)
    off = GovernanceSettings.from_env({"CARERECORD_CHECKPOINT_EVERY_SECONDS": "0"})
    assert off.checkpoint_every is None
    with pytest.raises(ValueError, match="REVIEW_HOURS"):
        GovernanceSettings.from_env({"CARERECORD_BREAK_GLASS_REVIEW_HOURS": "0"})
    app = open_care_record(store)
    dbs = Databases(store)
    try:
        tasks = GovernanceTasks(app, store, dbs, ProjectionSettings(), off, index=True)
        assert tasks.timer is None
        assert tasks.runner is not None
    finally:
        dbs.close()
        app.close()


def test_the_projection_worker_builds_the_audit_index(store: Settings) -> None:
    dbs = Databases(store)
    try:
        AccessLog(dbs.access).append(_records(4))
        result = CliRunner().invoke(cli, ["project", "--once"], env=cli_env(store))
        assert result.exit_code == 0, result.output
        with dbs.access.snapshot() as tx:
            tracked = dict(tx.fetchall("SELECT name, position FROM projection_tracking"))
            indexed = tx.scalar("SELECT COUNT(*) FROM ai_accesses")
        assert tracked["access_index"] == tracked["usage_reads"] == 4
        assert indexed == 4
    finally:
        dbs.close()


def test_in_production_the_worker_refuses_to_start_without_a_configured_checkpoint_key(
    store: Settings, tmp_path: Path
) -> None:
    production = {**cli_env(store), "CARERECORD_ENV": "production"}
    dbs = Databases(store)
    try:
        AccessLog(dbs.access).append(_records(2))
        refused = CliRunner().invoke(cli, ["project", "--once"], env=production)
        assert refused.exit_code == 2, refused.output
        assert "CHECKPOINT_KEY_MISSING" in refused.output
        assert not (store.data_dir / "checkpoint-key.pem").exists()  # nothing generated
        with dbs.access.snapshot() as tx:
            assert tx.scalar("SELECT COUNT(*) FROM ai_accesses") == 0  # nothing run
        key, _ = signing_keys(tmp_path / "keys")
        started = CliRunner().invoke(
            cli, ["project", "--once"], env={**production, "CARERECORD_CHECKPOINT_KEY": str(key)}
        )
        assert started.exit_code == 0, started.output
        with dbs.access.snapshot() as tx:
            assert tx.scalar("SELECT COUNT(*) FROM ai_accesses") == 2
    finally:
        dbs.close()


def test_only_dev_mode_generates_a_checkpoint_key_and_production_reads_the_configured_one() -> None:
    assert GovernanceSettings.from_env({}).generate_signing_key is False
    assert GovernanceSettings.from_env({"CARERECORD_ENV": "dev"}).generate_signing_key is True
    configured = GovernanceSettings.from_env({"CARERECORD_CHECKPOINT_KEY": "/etc/k.pem"})
    assert configured.signing_key_configured is True
