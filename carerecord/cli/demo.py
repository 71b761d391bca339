"""``carerecord demo``: load the demo dataset into the configured store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from carerecord.application import CareRecord
from carerecord.cli.core import fail
from carerecord.demo import DemoSummary, load_demo
from carerecord.errors import CareRecordError, ProtocolNotAdopted
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings

console = Console()
NOT_EMPTY = "STORE_NOT_EMPTY"


def demo_command(
    clients: Annotated[
        int, typer.Option(min=0, max=10_000, help="Generated clients besides the scenarios.")
    ] = 60,
    seed: Annotated[int, typer.Option(help="The same seed gives the same content.")] = 7,
    if_empty: Annotated[
        bool,
        typer.Option("--if-empty", help="Skip silently if the store already has a protocol."),
    ] = False,
) -> None:
    """Load the demo partnership and the pilots' scenarios into the configured store."""
    settings = Settings.from_env()
    migrate(settings)
    app = open_care_record(settings)
    try:
        if _protocol_adopted(app):
            if if_empty:
                return
            console.print(
                f"[red]{NOT_EMPTY}[/red]: the store already has a protocol adopted; the demo "
                "loads into an empty store only (use --if-empty to skip quietly)."
            )
            raise typer.Exit(code=2)
        summary = _load_with_progress(app, clients=clients, seed=seed)
    except CareRecordError as exc:
        raise fail(exc) from None
    finally:
        app.close()
    _print_summary(summary)


def _protocol_adopted(app: CareRecord) -> bool:
    try:
        app.protocol()
    except ProtocolNotAdopted:
        return False
    return True


def _load_with_progress(app: CareRecord, *, clients: int, seed: int) -> DemoSummary:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("Loading the demo dataset", total=None)
        return load_demo(
            app,
            seed=seed,
            clients=clients,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


def _print_summary(summary: DemoSummary) -> None:
    console.print(
        f"Loaded the demo (seed {summary.seed}): protocol version {summary.protocol_version} in "
        f"force, {len(summary.agencies)} agencies, {len(summary.practitioners)} practitioners, "
        f"{len(summary.scenario_clients) + len(summary.generated_clients)} clients, "
        f"log position {summary.position}."
    )
    counts = Table("events", "count", title="What the log holds")
    for name, count in summary.counts.items():
        counts.add_row(name, str(count))
    console.print(counts)
    people = Table("key", "practitioner id", "agency", "profession", "roles", title="Who to be")
    for person in summary.practitioners.values():
        people.add_row(
            person.key,
            person.practitioner_id,
            person.agency_id,
            person.profession,
            ", ".join(person.roles),
        )
    console.print(people)
    stories = Table("scenario", "client id", title="The pilots' scenarios")
    for name, client_id in summary.scenario_clients.items():
        stories.add_row(name, client_id)
    console.print(stories)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
