"""``carerecord audit ...``: verify the logs, sign checkpoints, replay reads, look back in time.

Exit codes: 0 - intact / match; 1 - a break, a mismatch, or a read that cannot be
replayed; 2 - could not run (not found, bad input, key problems). Output names
positions, ids, versions, categories and hashes; clinical text (entry text and the
professions' own headings) is shown only with ``--show-text``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Column, Table

from carerecord import errors, validation
from carerecord.application import CareRecord
from carerecord.audit.access_chain import find_access
from carerecord.audit.chains import ACCESS, EVENTS, LOGS
from carerecord.audit.checkpoints import (
    Checkpoint,
    checkpoint_logs,
    load_signer,
    trusted_keys,
)
from carerecord.audit.reconstruct import Outcome, Reconstruction, TimeTravel, entry_json
from carerecord.audit.verify import LogReport, verify_logs
from carerecord.db import Databases
from carerecord.errors import CareRecordError
from carerecord.migrate import require_migrated
from carerecord.runtime import open_care_record
from carerecord.settings import Settings

console = Console(highlight=False)
audit_app = typer.Typer(
    help="Audit and governance: prove the logs are intact, replay who saw what.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
TextOption = Annotated[
    bool, typer.Option("--show-text", help="Also print entry text and headings (clinical).")
]


_ID_COLUMNS = frozenset({"entry", "consent"})


def _table(*names: str, title: str | None = None) -> Table:
    """A table whose cells fold rather than truncate, and whose ids print whole."""
    return Table(
        *(
            Column(n, no_wrap=True, min_width=36)
            if n in _ID_COLUMNS
            else Column(n, overflow="fold")
            for n in names
        ),
        title=title,
    )


def _refuse(exc: CareRecordError) -> typer.Exit:
    console.print(f"[red]{exc.code}[/red]: {exc.message} {exc.fields or ''}")
    return typer.Exit(code=2)


def _emit_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _logs(events: bool, access: bool) -> Sequence[str]:
    if events == access:
        return LOGS
    return (EVENTS,) if events else (ACCESS,)


def migrated_settings() -> Settings:
    """The settings, once the store is known to be migrated; otherwise exit 2 ("could
    not run") with the coded reason, having created nothing (a never-migrated store is
    not a broken one)."""
    settings = Settings.from_env()
    try:
        require_migrated(settings)
    except CareRecordError as exc:
        raise _refuse(exc) from None
    return settings


@contextmanager
def _deployment() -> Iterator[tuple[Settings, Databases]]:
    settings = migrated_settings()
    dbs = Databases(settings)
    try:
        yield settings, dbs
    finally:
        dbs.close()


@contextmanager
def _application(settings: Settings) -> Iterator[CareRecord]:
    app = open_care_record(settings)
    try:
        yield app
    finally:
        app.close()


# --- verify ---------------------------------------------------------------------------------


def _load_exported(path: Path) -> list[Checkpoint]:
    """Checkpoints exported earlier (``checkpoint --json``): a JSON list, or JSON lines."""
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        items = orjson.loads(text)
    else:
        items = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    return [Checkpoint.from_json(item) for item in items]


@audit_app.command("verify")
def verify_command(
    events: Annotated[bool, typer.Option("--events", help="Only the event log.")] = False,
    access: Annotated[bool, typer.Option("--access", help="Only the access log.")] = False,
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="Also hold the chains to these exported checkpoints (JSON)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute both hash chains and check every signed checkpoint; report the first break."""
    with _deployment() as (settings, dbs):
        try:
            extra = [] if checkpoints is None else _load_exported(checkpoints)
            reports = verify_logs(
                settings,
                dbs,
                trusted=trusted_keys(settings),
                logs=_logs(events, access),
                extra_checkpoints=extra,
            )
        except CareRecordError as exc:
            raise _refuse(exc) from None
    if as_json:
        _emit_json(
            {"intact": all(r.intact for r in reports), "logs": [r.to_json() for r in reports]}
        )
    else:
        _print_reports(reports)
    if not all(r.intact for r in reports):
        raise typer.Exit(code=1)


