"""Waiting for what another thread or process commits: poll a condition with a deadline.

The one poll every suite uses (no sleeps over races): ``wait_until(check, timeout=...)``
returns as soon as ``check()`` is true and fails loudly, naming ``what``, at the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    check: Callable[[], bool], *, timeout: float = 10.0, what: str = "", every: float = 0.02
) -> None:
    """Wait for a condition (with a deadline), polling every ``every`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        time.sleep(every)
