"""One watcher per process tells waiting subscriptions that the views have moved on.

Subscribers do not poll the database each: one task reads the views' positions
(in a worker thread) every ``interval`` seconds and wakes every waiting
subscription when they change. A subscription then reads its own feed page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger("carerecord.api")


class ViewWatcher:
    def __init__(self, positions: Callable[[], dict[str, int]], *, interval: float) -> None:
        self._positions = positions
        self.interval = interval
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._last: dict[str, int] | None = None
        self.generation = 0

    def _ensure_started(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._changed

    async def wait(self, since: int, timeout: float) -> int:
        """Wait until the views have moved on since ``generation`` was ``since`` (or for
        ``timeout`` seconds); returns the generation now."""
        changed = self._ensure_started()
        if self.generation == since:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        return self.generation

    async def _run(self) -> None:
        # A store outage must not end the watcher (every subscription waits on it): it
        # logs the first failure, keeps looking, and says when it can read again.
        failing = False
        while True:
            try:
                current = await asyncio.to_thread(self._positions)
            except Exception as exc:
                if not failing:
                    log.warning("view watcher: cannot read positions (%s)", type(exc).__name__)
                failing = True
                current = None
            else:
                if failing:
                    log.warning("view watcher: reading positions again")
                failing = False
            if current is not None and current != self._last:
                self._last = current
                self.generation += 1
                assert self._changed is not None
                self._changed.set()
                self._changed = asyncio.Event()
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
