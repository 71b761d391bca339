"""Configuration of the read side (projections, runner, read repository).

Read from environment variables by entry points only (``ProjectionSettings.from_env()``),
never at import time; the result is passed down explicitly.

| variable | default | meaning |
|---|---|---|
| ``CARERECORD_CONCERN_WINDOW_DAYS`` | 30 | concerns from several agencies within this many days flag a client (changing it needs ``carerecord rebuild concerns``) |
| ``CARERECORD_PROJECTION_PAGE_SIZE`` | 2000 | events read from the log (and committed) per batch |
| ``CARERECORD_PROJECTION_POLL_SECONDS`` | 0.2 | how long an idle runner waits before looking at the log again (SQLite; on PostgreSQL a NOTIFY wakes it sooner) |
| ``CARERECORD_PROJECTION_CACHE_CLIENTS`` | 5000 | per-client working states kept in memory between batches |
| ``CARERECORD_REBUILD_WORKERS`` | 2 | processes ``carerecord rebuild`` uses (the audience views in one, the other views in another; 1: all in the command's own process) |
| ``CARERECORD_WORKER_HEARTBEAT_SECONDS`` | 2 | how often a runner following the log writes its heartbeat (``projections.engine.heartbeat``), idle or not |
| ``CARERECORD_VIEW_WAIT_SECONDS`` | 2 | how long a read waits for the views to catch up with a protocol change or with the caller's new standing (care relationship, break-glass) before failing with ``VIEWS_BEHIND`` |
"""  # noqa: E501

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

MAX_PAGE_LIMIT = 200
"""No list read returns more than this many items, whatever the caller asks for."""


@dataclass(frozen=True)
class ProjectionSettings:
    """How the projections are built and read."""

    concern_window_days: int = 30
    page_size: int = 2000
    poll_seconds: float = 0.2
    cache_clients: int = 5000
    view_wait_seconds: float = 2.0
    rebuild_workers: int = 2
    heartbeat_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.concern_window_days <= 3660:
            raise ValueError("CARERECORD_CONCERN_WINDOW_DAYS must be between 1 and 3660")
        if not 1 <= self.page_size <= 100_000:
            raise ValueError("CARERECORD_PROJECTION_PAGE_SIZE must be between 1 and 100000")
        if not 0.001 <= self.poll_seconds <= 60:
            raise ValueError("CARERECORD_PROJECTION_POLL_SECONDS must be between 0.001 and 60")
        if not 0 <= self.view_wait_seconds <= 60:
            raise ValueError("CARERECORD_VIEW_WAIT_SECONDS must be between 0 and 60")
        if not 1 <= self.rebuild_workers <= 16:
            raise ValueError("CARERECORD_REBUILD_WORKERS must be between 1 and 16")
        if not 0.05 <= self.heartbeat_seconds <= 60:
            raise ValueError("CARERECORD_WORKER_HEARTBEAT_SECONDS must be between 0.05 and 60")
        if self.cache_clients < 0:
            raise ValueError("CARERECORD_PROJECTION_CACHE_CLIENTS must not be negative")

    @property
    def concern_window(self) -> timedelta:
        return timedelta(days=self.concern_window_days)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProjectionSettings:
        env = os.environ if environ is None else environ
        return cls(
            concern_window_days=int(env.get("CARERECORD_CONCERN_WINDOW_DAYS", "30")),
            page_size=int(env.get("CARERECORD_PROJECTION_PAGE_SIZE", "2000")),
            poll_seconds=float(env.get("CARERECORD_PROJECTION_POLL_SECONDS", "0.2")),
            cache_clients=int(env.get("CARERECORD_PROJECTION_CACHE_CLIENTS", "5000")),
            view_wait_seconds=float(env.get("CARERECORD_VIEW_WAIT_SECONDS", "2")),
            rebuild_workers=int(env.get("CARERECORD_REBUILD_WORKERS", "2")),
            heartbeat_seconds=float(env.get("CARERECORD_WORKER_HEARTBEAT_SECONDS", "2")),
        )