def _print_reports(reports: Sequence[LogReport]) -> None:
    table = _table("log", "records", "head", "checkpoints (valid/all)", "records/s", "state")
    for r in reports:
        rate = r.chain.records / r.chain.seconds if r.chain.seconds > 0 else 0.0
        table.add_row(
            r.log,
            str(r.chain.records),
            str(r.chain.head_position),
            f"{r.checkpoints_valid}/{r.checkpoints}",
            f"{rate:,.0f}",
            "[green]intact[/green]" if r.intact else "[red]BROKEN[/red]",
        )
    console.print(table)
    for r in reports:
        brk = r.first_break
        if brk is None:
            continue
        console.print(f"[red]First broken link in the {brk.log} log[/red]: {brk.kind.value}")
        console.print(
            f"  position {brk.position}"
            + (f" (last intact: {brk.after_position})" if brk.after_position is not None else "")
        )
        if brk.stream is not None:
            label = "stream" if brk.log == EVENTS else "client"
            console.print(f"  {label} {brk.stream}, version {brk.version}")
        console.print(f"  {brk.detail}")


# --- checkpoint -----------------------------------------------------------------------------


@audit_app.command("checkpoint")
def checkpoint_command(
    events: Annotated[bool, typer.Option("--events", help="Only the event log.")] = False,
    access: Annotated[bool, typer.Option("--access", help="Only the access log.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the signed checkpoints (keep a copy elsewhere).")
    ] = False,
) -> None:
    """Check each log since its last checkpoint, then sign and store a checkpoint of its head."""
    with _deployment() as (settings, dbs):
        try:
            signer = load_signer(settings)
            assert signer is not None  # created if missing
            signed = checkpoint_logs(
                settings, dbs, signer, now=datetime.now(UTC), logs=_logs(events, access)
            )
        except CareRecordError as exc:
            console.print(f"[red]{exc.code}[/red]: {exc.message} {exc.fields or ''}")
            raise typer.Exit(code=1) from None
    if as_json:
        _emit_json([c.to_json() for c in signed])
        return
    for c in signed:
        console.print(
            f"Signed checkpoint {c.checkpoint_id} of the {c.log} log at position {c.position} "
            f"(head {c.head_hash.hex()[:16]}..., key {c.key_id})."
        )


@audit_app.command("public-key")
def public_key_command() -> None:
    """Print the checkpoint signing key's public half (PEM), for verifiers elsewhere."""
    settings = Settings.from_env()
    try:
        signer = load_signer(settings, create=False)
    except CareRecordError as exc:
        raise _refuse(exc) from None
    if signer is None:
        console.print("No checkpoint key yet: run 'carerecord audit checkpoint' first.")
        raise typer.Exit(code=2)
    sys.stdout.write(signer.public_key_pem())


# --- reconstruct ----------------------------------------------------------------------------


@audit_app.command("reconstruct")
def reconstruct_command(
    access_id: Annotated[str, typer.Option("--access-id", help="The access record to replay.")],
    show_text: TextOption = False,
    as_json: JsonOption = False,
) -> None:
    """Replay a recorded read exactly and compare its hash with the access log's."""
    with _deployment() as (settings, dbs):
        found = find_access(dbs.access, access_id)
        if found is None:
            console.print("[red]ACCESS_NOT_FOUND[/red]: no access record has this id.")
            raise typer.Exit(code=2)
        with _application(settings) as app:
            result = TimeTravel(app).reconstruct(found.record)
    if as_json:
        data = result.to_json(show_text=show_text)
        data.update(position=found.position, record_intact=found.intact)
        _emit_json(data)
    else:
        _print_reconstruction(result, found.position, found.intact, show_text)
    if not (result.matches and found.intact):
        raise typer.Exit(code=1)


