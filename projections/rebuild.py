"""Rebuilding views from the log: empty them, set their positions to 0, catch up.

Views are disposable; the log is not. A rebuilt view equals the view maintained
incrementally (the projections are deterministic folds, whatever the batch
boundaries), which the test suite checks on a generated history.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from carerecord.db import Database
from projections.framework import Projection, reset
from projections.runner import EventLogSource, Progress, ProjectionRunner
from projections.settings import ProjectionSettings

REBUILD_PAGE_SIZE = 20_000


@dataclass(frozen=True)
class RebuildReport:
    names: tuple[str, ...]
    events: int
    seconds: float

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


def rebuild(
    app: Any,
    views: Database,
    settings: ProjectionSettings,
    *,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    page_size: int = REBUILD_PAGE_SIZE,
) -> RebuildReport:
    """Drop and rebuild the named views (all by default) from the whole log."""
    from projections.registry import view_projections

    projections = view_projections(views, settings, names)
    reset_views(views, projections)
    runner = ProjectionRunner(EventLogSource(app), views, projections, page_size=page_size)
    started = time.perf_counter()
    events = runner.catch_up(progress)
    return RebuildReport(tuple(p.name for p in projections), events, time.perf_counter() - started)
