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

On SQLite one file has one writer at a time, and a runner holds the write lock while it
folds a page: two workers writing the same file spent most of their time waiting for
each other (the light worker spent most of its wall time waiting, and held up the
heavy one; see docs/performance.md). So there the first group writes the views file itself and
every other group writes a scratch file of its own (same migrations), whose tables and
tracking rows are copied into the views file in one transaction when the workers are
done. On PostgreSQL the workers write the views directly (row locks only).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import queue
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from carerecord.db import Database, Databases, SQLiteDatabase
from carerecord.migrate import apply_area
from carerecord.settings import Settings
from projections.engine.errors import ProjectionFailed
from projections.engine.framework import (
    TRACKING_TABLE,
    RebuildReport,
    lock_positions,
    reset_views,
)
from projections.engine.runner import EventLogSource, Progress, ProjectionRunner, describe
from projections.engine.settings import ProjectionSettings

log = logging.getLogger("carerecord.projections")
REBUILD_PAGE_SIZE = 20_000
HEAVY_VIEWS = ("audience_views",)
"""Views that get a rebuild worker of their own (the rest share one)."""


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
    started = time.perf_counter()
    scratch_root = core.data_dir if core.dialect == "sqlite" else None
    with tempfile.TemporaryDirectory(prefix="rebuild-", dir=scratch_root) as scratch:
        files: list[Path | None] = [None] * len(groups)
        if core.dialect == "sqlite":
            for index in range(1, len(groups)):
                files[index] = _scratch_views(Path(scratch) / f"views-{index}.sqlite3")
        done = _run_workers(core, settings, groups, files, head, page_size, progress)
        if core.dialect == "sqlite":
            _copy_scratch(core, settings, groups, files)
    seconds = time.perf_counter() - started
    failures = [f for _, _, f in done.values() if f is not None]
    if failures:
        raise ProjectionFailed(*failures[0])
    if progress is not None:
        progress(head, head)
    return RebuildReport(
        chosen,
        max((events for events, _, _ in done.values()), default=0),
        seconds,
        tuple((group, done[i][1]) for i, group in enumerate(groups)),
    )


def _scratch_views(path: Path) -> Path:
    """An empty views file (every views migration applied) for one rebuild worker."""
    database = SQLiteDatabase(path)
    try:
        apply_area(database, "views")
    finally:
        database.close()
    return path


def _copy_scratch(
    core: Settings,
    settings: ProjectionSettings,
    groups: Sequence[tuple[str, ...]],
    files: Sequence[Path | None],
) -> None:
    """Copy each scratch file's view tables and tracking rows into the views file, all in
    one transaction (the tables were emptied by the reset; nothing else writes them)."""
    from projections.registry import view_projections

    databases = Databases(core)
    try:
        views = databases.views
        assert isinstance(views, SQLiteDatabase)
        for index, path in enumerate(files):
            if path is None:
                continue
            projections = view_projections(views, settings, groups[index])
            names = [p.name for p in projections]
            with views.attached(path, "scratch"), views.transaction() as tx:
                moved = [n for n, at in lock_positions(tx, views, names).items() if at != 0]
                if moved:
                    # A live worker has been rebuilding these views in the views file
                    # meanwhile: its rows and positions agree; the scratch copy is dropped.
                    log.warning("rebuild: %s advanced by another runner; kept", moved[0])
                    continue
                for projection in projections:
                    for table in projection.tables:
                        tx.execute(f"INSERT INTO main.{table} SELECT * FROM scratch.{table}")
                marks = ", ".join("?" * len(names))
                tx.execute(
                    f"INSERT OR REPLACE INTO main.{TRACKING_TABLE} "
                    f"SELECT * FROM scratch.{TRACKING_TABLE} WHERE name IN ({marks})",
                    names,
                )
    finally:
        databases.close()


def _run_workers(
    core: Settings,
    settings: ProjectionSettings,
    groups: Sequence[tuple[str, ...]],
    files: Sequence[Path | None],
    head: int,
    page_size: int,
    progress: Progress | None,
) -> dict[int, tuple[int, float, tuple[str, int, str] | None]]:
    """Start one worker per group and follow them to the end: per worker, the events it
    read, its seconds and its first failure (``RuntimeError`` if a worker died)."""
    context = multiprocessing.get_context("spawn")
    messages: Any = context.Queue()
    processes = [
        context.Process(
            target=_rebuild_worker,
            args=(core, settings, group, files[index], head, page_size, index, messages),
            name=f"rebuild-{index}",
            daemon=True,
        )
        for index, group in enumerate(groups)
    ]
    for process in processes:
        process.start()
    done: dict[int, tuple[int, float, tuple[str, int, str] | None]] = {}
    reached = dict.fromkeys(range(len(groups)), 0)
    errors: list[str] = []
    try:
        while len(done) + len(errors) < len(groups):
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
                done[index] = (message[2], message[3], message[4])
                reached[index] = max(reached[index], head)
            else:
                errors.append(str(message[2]))
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    if errors:
        raise RuntimeError(f"rebuild worker failed: {errors[0]}")
    return done


def _rebuild_worker(
    core: Settings,
    settings: ProjectionSettings,
    names: tuple[str, ...],
    scratch: Path | None,
    until: int,
    page_size: int,
    index: int,
    messages: Any,
) -> None:
    """One rebuild worker: its own application and connections, one runner for ``names``
    writing the views (or, on SQLite, its ``scratch`` file).

    The worker runs with Python's cyclic garbage collector off. It is a process of its
    own that exits when its views are built, and a fold makes almost no reference
    cycles (30 unreachable objects after 300,000 events of the audience views), while
    the collections that the runner's per-page pause still leaves (one at the end of
    each page, over everything the page kept) cost 0.15-0.3 s a page there.
    """
    from carerecord.runtime import open_care_record
    from projections.registry import view_projections

    gc.disable()
    started = time.perf_counter()
    try:
        app = open_care_record(core)
        databases = Databases(core)
        views = databases.views if scratch is None else SQLiteDatabase(scratch)
    except BaseException as exc:
        messages.put(("error", index, describe(exc)))
        return
    try:
        runner = ProjectionRunner(
            EventLogSource(app),
            views,
            view_projections(views, settings, names),
            page_size=page_size,
        )
        failure: tuple[str, int, str] | None = None
        try:
            events = runner.catch_up(
                lambda reached, _total: messages.put(("progress", index, reached)), until=until
            )
        except ProjectionFailed as failed:  # the group's other views were still finished
            failure, events = (failed.name, failed.position, failed.error), until
        messages.put(("done", index, events, time.perf_counter() - started, failure))
    except BaseException as exc:
        messages.put(("error", index, describe(exc)))
    finally:
        if scratch is not None:
            views.close()
        databases.close()
        app.close()
