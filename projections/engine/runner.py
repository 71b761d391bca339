"""The batched projection runner: catch up, then follow the log live.

One loop reads a page of the source (for the event log: the recorder's notifications
in pages of thousands - on PostgreSQL through a binary cursor -, each decoded once with
the application's mapper), hands every projection the part of the page it has not seen, and commits
all of their rows *and* their tracking positions in one transaction per page.
Exactly-once effect follows: a crash before the commit loses the whole page (it is
read again), a crash after it loses nothing.

If a projection raises, the page is rolled back, that projection is stopped (a
clear log line, an error in its tracking row, a failed health status) and the page
is applied again for the others. It is never skipped past the failing item; a
restart retries it. Transient database errors (connection lost, lock timeouts)
are retried with back-off instead.

Idle runners wait for a wake-up: on PostgreSQL a ``LISTEN`` on the library's
channel (the events table name) - a hint only, the runner always reads the
table - and on SQLite a short poll.

A runner following the log (``run_forever``) rides out its database: a transient error
(``carerecord.transient.is_transient``: a restart, a crash, a refused connection, a
full disk) is logged, waited out with a capped back-off and the page tried again, as
often as it takes. It writes a heartbeat (``projections.engine.heartbeat``) from the same
loop, so a runner that has died or hangs is visible to ``/readyz``.
"""

from __future__ import annotations

import bisect
import gc
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql
from psycopg.rows import tuple_row

from carerecord.db import Database
from carerecord.transient import Backoff, is_transient
from projections.engine.errors import ProjectionFailed
from projections.engine.framework import (
    Envelope,
    Projection,
    Source,
    clear_failures,
    lock_positions,
    read_tracking,
    record_failure,
    set_position,
)
from projections.engine.heartbeat import FAILED, RETRYING, RUNNING, STOPPED, Heartbeat
from projections.engine.status import ProjectionStatus
from projections.engine.waker import Waker

log = logging.getLogger("carerecord.projections")
Progress = Callable[[int, int], None]