def _print_reconstruction(
    result: Reconstruction, position: int, intact: bool, show_text: bool
) -> None:
    colour = "green" if result.matches else "red"
    console.print(
        f"Access {result.access_id} (access log position {position}, client {result.client_id}):"
        f" [{colour}]{result.outcome.value.upper()}[/{colour}]"
    )
    if not intact:
        console.print("[red]  The access record itself does not match its chain hash.[/red]")
    if result.outcome is Outcome.NOT_RECONSTRUCTIBLE:
        console.print(f"  cannot replay: {result.reason}")
        return
    console.print(
        f"  view version {result.view_version}, state version {result.state_version}, "
        f"protocol {result.protocol_version} (view built under {result.view_protocol_version}),"
        f" standing {result.relationship}"
    )
    console.print(f"  recorded hash      {result.recorded_hash}")
    console.print(f"  reconstructed hash {result.reconstructed_hash}")
    for label, ids in (
        ("recorded but not reconstructed", result.missing),
        ("reconstructed but not recorded", result.unexpected),
        ("at another version", result.changed),
    ):
        if ids:
            console.print(f"  [red]{label}[/red]: {', '.join(ids)}")
    columns = ["entry", "kind", "version", "agency", "category", "sensitivity", "basis", "rule"]
    table = _table(*columns, *(["heading", "text"] if show_text else []))
    for e in result.shown:
        row = [e.entry_id, e.kind, str(e.version), e.agency_id, e.category, e.sensitivity]
        row += [e.basis, e.rule]
        if show_text:
            row += [e.heading or "", e.text]
        table.add_row(*row)
    console.print(table)


# --- as of ----------------------------------------------------------------------------------


def time_option(value: str, *, option: str, dates: bool = False) -> datetime:
    """An ISO 8601 time with a timezone given on the command line (``dates``: or a date, as
    midnight UTC); refused as ``validation`` refuses any time, with a usage error."""
    try:
        if dates and len(value) == 10:
            day = validation.parse_date(value, field=option)
            return validation.aware(datetime.combine(day, time(), tzinfo=UTC), field=option)
        return validation.parse_time(value, field=option)
    except errors.InvalidDate as exc:
        reason = exc.fields.get("reason")
    if reason == "no_timezone":
        raise typer.BadParameter(f"{option}: the time needs a timezone, e.g. +00:00")
    if reason == "out_of_range":
        raise typer.BadParameter(f"{option}: the time is outside the range accepted")
    example = "a date or " if dates else ""
    raise typer.BadParameter(f"{option}: give {example}an ISO 8601 time, e.g. 2026-03-02T09:30:00Z")


@audit_app.command("as-of")
def as_of_command(
    client: Annotated[str, typer.Option("--client", help="The client's id.")],
    at: Annotated[str, typer.Option("--at", help="ISO 8601 time with a timezone.")],
    show_text: TextOption = False,
    as_json: JsonOption = False,
) -> None:
    """A client's whole record as it stood at a past time (for auditors)."""
    when = time_option(at, option="--at")
    settings = migrated_settings()
    with _application(settings) as app:
        try:
            record = TimeTravel(app).record_as_of(client, when)
        except CareRecordError as exc:
            raise _refuse(exc) from None
    if as_json:
        _emit_json(record.to_json(show_text=show_text))
        return
    console.print(
        f"Client {record.client_id} as of {record.at.isoformat()}: version {record.version} "
        f"(recorded {record.recorded_at.isoformat()}), protocol version {record.protocol_version}"
    )
    columns = ["entry", "kind", "version", "agency", "author", "category", "sensitivity", "flags"]
    table = _table(*columns, *(["heading", "text"] if show_text else []), title="Entries")
    for entry in record.entries:
        data = entry_json(entry, show_text=show_text)
        flags = ",".join(f for f in ("amended", "in_error", "resolved") if data[f]) or "-"
        row = [data["entry_id"], data["kind"], str(data["version"]), data["agency_id"]]
        row += [data["author_id"], data["category"], data["sensitivity"], flags]
        if show_text:
            row += [data["heading"], data["text"]]
        table.add_row(*row)
    console.print(table)
    consents = _table(
        "consent", "decision", "by", "decided", "expires", "in force", title="Consent"
    )
    for c in record.consents:
        consents.add_row(
            c.consent_id,
            c.decision.value,
            c.given_by.value,
            c.decided_at.isoformat(),
            "-" if c.expires_at is None else c.expires_at.isoformat(),
            "yes" if c.consent_id in record.consents_in_force else "no",
        )
    console.print(consents)
    console.print(
        f"Restrictions in force: {len(record.restrictions)}; care relationships: "
        f"{len(record.relationships)}; break-glass grants: {len(record.grants)} "
        f"({len(record.grants_active)} active)."
    )


def register(app: typer.Typer) -> None:
    """Add ``carerecord audit ...`` to the command line."""
    app.add_typer(audit_app, name="audit")
