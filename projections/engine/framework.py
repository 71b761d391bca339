"""The projection framework: decoded log items, the ``Projection`` protocol, tracking.

A projection is a pure fold (its ``evolve`` functions) plus a thin class whose
``process(tx, items)`` writes its rows for a batch of items; the runner writes the
projection's tracking position in the *same* transaction, so the effect of every
item is applied exactly once. Items a projection ignores still advance its
position. Projections never read the write model and never swallow errors.

Sources other than the event log are pluggable (``Source``): the audit projections
read the access log with the same runner, writing to the ``access`` area. Every
storage area a runner writes to needs the tracking table (``TRACKING_DDL``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from carerecord.db import Database, Tx

TRACKING_TABLE = "projection_tracking"
TRACKING_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} ("
    "name TEXT PRIMARY KEY, "
    "position BIGINT NOT NULL, "
    "error TEXT, "
    "failed_at TEXT, "
    "updated_at TEXT)"
)
"""The tracking table (already created in the ``views`` area by migration 0100)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event from the log, decoded once and shared by every projection."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    event: Any


class Item(Protocol):
    """Anything a source yields: it has a strictly increasing ``position``."""

    @property
    def position(self) -> int: ...


@runtime_checkable
class Source(Protocol):
    """An ordered, append-only log the runner reads in pages."""

    @property
    def name(self) -> str: ...

    def head(self) -> int:
        """The position of the newest item (0 if none)."""

    def read(self, after: int, limit: int) -> Sequence[Any]:
        """Up to ``limit`` items with positions greater than ``after``, in order."""


@runtime_checkable
class Projection(Protocol):
    """A read model built by folding a source's items.

    ``tables`` are emptied (in the order given) when the projection is rebuilt.
    ``process`` applies a batch (positions increasing) inside the runner's
    transaction and must raise on any problem: the runner then rolls the batch back
    and stops this projection (never skipping an item). ``forget`` drops any state
    cached in memory between batches (called after a rollback and before a rebuild).
    """

    @property
    def name(self) -> str: ...

    @property
    def tables(self) -> tuple[str, ...]: ...

    def process(self, tx: Tx, items: Sequence[Any]) -> None: ...

    def forget(self) -> None: ...


def topics(*classes: type) -> frozenset[str]:
    """The stored topics of event classes: projections pick their events by topic (a set
    lookup) before touching them."""
    from eventsourcing.utils import get_topic

    return frozenset(get_topic(c) for c in classes)


def now_text() -> str:
    return datetime.now(UTC).isoformat()


# --- tracking positions -----------------------------------------------------------------


def read_tracking(tx: Tx, names: Sequence[str]) -> dict[str, tuple[int, str | None]]:
    """Position and error of each named projection (position 0 if never run)."""
    found = {
        str(r[0]): (int(r[1]), None if r[2] is None else str(r[2]))
        for r in tx.fetchall(f"SELECT name, position, error FROM {TRACKING_TABLE}")
    }
    return {name: found.get(name, (0, None)) for name in names}


def lock_positions(tx: Tx, db: Database, names: Sequence[str]) -> dict[str, int]:
    """The named projections' positions, locked for this transaction.

    On SQLite the runner's ``BEGIN IMMEDIATE`` already holds the write lock; on
    PostgreSQL the rows are locked ``FOR UPDATE`` (created first if missing), so
    two runners can never both apply the same batch.
    """
    if db.dialect == "postgres":
        tx.executemany(
            f"INSERT INTO {TRACKING_TABLE} (name, position) VALUES (?, 0) "
            "ON CONFLICT (name) DO NOTHING",
            [(n,) for n in names],
        )
        rows = tx.fetchall(
            f"SELECT name, position FROM {TRACKING_TABLE} WHERE name = ANY(?) "
            "ORDER BY name FOR UPDATE",
            (list(names),),
        )
    else:
        rows = tx.fetchall(f"SELECT name, position FROM {TRACKING_TABLE}")
    found = {str(r[0]): int(r[1]) for r in rows}
    return {name: found.get(name, 0) for name in names}


def set_position(tx: Tx, name: str, position: int) -> None:
    tx.execute(
        f"INSERT INTO {TRACKING_TABLE} (name, position, error, failed_at, updated_at) "
        "VALUES (?, ?, NULL, NULL, ?) ON CONFLICT (name) DO UPDATE SET "
        "position = excluded.position, error = NULL, failed_at = NULL, "
        "updated_at = excluded.updated_at",
        (name, position, now_text()),
    )


def record_failure(db: Database, name: str, error: str) -> None:
    """Record (in its own transaction) that a projection stopped, for health checks."""
    with db.transaction() as tx:
        tx.execute(
            f"INSERT INTO {TRACKING_TABLE} (name, position, error, failed_at, updated_at) "
            "VALUES (?, 0, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "error = excluded.error, failed_at = excluded.failed_at, "
            "updated_at = excluded.updated_at",
            (name, error[:500], now_text(), now_text()),
        )


def clear_failures(db: Database, names: Sequence[str]) -> None:
    with db.transaction() as tx:
        tx.executemany(
            f"UPDATE {TRACKING_TABLE} SET error = NULL, failed_at = NULL WHERE name = ?",
            [(n,) for n in names],
        )


def reset(tx: Tx, db: Database, projection: Projection) -> None:
    """Empty a projection's tables and set its position back to 0 (for a rebuild)."""
    for table in projection.tables:
        if db.dialect == "postgres":
            tx.execute(f"TRUNCATE {table}")
        else:
            tx.execute(f"DELETE FROM {table}")
    set_position(tx, projection.name, 0)


@dataclass(frozen=True)
class RebuildReport:
    names: tuple[str, ...]
    events: int
    seconds: float
    workers: tuple[tuple[tuple[str, ...], float], ...] = ()
    """With ``rebuild_in_workers``: each worker's views and how long it took (seconds)."""

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def reset_views(views: Database, projections: Sequence[Projection]) -> None:
    """Empty the projections' tables and reset their positions, in one transaction."""
    with views.transaction() as tx:
        for projection in projections:
            reset(tx, views, projection)
    for projection in projections:
        projection.forget()
