"""The projection runner's wake-up on PostgreSQL: ``LISTEN`` on the event table's channel.

A hint only - the runner always reads the table, and also looks every poll interval - so
losing the listening connection loses nothing but latency. The waker reconnects on its
own with a capped back-off (a restart, a crash, a refused connection), and sets the
wake-up event when it is listening again, since anything may have been inserted while it
was not. A frozen server does not break the connection; ``notifies`` simply stays quiet
until it thaws. The connection has the same keepalives and connect timeout as every
other (``PostgresParams.conninfo``), so a server that vanishes is noticed.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from psycopg import sql

from carerecord.settings import Settings
from carerecord.transient import Backoff, is_transient

log = logging.getLogger("carerecord.projections")


class Waker:
    """Sets an event when PostgreSQL signals the channel (a hint to look at the log)."""

    def __init__(self, settings: Settings, channel: str) -> None:
        if settings.postgres is None:
            raise ValueError("LISTEN/NOTIFY needs PostgreSQL")
        self.conninfo = settings.postgres.conninfo()
        self.channel = channel
        self.connections = 0
        """How many times it has (re)connected and listened (for tests and metrics)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, wake: threading.Event) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._listen, args=(wake,), name="projection-listen", daemon=True
        )
        self._thread.start()

    def _listen(self, wake: threading.Event) -> None:
        backoff = Backoff(0.5)
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.connections += 1
                    backoff.reset()
                    wake.set()  # anything may have happened while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            wake.set()
            except Exception as exc:
                # A hint is never worth stopping for: log and listen again. Only errors
                # that will not pass by themselves are logged as errors.
                pause = backoff.next()
                level = logging.WARNING if is_transient(exc) else logging.ERROR
                log.log(
                    level,
                    "projection listener: %s; polling until it listens again (in %.1f s)",
                    type(exc).__name__,
                    pause,
                )
                self._stop.wait(pause)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
