"""How far the read side is: each projection's position and lag, and the runners' heartbeats."""

from __future__ import annotations

from dataclasses import dataclass

from projections.engine.heartbeat import WorkerBeat, workers_state


@dataclass(frozen=True)
class ProjectionStatus:
    """One projection's progress: its tracking position, how far behind the log it is,
    and whether it has stopped on an error."""

    name: str
    position: int
    lag: int
    failed: bool
    error: str | None
    updated_at: str | None


@dataclass(frozen=True)
class Readiness:
    """Health of the read side for ``/readyz``: ready when no projection has failed.

    ``workers`` are the runners' last heartbeats (``projections.engine.heartbeat``)."""

    head: int
    projections: tuple[ProjectionStatus, ...]
    workers: tuple[WorkerBeat, ...] = ()

    @property
    def ready(self) -> bool:
        return all(not p.failed for p in self.projections)

    @property
    def max_lag(self) -> int:
        return max((p.lag for p in self.projections), default=0)

    def workers_state(self, window: float) -> str:
        """``ok``, or ``stalled (...)`` when the views are behind the log and no runner of
        the views is live (seen within ``window`` seconds)."""
        return workers_state(self.workers, behind=self.max_lag > 0, window=window)
