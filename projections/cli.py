"""Commands for the read side: ``project`` (the worker), ``rebuild``, ``views-status``."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from carerecord.db import Databases
from carerecord.errors import CareRecordError
from carerecord.memory import MemoryTrimmer
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from projections.audit.cli import rebuild_audit_command
from projections.audit.registry import AUDIT_NAMES, GovernanceTasks
from projections.audit.settings import GovernanceSettings
from projections.engine.errors import ProjectionFailed
from projections.engine.settings import ProjectionSettings
from projections.rebuild import rebuild, rebuild_in_workers, worker_groups
from projections.registry import VIEW_NAMES, view_runner

console = Console()


def project_command(
    once: Annotated[
        bool, typer.Option("--once", help="Catch up with the log, then exit (no live follow).")
    ] = False,
) -> None:
    """Run the projection worker: catch up with the log, then follow it live.

    On PostgreSQL it wakes on the event table's NOTIFY channel (a hint: it always
    reads the table); on SQLite it polls. Stop it with SIGTERM or Ctrl-C; a batch in
    progress is rolled back, never half-applied.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    config = ProjectionSettings.from_env()
    app = open_care_record(settings)
    databases = Databases(settings)
    runner = view_runner(
        app, databases.views, config, core=settings, listen=not once, heartbeat=not once
    )
    try:
        governance = GovernanceTasks(  # the audit index over the access log; checkpoints
            app, settings, databases, config, GovernanceSettings.from_env(), index=True
        )
    except CareRecordError as exc:  # e.g. no checkpoint key configured in production
        console.print(f"[red]{exc.code}[/red]: {exc.message} {exc.fields or ''}")
        databases.close()
        app.close()
        raise typer.Exit(code=2) from None
    trimmer = MemoryTrimmer()
    try:
        if once:
            try:
                count = runner.catch_up() + governance.catch_up()
            except ProjectionFailed as failure:
                console.print(f"[red]projection {failure.name} stopped[/red]: {failure.error}")
                raise typer.Exit(code=1) from None
            console.print(f"Caught up: {count} events; positions {runner.positions()}.")
            return
        stop = threading.Event()

        def handle(signum: int, frame: FrameType | None) -> None:
            stop.set()
            runner.wake()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
        logging.getLogger("carerecord.projections").info(
            "projection worker started (%s)", settings.dialect
        )
        governance.start()
        trimmer.start()  # gives freed memory back to the system once a minute
        runner.run_forever(stop)
        if runner.failures() or governance.failures():
            raise typer.Exit(code=1)
    finally:
        trimmer.stop()
        governance.close()
        databases.close()
        app.close()


def rebuild_command(
    view: Annotated[
        str | None,
        typer.Argument(
            help=f"One view to rebuild ({', '.join(VIEW_NAMES + AUDIT_NAMES)}); all by default."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=16,
            help="Worker processes (default CARERECORD_REBUILD_WORKERS, 2): the audience "
            "views in one, the other views in another; 1: in this process.",
        ),
    ] = None,
) -> None:
    """Drop and rebuild views from the log, with a progress bar and the events/s achieved."""
    settings = Settings.from_env()
    config = ProjectionSettings.from_env()
    count = workers or config.rebuild_workers
    if view is not None and view not in VIEW_NAMES + AUDIT_NAMES:
        names = ", ".join(VIEW_NAMES + AUDIT_NAMES)
        raise typer.BadParameter(f"unknown view {view!r}; one of {names}")
    if view in AUDIT_NAMES:  # the audit projections read the access log
        return rebuild_audit_command(view)
    app = open_care_record(settings)
    databases = Databases(settings)
    try:
        with Progress(
            TextColumn("[bold]rebuilding[/bold] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} events"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            head = int(app.recorder.max_notification_id() or 0)
            task = bar.add_task(view or "all views", total=head)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            chosen = VIEW_NAMES if view is None else (view,)
            try:
                if len(worker_groups(chosen, count)) > 1:
                    report = rebuild_in_workers(
                        settings, config, names=chosen, progress=progress, workers=count
                    )
                else:
                    report = rebuild(app, databases.views, config, names=chosen, progress=progress)
            except ProjectionFailed as failure:
                console.print(f"[red]projection {failure.name} stopped[/red]: {failure.error}")
                raise typer.Exit(code=1) from None
            except RuntimeError as failure:  # a worker process died (its own log says why)
                console.print(f"[red]rebuild failed[/red]: {failure}")
                raise typer.Exit(code=1) from None
    finally:
        databases.close()
        app.close()
    console.print(
        f"Rebuilt {', '.join(report.names)}: {report.events:,} events in "
        f"{report.seconds:.1f} s ({report.events_per_second:,.0f} events/s)."
    )
    if view is None:
        rebuild_audit_command(None)


def status_command() -> None:
    """Show each view's tracking position, lag behind the log and error state."""
    settings = Settings.from_env()
    app = open_care_record(settings)
    databases = Databases(settings)
    try:
        from projections.repository import ReadRepository

        readiness = ReadRepository(app, databases.views).readiness()
    finally:
        databases.close()
        app.close()
    table = Table("view", "position", "lag", "status")
    for status in readiness.projections:
        state = f"[red]failed[/red] {status.error}" if status.failed else "ok"
        table.add_row(status.name, str(status.position), str(status.lag), state)
    console.print(f"Log head: {readiness.head}")
    console.print(table)
    if readiness.workers:
        workers = Table("runner", "kind", "status", "position", "last seen", "last advanced")
        for beat in readiness.workers:
            workers.add_row(
                beat.worker_id,
                beat.kind,
                beat.status,
                str(beat.position),
                f"{beat.seen_ago:.0f} s ago",
                f"{beat.advanced_ago:.0f} s ago",
            )
        console.print(workers)
    if not readiness.ready:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("project")(project_command)
    app.command("rebuild")(rebuild_command)
    app.command("views-status")(status_command)
