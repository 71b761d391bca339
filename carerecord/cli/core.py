"""Core commands: migrate the store, adopt and show the information sharing protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from carerecord.errors import CareRecordError
from carerecord.migrate import migrate
from carerecord.policy.reach import reach_changes, reach_matrix
from carerecord.protocol import Protocol, bundled_document, load_document
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from carerecord.sharing_protocol import check_document

console = Console()
protocol_app = typer.Typer(help="The information sharing protocol.", no_args_is_help=True)


def fail(exc: CareRecordError) -> typer.Exit:
    """Print a coded error (never clinical content) and return the exit to raise."""
    console.print(f"[red]{exc.code}[/red]: {exc.message} {exc.fields or ''}")
    return typer.Exit(code=2)


def migrate_command() -> None:
    """Create the event store and apply pending SQL migrations (run once per deployment)."""
    settings = Settings.from_env()
    applied = migrate(settings)
    where = settings.dialect if settings.postgres is None else settings.postgres.dbname
    console.print(f"Migrated the {settings.dialect} store ({where}); applied {len(applied)}.")
    for name in applied:
        console.print(f"  {name}")


@protocol_app.command("adopt")
def adopt(
    file: Annotated[Path | None, typer.Argument(help="A protocol document (YAML or JSON).")] = None,
    bundled: Annotated[
        int | None,
        typer.Option(
            help="Adopt a version shipped with the package instead (1, 2 or 3; "
            "3 is minimum necessary)."
        ),
    ] = None,
) -> None:
    """Adopt a new version of the protocol (recorded as an event in the log)."""
    if (file is None) == (bundled is None):
        raise typer.BadParameter("give either FILE or --bundled N")
    settings = Settings.from_env()
    app = open_care_record(settings)
    try:
        document = bundled_document(bundled) if bundled is not None else load_document(file)  # type: ignore[arg-type]
        result = app.adopt_protocol(document)
    except CareRecordError as exc:
        raise fail(exc) from None
    finally:
        app.close()
    console.print(f"Adopted protocol version {result.id} at log position {result.position}.")


@protocol_app.command("show")
def show() -> None:
    """Show the protocol version in force: professions, categories, purposes."""
    settings = Settings.from_env()
    app = open_care_record(settings)
    try:
        protocol = app.protocol()
    except CareRecordError as exc:
        raise fail(exc) from None
    finally:
        app.close()
    console.print(f"[bold]{protocol.title}[/bold] - version {protocol.version}")
    table = Table("profession", "sector", "headings")
    for prof in protocol.professions.values():
        table.add_row(prof.id, prof.sector.value, ", ".join(prof.headings))
    console.print(table)


@protocol_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="A protocol document to validate.")]) -> None:
    """Validate a protocol document without adopting it."""
    try:
        protocol = check_document(load_document(file))
    except CareRecordError as exc:
        raise fail(exc) from None
    console.print(
        f"Valid: {protocol.partnership} version {protocol.version} ({protocol.content_hash[:12]})."
    )


ProposedFile = Annotated[
    Path | None, typer.Argument(help="A protocol document (YAML or JSON); none: in force.")
]
BundledVersion = Annotated[int | None, typer.Option(help="A version shipped with the package.")]


def _proposed(file: Path | None, bundled: int | None) -> Protocol | None:
    """The protocol named by FILE or --bundled N (None when neither is given)."""
    if file is not None and bundled is not None:
        raise typer.BadParameter("give FILE or --bundled N, not both")
    if file is None and bundled is None:
        return None
    document = bundled_document(bundled) if bundled is not None else load_document(file)  # type: ignore[arg-type]
    return check_document(document)


def _in_force() -> Protocol:
    app = open_care_record(Settings.from_env())
    try:
        return app.protocol()
    finally:
        app.close()


def _names(categories: object) -> str:
    return ", ".join(sorted(categories)) or "-"  # type: ignore[call-overload]


@protocol_app.command("reach")
def reach(file: ProposedFile = None, bundled: BundledVersion = None) -> None:
    """Which categories each profession reaches for each purpose: with the client's
    consent, without it (implied consent) and under break-glass - as the policy decides
    for an ordinary entry of each category (the version in force, FILE or --bundled N)."""
    try:
        protocol = _proposed(file, bundled) or _in_force()
    except CareRecordError as exc:
        raise fail(exc) from None
    console.print(f"[bold]{protocol.title}[/bold] - version {protocol.version}")
    table = Table("profession", "purpose", "with consent", "without consent", "break-glass")
    for column in table.columns:
        column.overflow = "fold"
    for row in reach_matrix(protocol):
        table.add_row(
            row.profession,
            row.purpose.value,
            _names(row.with_consent),
            _names(row.without_consent),
            _names(row.under_break_glass),
        )
    console.print(table)


@protocol_app.command("changes")
def changes(file: ProposedFile = None, bundled: BundledVersion = None) -> None:
    """Who gains and who loses which categories if FILE (or --bundled N) replaced the
    version in force; nothing is adopted or changed."""
    try:
        proposed = _proposed(file, bundled)
        if proposed is None:
            raise typer.BadParameter("give FILE or --bundled N")
        current = _in_force()
    except CareRecordError as exc:
        raise fail(exc) from None
    console.print(f"Version {current.version} in force -> proposed version {proposed.version}")
    found = reach_changes(current, proposed)
    if not found:
        console.print("No profession gains or loses any category.")
        return
    table = Table("profession", "purpose", "gains", "loses")
    for column in table.columns:
        column.overflow = "fold"
    for change in found:
        gains = [
            f"consent: {_names(change.gains_with_consent)}",
            f"no consent: {_names(change.gains_without_consent)}",
            f"break-glass: {_names(change.gains_under_break_glass)}",
        ]
        loses = [
            f"consent: {_names(change.loses_with_consent)}",
            f"no consent: {_names(change.loses_without_consent)}",
            f"break-glass: {_names(change.loses_under_break_glass)}",
        ]
        table.add_row(change.profession, change.purpose.value, "\n".join(gains), "\n".join(loses))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate_command)
    app.add_typer(protocol_app, name="protocol")