_gc_lock = threading.Lock()
_gc_pauses = 0


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one page is read and folded.

    Decoding a page and folding it allocates millions of short-lived objects next to a
    large long-lived heap (the projections' cached working states). With the collector
    on, each young-generation collection still walks containers referred to from that
    heap and full collections walk all of it: on a large rebuild the collector took a
    large share of the time (docs/performance.md). Objects are still freed by reference
    counting as usual; only reference cycles wait, for the collection that runs when the
    page is done. Nested and concurrent pauses (several runners in one process) are
    counted: the collector comes back when the last one ends, and only if it was on to
    begin with.
    """
    global _gc_pauses
    with _gc_lock:
        if _gc_pauses == 0 and not gc.isenabled():
            paused = False
        else:
            paused = True
            _gc_pauses += 1
            gc.disable()
    try:
        yield
    finally:
        if paused:
            with _gc_lock:
                _gc_pauses -= 1
                if _gc_pauses == 0:
                    gc.enable()


class EventLogSource:
    """The application's notification log, decoded once per event.

    On PostgreSQL a page is read with a binary cursor of its own: the same statement
    as the recorder's ``select_notifications`` (ids greater than ``after``, in order,
    ``LIMIT``), but the state arrives as raw bytes instead of hex text and the ids as
    16 bytes instead of text, which saves much of the library's read time on a rebuild
    and spares the server the encoding. Elsewhere the recorder's own method is used.
    """

    name = "events"

    def __init__(self, app: Any) -> None:
        self.app = app
        self.recorder = app.recorder
        self._binary_page: sql.Composed | None = None
        if isinstance(self.recorder, PostgresApplicationRecorder):
            self._binary_page = sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {}.{} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
            ).format(
                sql.Identifier(self.recorder.datastore.schema),
                sql.Identifier(self.recorder.events_table_name),
            )

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def read(self, after: int, limit: int) -> list[Envelope]:
        to_domain_event = self.app.mapper.to_domain_event
        return [
            Envelope(
                n.id, cast(UUID, n.originator_id), n.originator_version, n.topic, to_domain_event(n)
            )
            for n in self.notifications(after, limit)
        ]

    def notifications(self, after: int, limit: int) -> Sequence[Notification]:
        """Up to ``limit`` stored notifications after ``after``, in order, undecoded."""
        if self._binary_page is None:
            found: Sequence[Notification] = self.recorder.select_notifications(
                start=after, limit=limit, inclusive_of_start=False
            )
            return found
        with (
            self.recorder.datastore.get_connection() as conn,
            conn.cursor(binary=True, row_factory=tuple_row) as cur,
        ):
            cur.execute(self._binary_page, (after, limit), prepare=True)
            return [
                Notification(
                    id=row[0],
                    originator_id=row[1],
                    originator_version=row[2],
                    topic=row[3],
                    state=row[4],
                )
                for row in cur.fetchall()
            ]

    def channel(self) -> str | None:
        """The PostgreSQL NOTIFY channel the recorder signals on each insert, if any."""
        name = getattr(self.recorder, "channel_name", None)
        return None if name is None else str(name)


class _Failed(Exception):
    def __init__(self, projection: Projection, cause: BaseException) -> None:
        super().__init__(projection.name)
        self.projection = projection
        self.cause = cause


class _Resync(Exception):
    """Another runner moved a tracking position: our in-memory state is stale."""


def describe(exc: BaseException) -> str:
    """An error description safe for logs: type and code frames, never values."""
    code = getattr(exc, "code", None)
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames)
    return f"{type(exc).__name__}{f' {code}' if code else ''} at {where}"


class ProjectionRunner:
    """Runs projections over one source into one storage area, in batches."""

    def __init__(
        self,
        source: Source,
        db: Database,
        projections: Sequence[Projection],
        *,
        page_size: int = 2000,
        poll_seconds: float = 0.2,
        waker: Waker | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise ValueError("projection names must be unique")
        self.source = source
        self.db = db
        self.projections = list(projections)
        self.page_size = page_size
        self.poll_seconds = poll_seconds
        self.waker = waker
        self.heartbeat = heartbeat
        self._positions: dict[str, int] = {}
        self._failed: dict[str, str] = {}
        self._head = 0
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._synced = False

    # --- state -------------------------------------------------------------------------

    def sync(self) -> None:
        """(Re)load the tracking positions; forget all cached projection state."""
        for projection in self.projections:
            projection.forget()
        with self.db.snapshot() as tx:
            tracking = read_tracking(tx, [p.name for p in self.projections])
        with self._changed:
            self._positions = {name: pos for name, (pos, _) in tracking.items()}
            self._synced = True
            self._changed.notify_all()

    def positions(self) -> dict[str, int]:
        if not self._synced:
            self.sync()
        with self._changed:
            return dict(self._positions)

    def failures(self) -> dict[str, str]:
        with self._changed:
            return dict(self._failed)

    def status(self) -> list[ProjectionStatus]:
        head = self.source.head()
        positions = self.positions()
        failed = self.failures()
        return [
            ProjectionStatus(
                name=name,
                position=pos,
                lag=max(0, head - pos),
                failed=name in failed,
                error=failed.get(name),
                updated_at=None,
            )
            for name, pos in positions.items()
        ]

    # --- processing --------------------------------------------------------------------

    def run_once(self) -> int:
        """Apply the next page of the source; returns how many items it read (0: idle)."""
        if not self._synced:
            self.sync()
        active = [p for p in self.projections if p.name not in self._failed]
        if not active:
            return 0
        start = min(self._positions[p.name] for p in active)
        with collector_paused():
            items = list(self.source.read(start, self.page_size))
            if not items:
                return 0
            self._apply(items, active)
        return len(items)

    def _apply(self, items: Sequence[Any], active: list[Projection]) -> None:
        positions_list = [item.position for item in items]
        last = positions_list[-1]
        while active:
            try:
                with self.db.transaction() as tx:
                    names = [p.name for p in active]
                    current = lock_positions(tx, self.db, names)
                    if any(current[n] != self._positions[n] for n in names):
                        raise _Resync()
                    for projection in active:
                        seen = self._positions[projection.name]
                        batch = items[bisect.bisect_right(positions_list, seen) :]
                        if batch:
                            try:
                                projection.process(tx, batch)
                            except Exception as exc:
                                if is_transient(exc):  # the store's fault, not the fold's
                                    raise
                                raise _Failed(projection, exc) from exc
                        set_position(tx, projection.name, max(seen, last))
            except _Failed as failure:
                self._forget_all()
                self._stop_projection(failure.projection, failure.cause, items)
                active = [p for p in active if p is not failure.projection]
                continue
            except _Resync:
                log.warning("projection positions moved under this runner; resynchronising")
                self.sync()
                return
            except BaseException:
                self._forget_all()
                raise
            with self._changed:
                for projection in active:
                    self._positions[projection.name] = max(self._positions[projection.name], last)
                self._changed.notify_all()
            return

    def _forget_all(self) -> None:
        for projection in self.projections:
            projection.forget()

    def _stop_projection(
        self, projection: Projection, cause: BaseException, items: Sequence[Any]
    ) -> None:
        seen = self._positions[projection.name]
        upto = items[-1].position
        error = f"failed after position {seen} (batch up to {upto}): {describe(cause)}"
        log.error("projection %s stopped: %s", projection.name, error)
        with self._changed:
            self._failed[projection.name] = error
            self._changed.notify_all()
        record_failure(self.db, projection.name, error)

    def catch_up(self, progress: Progress | None = None, *, until: int | None = None) -> int:
        """Process until the source's head (as read at the start); returns items read.

        Raises ``ProjectionFailed`` if a projection stopped on an error.
        """
        target = self.source.head() if until is None else until
        done = 0
        while True:
            positions = self.positions()
            active = [n for n in positions if n not in self._failed]
            if not active or min(positions[n] for n in active) >= target:
                break
            count = self.run_once()
            if count == 0:
                break
            done += count
            if progress is not None:
                progress(min(self.positions()[n] for n in active), target)
        failed = self.failures()
        if failed:
            name, error = next(iter(failed.items()))
            raise ProjectionFailed(name, self.positions()[name], error)
        return done

    # --- waiting -----------------------------------------------------------------------

    def reached(self, position: int) -> bool:
        with self._changed:
            return bool(self._positions) and min(self._positions.values()) >= position

    def wait_for(self, position: int, timeout: float, *, wake: bool = True) -> bool:
        """Wait until every projection has processed ``position``; False on timeout or
        if a projection that has not reached it has failed. ``wake``: nudge an idle
        runner to look at the log now rather than at its next poll."""
        deadline = time.monotonic() + timeout
        if wake:
            self.wake()
        with self._changed:
            while True:
                if self._positions and min(self._positions.values()) >= position:
                    return True
                if any(self._positions.get(n, 0) < position for n in self._failed):
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)

    def wake(self) -> None:
        self._wake.set()

    # --- running -----------------------------------------------------------------------

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Catch up, then follow the log until ``stop`` is set (or ``stop()`` is called).

        Transient database errors are waited out - paused for ``poll_seconds``, doubling
        up to ``MAX_BACKOFF_SECONDS`` - and the same work tried again, however long the
        outage; the positions are checked against the tracking rows on every page, so
        a page whose commit was lost with its connection is never applied twice. Any
        other error ends the run (raised).
        """
        stop_event = stop or self._stop
        if self.waker is not None:
            self.waker.start(self._wake)
        backoff = Backoff(self.poll_seconds)
        started = False
        failing_since: float | None = None
        ended = STOPPED
        try:
            while not stop_event.is_set() and not self._stop.is_set():
                try:
                    if not started:
                        self.sync()
                        clear_failures(self.db, [p.name for p in self.projections])
                        started = True
                    count = self.run_once()
                    self._beat(RUNNING)
                except Exception as exc:
                    if not is_transient(exc):
                        ended = FAILED
                        raise
                    failing_since = failing_since or time.monotonic()
                    pause = backoff.next()
                    log.warning(
                        "projection runner (%s): database unavailable, retrying in %.1f s: %s",
                        self.source.name,
                        pause,
                        describe(exc),
                    )
                    self._beat(RETRYING, quiet=True)
                    self._wake.clear()
                    if not (stop_event.is_set() or self._stop.is_set()):
                        self._wake.wait(pause)
                    continue
                if failing_since is not None:
                    log.warning(
                        "projection runner (%s): database available again after %.1f s",
                        self.source.name,
                        time.monotonic() - failing_since,
                    )
                    failing_since = None
                    backoff.reset()
                if count == 0:
                    self._wake.wait(self.poll_seconds)
                    self._wake.clear()
        finally:
            if self.waker is not None:
                self.waker.stop()
            self._beat(ended, quiet=True, force=True)

    def _beat(self, status: str, *, quiet: bool = False, force: bool = False) -> None:
        """Write the heartbeat if due; ``quiet``: while handling another error, or stopping
        (a failure to write it then changes nothing)."""
        if self.heartbeat is None:
            return
        with self._changed:
            active = [pos for name, pos in self._positions.items() if name not in self._failed]
        try:
            self.heartbeat.beat(min(active, default=0), status, force=force)
        except Exception as exc:
            if not quiet:
                raise
            log.debug("projection runner: heartbeat not written (%s)", type(exc).__name__)

    def start(self) -> threading.Thread:
        """Run in a background thread (the in-process runner of the embedded default)."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run_thread, name="projection-runner", daemon=True
        )
        self._thread.start()
        return self._thread

    def _run_thread(self) -> None:
        try:
            self.run_forever()
        except BaseException as exc:
            log.error("projection runner stopped: %s", describe(exc))
            with self._changed:
                for projection in self.projections:
                    self._failed.setdefault(projection.name, f"runner stopped: {describe(exc)}")
                self._changed.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
