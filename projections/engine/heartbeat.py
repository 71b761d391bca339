"""Heartbeats of the long-running runners, so that a dead or stuck one is visible.

Each runner that follows a log (a ``carerecord project`` worker, the API's in-process
runner, the audit index runner) writes one row to ``worker_heartbeats`` in the ``views``
area from its own loop - after a page, while idle, after a failed attempt - at most every
``CARERECORD_WORKER_HEARTBEAT_SECONDS`` (and at once when its status changes). Because
the loop itself writes it, a runner blocked on a hung socket or dead in its process
stops beating. Times are taken from the database's clock, so workers and API replicas
on different hosts compare like with like.

``/readyz`` fails when the views are behind the log and no ``views`` runner is live
(seen within ``CARERECORD_READY_HEARTBEAT_SECONDS`` and either running or advancing).
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from carerecord.db import Database, Dialect

HEARTBEAT_TABLE = "worker_heartbeats"
VIEWS = "views"
"""The kind of the runners over the event log (the curated views)."""
ACCESS_INDEX = "access_index"
"""The kind of the runners over the access log (the audit projections)."""
RUNNING = "running"
RETRYING = "retrying"
STOPPED = "stopped"
FAILED = "failed"
KEEP_SECONDS = 86_400
"""Rows of runners not seen for this long are deleted (each worker start adds a row)."""


def now_sql(dialect: Dialect) -> str:
    """The database's clock in seconds since the epoch, as an SQL expression."""
    if dialect == "postgres":
        return "extract(epoch from clock_timestamp())"
    return "((julianday('now') - 2440587.5) * 86400.0)"


@dataclass(frozen=True)
class WorkerBeat:
    """A runner's last heartbeat, with its age by the database's clock."""

    worker_id: str
    kind: str
    status: str
    position: int
    seen_ago: float
    advanced_ago: float

    def live(self, window: float) -> bool:
        """Seen within ``window`` seconds, and either running or advancing (a runner that
        only reports failed attempts is not keeping the views up)."""
        return self.seen_ago <= window and (
            self.status == RUNNING or (self.status == RETRYING and self.advanced_ago <= window)
        )


def new_worker_id(kind: str) -> str:
    """Host, process and a random suffix (several runners of a kind may share a process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{kind}:{secrets.token_hex(3)}"


class Heartbeat:
    """Writes one runner's heartbeat row (``beat``), at most every ``every`` seconds."""

    def __init__(
        self, db: Database, kind: str, *, every: float, worker_id: str | None = None
    ) -> None:
        if every <= 0:
            raise ValueError("a heartbeat interval must be positive")
        self.db = db
        self.kind = kind
        self.every = every
        self.worker_id = worker_id or new_worker_id(kind)
        self._last = -math.inf
        self._status: str | None = None
        self._pruned = False

    def due(self, status: str = RUNNING) -> bool:
        return status != self._status or time.monotonic() - self._last >= self.every

    def beat(self, position: int, status: str = RUNNING, *, force: bool = False) -> bool:
        """Record that the runner is alive at ``position`` with ``status``, if due (or
        ``force``); returns whether a row was written. Database errors propagate."""
        if not (force or self.due(status)):
            return False
        now = now_sql(self.db.dialect)
        with self.db.transaction() as tx:
            if not self._pruned:
                tx.execute(
                    f"DELETE FROM {HEARTBEAT_TABLE} WHERE seen_at < {now} - ?", (KEEP_SECONDS,)
                )
            tx.execute(
                f"INSERT INTO {HEARTBEAT_TABLE} "
                "(worker_id, kind, status, position, started_at, seen_at, advanced_at) "
                f"VALUES (?, ?, ?, ?, {now}, {now}, {now}) "
                "ON CONFLICT (worker_id) DO UPDATE SET status = excluded.status, "
                f"advanced_at = CASE WHEN excluded.position <> {HEARTBEAT_TABLE}.position "
                f"THEN excluded.seen_at ELSE {HEARTBEAT_TABLE}.advanced_at END, "
                "position = excluded.position, seen_at = excluded.seen_at",
                (self.worker_id, self.kind, status, position),
            )
        self._pruned = True
        self._last = time.monotonic()
        self._status = status
        return True


def read_beats(db: Database) -> list[WorkerBeat]:
    """Every runner's last heartbeat (one statement, ages by the database's clock)."""
    now = now_sql(db.dialect)
    rows = db.read(
        f"SELECT worker_id, kind, status, position, {now} - seen_at, {now} - advanced_at "
        f"FROM {HEARTBEAT_TABLE} ORDER BY worker_id"
    )
    return [
        WorkerBeat(str(r[0]), str(r[1]), str(r[2]), int(r[3]), float(r[4]), float(r[5]))
        for r in rows
    ]


def workers_state(
    beats: Sequence[WorkerBeat], *, behind: bool, window: float, kind: str = VIEWS
) -> str:
    """``ok`` unless the views are ``behind`` the log and no runner of ``kind`` is live;
    then ``stalled`` with when one was last seen (for ``/readyz``)."""
    if not behind or any(b.kind == kind and b.live(window) for b in beats):
        return "ok"
    seen = [b.seen_ago for b in beats if b.kind == kind and b.status != STOPPED]
    if not seen:
        return "stalled (no live worker)"
    return f"stalled (last heartbeat {min(seen):.0f} s ago)"
