"""Keeping long-running processes' memory flat: bounded caches and giving freed memory back.

``BoundedCache``: the one LRU for caches whose values differ in size (a client's decoded
stream, a verified token's claims). It is bounded by count *and* by an estimate of the
bytes it holds (``weigh(value)``, in bytes), so a few huge values cannot grow it past its
budget the way a count-only bound lets them. Not thread-safe: callers that share one
across threads hold their own lock.

``release_memory`` / ``MemoryTrimmer``: CPython frees objects into glibc's malloc, which
keeps freed pages in its per-thread arenas instead of returning them to the system. Under
a steady load with many threads (the API's thread pool, the runners' threads) the
resident set of a process therefore climbs long after its live heap has stopped
growing (measured in docs/performance.md, "Memory over a soak"). ``malloc_trim(0)``
returns the free pages; ``serve`` and ``project`` call it about once a minute. It is a
no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

log = logging.getLogger("carerecord.memory")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

TRIM_EVERY_SECONDS = 60.0
EVENT_BYTES = 700
"""About what one decoded event costs in memory besides its text (its labels, and its
share of what is folded from it), for the caches' byte budgets."""


class BoundedCache(Generic[K, V]):
    """A least-recently-used map bounded by ``max_items`` and by ``max_bytes`` as
    estimated by ``weigh`` (the newest value is kept even if it alone is over budget:
    it is what the caller is using)."""

    def __init__(self, *, max_items: int, max_bytes: int, weigh: Callable[[V], int]) -> None:
        if max_items < 1 or max_bytes < 1:
            raise ValueError("a bounded cache needs room for one value")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._weigh = weigh
        self._values: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: K) -> V | None:
        """The value (now the most recently used), or None."""
        found = self._values.get(key)
        if found is None:
            return None
        self._values.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V) -> None:
        """Store (or re-weigh, after the value grew in place) ``key``; evict the least
        recently used values while over either bound."""
        old = self._values.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        weight = max(1, self._weigh(value))
        self._values[key] = (value, weight)
        self.bytes += weight
        while len(self._values) > 1 and (
            len(self._values) > self.max_items or self.bytes > self.max_bytes
        ):
            _, (_, dropped) = self._values.popitem(last=False)
            self.bytes -= dropped

    def pop(self, key: K) -> V | None:
        found = self._values.pop(key, None)
        if found is None:
            return None
        self.bytes -= found[1]
        return found[0]

    def clear(self) -> None:
        self._values.clear()
        self.bytes = 0


def events_bytes(events: Iterable[Any]) -> int:
    """An estimate of the memory decoded ``events`` take: a fixed cost per event plus its
    text, which is most of a large contribution."""
    return sum(EVENT_BYTES + len(getattr(e, "text", None) or "") for e in events)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_TRIM = _malloc_trim()


def release_memory() -> bool:
    """Give the C allocator's free pages back to the system (glibc only); True if it ran."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class MemoryTrimmer:
    """A daemon thread calling ``release_memory`` every ``every`` seconds until stopped."""

    def __init__(self, every: float = TRIM_EVERY_SECONDS) -> None:
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MemoryTrimmer:
        if _TRIM is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="memory-trim", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                release_memory()
            except Exception:  # never fatal: only memory is at stake
                log.exception("malloc_trim failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
