"""Connection pools after the server restarts, crashes or was down when they were opened:
no request fails on a connection the restart killed, and no pool gives up for good."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pg_cluster import PgCluster

from carerecord.application import CareRecord, CommandResult
from carerecord.db import PostgresDatabase
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from carerecord.transient import is_transient

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
KEY = b"k" * 32


def _fill(db: PostgresDatabase, count: int) -> None:
    """Have the pool open ``count`` connections (all lent at once, then put back)."""
    pool = db.pool
    db.read("SELECT 1")
    lent = [pool.getconn() for _ in range(count)]
    for conn in lent:
        pool.putconn(conn)


@pytest.mark.parametrize("fault", ["restart", "crash"])
def test_after_a_restart_or_crash_the_first_statements_do_not_fail_on_dead_connections(
    healthy: PgCluster, fault: str
) -> None:
    db = PostgresDatabase(healthy.new_database(), min_size=1, max_size=4)
    try:
        _fill(db, 4)
        healthy.restart() if fault == "restart" else healthy.crash()
        for _ in range(4):  # each would take one of the four dead connections
            assert db.read("SELECT 1") == [(1,)]
    finally:
        db.close()


def test_after_a_restart_the_first_command_is_saved(healthy: PgCluster, tmp_path: Path) -> None:
    """Inserts are tried once (a retry could repeat a commit whose answer was lost), so
    the event store's pool must not lend a connection the restart killed."""
    settings = Settings(data_dir=tmp_path, postgres=healthy.new_database(), identifier_key=KEY)
    migrate(settings)
    app = open_care_record(settings)
    try:
        for n in range(3):
            _register(app, f"agency-{n}")
        healthy.restart()
        assert _register(app, "agency-after").position > 0
    finally:
        app.close()


def _register(app: CareRecord, code: str) -> CommandResult:
    return app.register_agency(
        code=code,
        name=f"Agency {code}",
        sector="health",
        local_authority_area="north-shire",
        phone="01632 960000",
        email=f"{code}@example.org",
    )


def test_a_pool_first_used_while_the_server_is_down_serves_once_it_is_up(
    healthy: PgCluster,
) -> None:
    db = PostgresDatabase(healthy.new_database(), min_size=1, max_size=2)
    healthy.stop()
    try:
        with pytest.raises(psycopg.OperationalError) as refused:
            db.read("SELECT 1")
        assert is_transient(refused.value), "an outage, not a broken pool"
        healthy.start()
        assert db.read("SELECT 1") == [(1,)]
    finally:
        db.close()
