"""``carerecord audit ...`` end to end: configuration from the environment, exit codes,
precise reports, and no clinical text on the terminal unless asked for."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import orjson
import pytest
from audit_reads import serve_read
from audit_world import SECRET, SOCIAL_WORKER, Deployment, event_tables, populate, raw
from typer.testing import CliRunner, Result

from carerecord.access_log import AccessLog
from carerecord.audit.checkpoints import DEV_KEY_FILE
from carerecord.vocab import Purpose
from entrypoint.cli import app as cli


@pytest.fixture
def env(deployment: Deployment) -> dict[str, str]:
    settings = deployment.settings
    values = {
        "CARERECORD_DATA_DIR": str(settings.data_dir),
        "CARERECORD_IDENTIFIER_KEY": base64.b64encode(b"k" * 32).decode(),
        "CARERECORD_CHECKPOINT_KEY": "",
        "CARERECORD_CHECKPOINT_TRUSTED_KEYS": "",
        "CARERECORD_DATABASE_URL": "",
        "COLUMNS": "240",
    }
    if settings.postgres is not None:
        pg = settings.postgres
        values["CARERECORD_DATABASE_URL"] = (
            f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.dbname}"
        )
        values["CARERECORD_POSTGRES_SCHEMA"] = pg.schema
    return values


@pytest.fixture
def clients(deployment: Deployment) -> list[str]:
    ids = populate(deployment.app, deployment.clock, clients=2, entries=3)
    deployment.app.start_care_relationship(SOCIAL_WORKER.caller, ids[0], reason="Allocated")
    return ids


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, ["audit", *args], env=env)


def as_json(result: Result) -> Any:
    return orjson.loads(result.stdout)


def test_verify_reports_intact_logs_and_exits_zero(env: dict[str, str], clients: list[str]) -> None:
    result = run(env, "verify")
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    report = as_json(run(env, "verify", "--json"))
    assert report["intact"] is True
    assert [log["log"] for log in report["logs"]] == ["events", "access"]


def test_verify_names_the_first_break_and_exits_one(
    deployment: Deployment, env: dict[str, str], clients: list[str]
) -> None:
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        n = tx.scalar(f"SELECT MAX({t.id_column}) - 2 FROM {t.events}")
        tx.execute(f"UPDATE {t.events} SET state = ? WHERE {t.id_column} = ?", (b"{}", n))
    result = run(env, "verify", "--events")
    assert result.exit_code == 1
    assert f"position {n}" in result.output
    assert "content_altered" in result.output
    assert SECRET not in result.output
    brk = as_json(run(env, "verify", "--events", "--json"))["logs"][0]["first_break"]
    assert (brk["kind"], brk["position"]) == ("content_altered", n)


def test_checkpoint_signs_each_non_empty_log_with_the_development_key(
    deployment: Deployment, env: dict[str, str], clients: list[str]
) -> None:
    result = run(env, "checkpoint", "--json")
    assert result.exit_code == 0, result.output
    signed = as_json(result)
    assert [c["log"] for c in signed] == ["events"]  # the access log is empty: nothing to sign
    assert (deployment.settings.data_dir / DEV_KEY_FILE).exists()
    report = as_json(run(env, "verify", "--json"))
    assert report["logs"][0]["checkpoints_valid"] == 1
    assert run(env, "public-key").stdout.startswith("-----BEGIN PUBLIC KEY-----")


def test_checkpoint_refuses_a_broken_chain(
    deployment: Deployment, env: dict[str, str], clients: list[str]
) -> None:
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        tx.execute(f"DELETE FROM {t.chain} WHERE notification_id = 3")
    result = run(env, "checkpoint")
    assert result.exit_code == 1
    assert "CHAIN_BROKEN" in result.output


def test_an_exported_checkpoint_given_to_verify_is_enforced(
    deployment: Deployment, env: dict[str, str], clients: list[str], tmp_path: Any
) -> None:
    exported = tmp_path / "checkpoints.json"
    exported.write_text(run(env, "checkpoint", "--json").stdout)
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        tx.execute("DELETE FROM event_chain_checkpoints")
        top = tx.scalar(f"SELECT MAX({t.id_column}) FROM {t.events}")
        tx.execute(f"DELETE FROM {t.events} WHERE {t.id_column} = ?", (top,))
        tx.execute(f"DELETE FROM {t.chain} WHERE notification_id = ?", (top,))
    assert run(env, "verify", "--events").exit_code == 0  # truncation leaves a valid chain
    result = run(env, "verify", "--events", "--checkpoints", str(exported))
    assert result.exit_code == 1
    assert "record_missing" in result.output


def _recorded_read(deployment: Deployment, client: str) -> str:
    version = deployment.app.load_client(client).version
    read = serve_read(deployment.app, SOCIAL_WORKER.caller, client, Purpose.DIRECT_CARE, version)
    assert read is not None
    assert read.shown
    AccessLog(deployment.dbs.access).append([read.access])
    return read.access.access_id


def test_reconstruct_replays_a_recorded_read_without_printing_clinical_text(
    deployment: Deployment, env: dict[str, str], clients: list[str]
) -> None:
    access_id = _recorded_read(deployment, clients[0])
    result = run(env, "reconstruct", "--access-id", access_id)
    assert result.exit_code == 0, result.output
    assert "MATCH" in result.output
    assert "physical_health" in result.output
    assert SECRET not in result.output
    shown = run(env, "reconstruct", "--access-id", access_id, "--show-text")
    assert SECRET in shown.output
    data = as_json(run(env, "reconstruct", "--access-id", access_id, "--json"))
    assert (data["outcome"], data["record_intact"]) == ("match", True)
    assert all("text" not in e for e in data["shown"])


def test_reconstruct_exits_one_on_a_mismatch_and_two_when_not_found(
    deployment: Deployment, env: dict[str, str], clients: list[str]
) -> None:
    access_id = _recorded_read(deployment, clients[0])
    with raw(deployment.settings, "access") as tx:  # the stored record no longer hashes
        body = orjson.loads(bytes(tx.scalar("SELECT record FROM access_log")))
        body["response_hash"] = "f" * 64
        tx.execute("UPDATE access_log SET record = ?", (orjson.dumps(body),))
    result = run(env, "reconstruct", "--access-id", access_id)
    assert result.exit_code == 1
    assert "MISMATCH" in result.output
    assert "does not match its chain hash" in result.output
    assert run(env, "reconstruct", "--access-id", "no-such-access").exit_code == 2


def test_as_of_lists_the_record_as_it_stood(
    deployment: Deployment, env: dict[str, str], clients: list[str]
) -> None:
    at = (deployment.clock() + timedelta(days=1)).isoformat()
    result = run(env, "as-of", "--client", clients[1], "--at", at)
    assert result.exit_code == 0, result.output
    assert "version" in result.output
    assert SECRET not in result.output
    data = as_json(run(env, "as-of", "--client", clients[1], "--at", at, "--json"))
    assert len(data["entries"]) == 3
    assert all("text" not in e for e in data["entries"])
    assert run(env, "as-of", "--client", clients[1], "--at", "2026-03-02T09:00").exit_code == 2
