"""Schema migrations: the library's event tables, then our SQL files, applied once, in order.

SQL lives in ``migrations/<area>/NNNN_name.sql`` (portable) or, where the dialects
differ, ``NNNN_name.sqlite.sql`` and ``NNNN_name.postgres.sql``. Applied files are
recorded in ``schema_migrations`` in the same transaction as their statements. On
PostgreSQL an advisory lock serialises concurrent migrators (workers starting
together must not race to create tables: they run with table creation off).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from carerecord.db import AREAS, Database, Databases, PostgresDatabase, SQLiteDatabase, Tx
from carerecord.errors import StoreNotMigrated, StoreUnavailable
from carerecord.settings import Settings
from carerecord.transient import is_transient

_LOCK_KEY = 0x43415245  # "CARE"


@dataclass(frozen=True)
class Migration:
    area: str
    name: str
    sql: str


def migrations_for(area: str, dialect: str) -> list[Migration]:
    """The migrations of one area for one dialect, in name order."""
    root = resources.files("migrations").joinpath(area)
    if not root.is_dir():
        return []
    chosen: dict[str, Traversable] = {}
    for entry in root.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        stem = name[: -len(".sql")]
        for variant in ("sqlite", "postgres"):
            if stem.endswith(f".{variant}"):
                if variant == dialect:
                    chosen[stem[: -len(variant) - 1]] = entry
                break
        else:
            chosen.setdefault(stem, entry)
    return [Migration(area, key, chosen[key].read_text(encoding="utf-8")) for key in sorted(chosen)]


def _ensure_table(tx: Tx) -> None:
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "area TEXT NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL, "
        "PRIMARY KEY (area, name))"
    )


def apply_area(db: Database, area: str) -> list[str]:
    """Apply the pending migrations of one area; returns the names applied."""
    applied: list[str] = []
    with db.transaction() as tx:
        if isinstance(db, PostgresDatabase):
            tx.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))
        _ensure_table(tx)
        done = {
            r[0] for r in tx.fetchall("SELECT name FROM schema_migrations WHERE area=?", (area,))
        }
        for migration in migrations_for(area, db.dialect):
            if migration.name in done:
                continue
            if isinstance(db, SQLiteDatabase):
                # executescript would commit the open transaction; run statement by statement.
                for statement in _statements(migration.sql):
                    tx.execute(statement)
            else:
                tx.execute(migration.sql)
            tx.execute(
                "INSERT INTO schema_migrations (area, name, applied_at) VALUES (?, ?, "
                + ("CURRENT_TIMESTAMP" if db.dialect == "sqlite" else "now()::text")
                + ")",
                (area, migration.name),
            )
            applied.append(f"{area}/{migration.name}")
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (our SQL files keep one ';' per statement end)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def migrate(settings: Settings, databases: Databases | None = None) -> list[str]:
    """Create the event store's tables and apply every pending SQL migration."""
    from carerecord.runtime import open_care_record

    dbs = databases or Databases(settings)
    applied: list[str] = []
    try:
        if settings.postgres is not None:
            with dbs.events.transaction() as tx:
                tx.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY + 1,))
                app = open_care_record(settings, create_tables=True)
                app.close()
        else:
            app = open_care_record(settings, create_tables=True)
            app.close()
        for area in AREAS:
            applied += apply_area(dbs.area(area), area)
    finally:
        if databases is None:
            dbs.close()
    return applied


_APPLIED = "SELECT name FROM schema_migrations WHERE area = ?"


def require_migrated(settings: Settings) -> None:
    """Check, creating nothing, that every storage area has all its migrations applied.

    ``StoreNotMigrated`` (with the ``area``) if not - on SQLite a missing file counts,
    and is not created; ``StoreUnavailable`` if the server cannot be reached. For
    commands that read an existing store (the audit commands): run before opening it.
    """
    if settings.postgres is None:
        for area in AREAS:
            path = settings.sqlite_path(area)
            if not path.is_file():
                raise StoreNotMigrated(area=area)
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                done = {str(r[0]) for r in conn.execute(_APPLIED, (area,))}
            except sqlite3.DatabaseError:  # no schema_migrations table (or not a database)
                raise StoreNotMigrated(area=area) from None
            finally:
                conn.close()
            _check(area, "sqlite", done)
        return
    dbs = Databases(settings)
    try:
        for area in AREAS:
            with dbs.area(area).snapshot() as tx:
                if tx.scalar("SELECT to_regclass('schema_migrations')") is None:
                    raise StoreNotMigrated(area=area)
                done = {str(r[0]) for r in tx.fetchall(_APPLIED, (area,))}
            _check(area, "postgres", done)
    except Exception as exc:
        if is_transient(exc):
            raise StoreUnavailable() from None
        raise
    finally:
        dbs.close()


def _check(area: str, dialect: str, done: set[str]) -> None:
    if any(m.name not in done for m in migrations_for(area, dialect)):
        raise StoreNotMigrated(area=area)
