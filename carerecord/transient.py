"""Which database errors pass by themselves, and how long-running loops wait for them.

``is_transient(exc)`` is the one place that says "this database error is transient": the
connection was lost or refused, the server is shutting down, restarting or recovering, a
pool had no connection to lend in time, a lock or serialisation conflict rolled the
transaction back, the disk is full or failed an I/O, SQLite was busy or locked. Retrying
such an operation later can succeed without anyone changing anything. Programming
errors (bad SQL, a missing table), integrity errors and a projection's own exceptions
are not transient: they need a person.

The classifier walks the exception's chain (``__cause__``, then ``__context__`` unless
suppressed), because the eventsourcing library wraps the driver's errors in its own
(``eventsourcing.persistence.OperationalError`` ``from`` the ``psycopg`` or ``sqlite3``
error), and decides on the first driver error it finds.

Every long-running loop (the projection runners and their LISTEN waker, the checkpoint
timer, GraphQL subscriptions, the access-log writer) retries transient errors with
``Backoff``: exponential from a short first pause, capped at ``MAX_BACKOFF_SECONDS``,
so a loop resumes within a few seconds of its database coming back.
"""

from __future__ import annotations

import sqlite3

import psycopg
from psycopg_pool import PoolClosed

MAX_BACKOFF_SECONDS = 5.0
"""The longest pause between two attempts of a long-running loop."""

PG_TRANSIENT_SQLSTATES = frozenset(
    {
        # class 08: connection exception (not 08P01, a protocol violation)
        "08000",
        "08001",
        "08003",
        "08004",
        "08006",
        "08007",
        # class 40: the server rolled the transaction back; it can be run again
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        # class 53: insufficient resources
        "53000",
        "53100",  # disk_full
        "53200",  # out_of_memory
        "53300",  # too_many_connections
        # class 55: a lock could not be had within lock_timeout
        "55P03",
        # class 57: operator intervention (not 57P04, database dropped)
        "57014",  # query_canceled (statement_timeout, a cancel request)
        "57P01",  # admin_shutdown (pg_ctl stop/restart -m fast)
        "57P02",  # crash_shutdown (another backend crashed)
        "57P03",  # cannot_connect_now (starting up, shutting down, in recovery)
        "57P05",  # idle_session_timeout
        # class 58: system error (I/O)
        "58000",
        "58030",
    }
)
"""SQLSTATEs of server errors that pass (see the PostgreSQL manual, appendix A)."""

SQLITE_TRANSIENT_CODES = frozenset(
    {
        5,  # SQLITE_BUSY: another connection holds the lock (past busy_timeout)
        6,  # SQLITE_LOCKED: a conflict inside this connection's shared cache
        10,  # SQLITE_IOERR (and its extended codes): a failed read or write
        13,  # SQLITE_FULL: the disk is full
        15,  # SQLITE_PROTOCOL: a WAL locking race
    }
)
"""SQLite primary result codes (the low byte of extended codes) that pass."""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or the driver error it wraps) is a database error that passes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _driver_verdict(current)
        if verdict is not None:
            return verdict
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__suppress_context__:
            current = None
        else:
            current = current.__context__
    return False


def _driver_verdict(exc: BaseException) -> bool | None:
    """True/False for a driver error; None for anything else (look further down the chain)."""
    if isinstance(exc, psycopg.Error):
        if isinstance(exc, PoolClosed):
            return False  # the process is shutting down its pool: not coming back
        sqlstate = exc.sqlstate
        if sqlstate is None:
            # Raised by the client itself: connection refused, lost or closed, a timeout,
            # no pooled connection in time. Only OperationalError means "the link failed";
            # InterfaceError is misuse (a closed cursor), not an outage.
            return isinstance(exc, psycopg.OperationalError)
        return sqlstate in PG_TRANSIENT_SQLSTATES
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return isinstance(code, int) and (code & 0xFF) in SQLITE_TRANSIENT_CODES
    return None


class Backoff:
    """Pauses between attempts: ``first`` (at most ``cap``), doubling, at most ``cap``;
    ``reset()`` on success."""

    def __init__(self, first: float = 0.2, cap: float = MAX_BACKOFF_SECONDS) -> None:
        if first <= 0 or cap <= 0:
            raise ValueError("a back-off needs positive pauses")
        first = min(first, cap)
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        """The pause before the next attempt (and double the one after it)."""
        pause = self._next
        self._next = min(self._next * 2, self.cap)
        return pause

    def reset(self) -> None:
        self._next = self.first
