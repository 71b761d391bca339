"""``/readyz``'s checks, run with a deadline so that a hung database cannot hang the probe.

Each check (a store answering, the read side's state) runs in a small thread pool of its
own, never in the request thread pool (which a frozen database can fill with blocked
requests) nor on the event loop. ``/readyz`` waits for them at most
``CARERECORD_READY_TIMEOUT_SECONDS`` and reports a check still running as ``timeout``.
At most one run of each check is in flight: while one is still blocked (say, on a
SIGSTOPped server), later probes wait on that same run instead of starting another, so
threads never pile up; once it returns, the next probe starts a fresh one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

TIMEOUT = "timeout"


@dataclass(frozen=True)
class Outcome:
    """A check's result: its value, the exception it raised, or that it did not finish."""

    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False

    def describe(self, ok: Callable[[Any], str] = lambda _: "ok") -> str:
        """``ok(value)``, ``timeout`` or ``unavailable (<exception type>)``."""
        if self.timed_out:
            return TIMEOUT
        if self.error is not None:
            return f"unavailable ({type(self.error).__name__})"
        return ok(self.value)


class ReadinessProbe:
    """Runs named checks concurrently with a deadline; at most one run of each at a time."""

    def __init__(self, checks: Mapping[str, Callable[[], Any]], *, budget: float) -> None:
        if budget <= 0:
            raise ValueError("the readiness budget must be positive")
        self.checks = dict(checks)
        self.budget = budget
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, len(self.checks)), thread_name_prefix="readyz"
        )
        self._running: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()

    def _start(self, name: str) -> Future[Any]:
        with self._lock:
            running = self._running.get(name)
            if running is None or running.done():
                running = self._executor.submit(self.checks[name])
                self._running[name] = running
            return running

    async def run(self) -> dict[str, Outcome]:
        """Every check's outcome, within ``budget`` seconds."""
        waiting = {name: asyncio.wrap_future(self._start(name)) for name in self.checks}
        for future in waiting.values():
            future.add_done_callback(_retrieved)
        await asyncio.wait(waiting.values(), timeout=self.budget)
        outcomes: dict[str, Outcome] = {}
        for name, future in waiting.items():
            if not future.done():
                outcomes[name] = Outcome(timed_out=True)
            elif future.exception() is not None:
                outcomes[name] = Outcome(error=future.exception())
            else:
                outcomes[name] = Outcome(value=future.result())
        return outcomes

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _retrieved(future: asyncio.Future[Any]) -> None:
    # A probe that answered "timeout" never looks at this run's outcome; retrieve it so
    # asyncio does not log "exception was never retrieved" when it finishes later.
    if not future.cancelled():
        future.exception()
