"""Rebuilding views from the log: empty them, set their positions to 0, catch up.

Views are disposable; the log is not. A rebuilt view equals the view maintained
incrementally (the projections are deterministic folds, whatever the batch
boundaries), which the test suite checks on a generated history.

``rebuild`` runs in this process. ``rebuild_in_workers`` splits the views into
groups and rebuilds each group in its own worker process (one runner each, reading
the whole log), so a rebuild uses more than one core: the audience views are by far
the heaviest fold and get a worker to themselves, everything else shares the other.
Each projection is still folded by exactly one runner, in log order, with its
tracking position in its own transactions, so the result is the same as in one
process (tested); only the wall-clock time changes.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from carerecord.db import Database, Databases
from carerecord.settings import Settings
from projections.errors import ProjectionFailed
from projections.framework import Projection, reset
from projections.runner import EventLogSource, Progress, ProjectionRunner, describe
from projections.settings import ProjectionSettings

REBUILD_PAGE_SIZE = 20_000
HEAVY_VIEWS = ("audience_views",)
"""Views that get a rebuild worker of their own (the rest share one)."""


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


def worker_groups(names: Sequence[str], workers: int) -> list[tuple[str, ...]]:
    """How ``names`` are shared among at most ``workers`` rebuild workers: each heavy view
    alone (while workers remain), the others together; never an empty group."""
    heavy = [n for n in names if n in HEAVY_VIEWS]
    rest = [n for n in names if n not in HEAVY_VIEWS]
    groups: list[tuple[str, ...]] = []
    while heavy and len(groups) < workers - 1:
        groups.append((heavy.pop(0),))
    if heavy or rest:
        groups.append((*heavy, *rest))
    return groups


def rebuild_in_workers(
    core: Settings,
    settings: ProjectionSettings,
    *,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    page_size: int = REBUILD_PAGE_SIZE,
    workers: int = 2,
) -> RebuildReport:
    """Drop and rebuild the named views (all by default) with up to ``workers`` processes.

    The views are emptied here, in one transaction, then each worker (a fresh process
    with its own connections, started with ``spawn``) catches its group up to the log
    head read at the start. ``progress`` sees the slowest worker's position. Raises
    ``ProjectionFailed`` if a projection stopped on an error (the other workers finish
    their views), ``RuntimeError`` if a worker died without saying why.
    """
    from projections.registry import VIEW_NAMES, view_projections

    chosen = tuple(n for n in VIEW_NAMES if names is None or n in names)
    databases = Databases(core)
    try:
        projections = view_projections(databases.views, settings, chosen)
        reset_views(databases.views, projections)
    finally:
        databases.close()
    from carerecord.runtime import open_care_record

    app = open_care_record(core)
    try:
        head = EventLogSource(app).head()
    finally:
        app.close()
    groups = worker_groups(chosen, max(1, workers))
    context = multiprocessing.get_context("spawn")
    messages: Any = context.Queue()
    started = time.perf_counter()
    processes = [
        context.Process(
            target=_rebuild_worker,
            args=(core, settings, group, head, page_size, index, messages),
            name=f"rebuild-{index}",
            daemon=True,
        )
        for index, group in enumerate(groups)
    ]
    for process in processes:
        process.start()
    done: dict[int, int] = {}
    reached = dict.fromkeys(range(len(groups)), 0)
    failures: list[tuple[str, int, str]] = []
    errors: list[str] = []
    try:
        while len(done) + len(errors) + len(failures) < len(groups):
            try:
                message = messages.get(timeout=0.5)
            except queue.Empty:
                dead = [
                    i for i, p in enumerate(processes)
                    if not p.is_alive() and i not in done and p.exitcode not in (None, 0)
                ]  # fmt: skip
                if dead and messages.empty():
                    errors.extend(f"worker {i} exited with {processes[i].exitcode}" for i in dead)
                    break
                continue
            kind, index = message[0], message[1]
            if kind == "progress":
                reached[index] = message[2]
                if progress is not None:
                    progress(min(reached.values()), head)
            elif kind == "done":
                done[index] = message[2]
                reached[index] = max(reached[index], head)
            elif kind == "failed":
                failures.append((message[2], message[3], message[4]))
            else:
                errors.append(str(message[2]))
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    seconds = time.perf_counter() - started
    if failures:
        raise ProjectionFailed(*failures[0])
    if errors:
        raise RuntimeError(f"rebuild worker failed: {errors[0]}")
    if progress is not None:
        progress(head, head)
    return RebuildReport(chosen, max(done.values(), default=0), seconds)


def _rebuild_worker(
    core: Settings,
    settings: ProjectionSettings,
    names: tuple[str, ...],
    until: int,
    page_size: int,
    index: int,
    messages: Any,
) -> None:
    """One rebuild worker: its own application and connections, one runner for ``names``."""
    from carerecord.runtime import open_care_record
    from projections.registry import view_projections

    try:
        app = open_care_record(core)
        databases = Databases(core)
    except BaseException as exc:
        messages.put(("error", index, describe(exc)))
        return
    try:
        runner = ProjectionRunner(
            EventLogSource(app),
            databases.views,
            view_projections(databases.views, settings, names),
            page_size=page_size,
        )
        events = runner.catch_up(
            lambda reached, _total: messages.put(("progress", index, reached)), until=until
        )
        messages.put(("done", index, events))
    except ProjectionFailed as failure:
        messages.put(("failed", index, failure.name, failure.position, failure.error))
    except BaseException as exc:
        messages.put(("error", index, describe(exc)))
    finally:
        databases.close()
        app.close()
