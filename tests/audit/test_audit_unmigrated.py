"""The audit commands on a store that was never migrated (or is behind): exit 2 ("could
not run") with a coded message - not 1 ("broken"), not a traceback - and create nothing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from carerecord.migrate import migrate
from carerecord.settings import Settings
from entrypoint.cli import app as cli

COMMANDS = (
    ("audit", "verify"),
    ("audit", "verify", "--access"),
    ("audit", "checkpoint"),
    ("audit", "reconstruct", "--access-id", "a"),
    ("audit", "as-of", "--client", "c", "--at", "2026-01-01T00:00:00Z"),
    ("audit", "who-saw", "--client", "c"),
    ("audit", "what-saw", "--practitioner", "p"),
    ("report", "usage"),
)


def env_for(settings: Settings) -> dict[str, str]:
    values = {"CARERECORD_DATA_DIR": str(settings.data_dir), "CARERECORD_DATABASE_URL": ""}
    if settings.postgres is not None:
        pg = settings.postgres
        values["CARERECORD_DATABASE_URL"] = (
            f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.dbname}"
        )
        values["CARERECORD_POSTGRES_SCHEMA"] = pg.schema
    return values


def run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env_for(settings))


def tables(settings: Settings) -> list[str]:
    """What exists in the store: SQLite files in the data folder, or tables in the schema."""
    if settings.postgres is None:
        folder = settings.data_dir
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    pg = settings.postgres
    with psycopg.connect(pg.conninfo()) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (pg.schema,),
        ).fetchall()
    return sorted(str(r[0]) for r in rows)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_audit_command_on_a_store_never_migrated_could_not_run_and_creates_nothing(
    settings: Settings, command: tuple[str, ...]
) -> None:
    result = run(settings, *command)

    assert result.exit_code == 2, result.output
    assert "STORE_NOT_MIGRATED" in result.output
    assert "carerecord migrate" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert tables(settings) == []
    if settings.postgres is None:
        assert not (settings.data_dir / "events.sqlite3").exists()


def test_a_store_missing_one_area_is_not_migrated_either(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", identifier_key=b"k" * 32)
    migrate(settings)
    (settings.data_dir / "access.sqlite3").unlink()

    result = run(settings, "audit", "verify")

    assert result.exit_code == 2, result.output
    assert "STORE_NOT_MIGRATED" in result.output
    assert "access" in result.output
    assert not (settings.data_dir / "access.sqlite3").exists()


def test_a_migrated_store_verifies_as_before(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", identifier_key=b"k" * 32)
    migrate(settings)

    result = run(settings, "audit", "verify")

    assert result.exit_code == 0, result.output
    assert "intact" in result.output
