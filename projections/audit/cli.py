"""Governance commands over the read side: ``carerecord audit who-saw`` / ``what-saw`` (the
access audit index), ``carerecord report usage`` (usage and flow figures), and the
rebuild of the audit projections (part of ``carerecord rebuild``).

Output names ids, agencies, professions, purposes, bases, counts and times - never
clinical text. These commands run with database access (an operator's tool, no
principal), so unlike the API's audit queries they write no access records; the
index they read is built by ``carerecord project`` (or ``serve`` with in-process views)
- each command says how far it has got.
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carerecord.audit.cli import audit_app, migrated_settings, time_option
from carerecord.db import Databases
from carerecord.runtime import open_care_record
from projections.audit.index import AccessQuery, IndexedAccess, access_index_reader
from projections.audit.registry import rebuild_audit
from projections.audit.usage import UsageReport, usage_report
from projections.engine.errors import ProjectionFailed

console = Console(highlight=False)
report_app = typer.Typer(help="Usage and flow figures for evaluation.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
FromOption = Annotated[
    str | None, typer.Option("--from", help="From this date or time (inclusive, ISO 8601).")
]
ToOption = Annotated[str | None, typer.Option("--to", help="Before this date or time (ISO 8601).")]
LimitOption = Annotated[int, typer.Option(help="At most this many accesses.", min=1)]


def parse_time(value: str | None, *, option: str) -> datetime | None:
    """A date (midnight UTC) or an ISO 8601 time with a timezone."""
    return None if value is None else time_option(value, option=option, dates=True)


def _emit_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _accesses(query: AccessQuery, limit: int) -> tuple[list[IndexedAccess], int, int]:
    """Matching accesses (oldest first), the index's position and the access log's head."""
    settings = migrated_settings()
    dbs = Databases(settings)
    try:
        reader = access_index_reader(dbs.access)
        found: list[IndexedAccess] = []
        after = None
        while len(found) < limit:
            page = reader.page(
                query, after=after, limit=min(500, limit - len(found)), newest_first=False
            )
            found += page
            if len(page) == 0 or len(found) >= limit:
                break
            after = page[-1].cursor
        with dbs.access.snapshot() as tx:
            head = int(tx.scalar("SELECT COALESCE(MAX(position), 0) FROM access_log"))
        return found, reader.position(), head
    finally:
        dbs.close()


def _lag_note(position: int, head: int) -> None:
    if position < head:
        console.print(
            f"[yellow]The audit index has reached access-log position {position} of {head}: "
            "run 'carerecord project' to bring it up to date.[/yellow]"
        )


@audit_app.command("who-saw")
def who_saw(
    client: Annotated[str, typer.Option("--client", help="The client's id.")],
    since: FromOption = None,
    until: ToOption = None,
    basis: Annotated[str | None, typer.Option(help="Only accesses on this basis.")] = None,
    limit: LimitOption = 1000,
    as_json: JsonOption = False,
) -> None:
    """Who saw a client's record: every recorded access, oldest first (from the audit index),
    refused attempts included (outcome "refused: CODE", nothing was shown)."""
    query = AccessQuery(
        client_id=client,
        basis=basis,
        since=parse_time(since, option="--from"),
        until=parse_time(until, option="--to"),
    )
    found, position, head = _accesses(query, limit)
    if as_json:
        _emit_json(
            {"indexed_up_to": position, "log_head": head, "accesses": [a.to_json() for a in found]}
        )
        return
    table = Table(
        "when",
        "who",
        "agency",
        "profession",
        "action",
        "purpose",
        "basis",
        "entry bases",
        "entries",
        "grant",
        "outcome",
        title=f"Accesses to client {client}",
    )
    for a in found:
        who = a.practitioner_id or ("the client" if a.viewer_kind == "client" else a.viewer_kind)
        table.add_row(
            a.at.isoformat(timespec="seconds"),
            who,
            a.agency_id or "-",
            a.profession or "-",
            a.action,
            a.purpose,
            a.basis,
            ", ".join(a.entry_bases) or "-",
            str(a.item_count),
            a.grant_id or "-",
            a.outcome if a.refusal is None else f"refused: {a.refusal}",
        )
    console.print(table)
    console.print(f"{len(found)} accesses.")
    _lag_note(position, head)


@audit_app.command("what-saw")
def what_saw(
    practitioner: Annotated[str, typer.Option("--practitioner", help="The practitioner's id.")],
    since: FromOption = None,
    until: ToOption = None,
    limit: LimitOption = 1000,
    as_json: JsonOption = False,
) -> None:
    """What a practitioner saw: every access they made, oldest first (no clinical text;
    replay one with 'carerecord audit reconstruct --access-id')."""
    query = AccessQuery(
        practitioner_id=practitioner,
        since=parse_time(since, option="--from"),
        until=parse_time(until, option="--to"),
    )
    found, position, head = _accesses(query, limit)
    if as_json:
        _emit_json(
            {"indexed_up_to": position, "log_head": head, "accesses": [a.to_json() for a in found]}
        )
        return
    table = Table(
        "when",
        "client",
        "action",
        "purpose",
        "basis",
        "entry bases",
        "entries",
        "whose entries",
        "access id",
        title=f"Accesses by {practitioner}",
    )
    for a in found:
        table.add_row(
            a.at.isoformat(timespec="seconds"),
            a.client_id or "-",
            a.action,
            a.purpose,
            a.basis,
            ", ".join(a.entry_bases) or "-",
            str(a.item_count),
            ", ".join(a.source_agencies) or "-",
            a.access_id,
        )
    console.print(table)
    console.print(f"{len(found)} accesses.")
    _lag_note(position, head)


# --- report usage -----------------------------------------------------------------------------


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def print_report(report: UsageReport) -> None:
    contributions = Table(
        "month",
        "agency",
        "profession",
        "contributions",
        title="Contributions (entries and alerts recorded)",
    )
    for c in report.contributions:
        contributions.add_row(c.month, c.agency_id, c.profession, str(c.count))
    reads = Table("month", "agency", "profession", "reads", title="Reads (access records)")
    for r in report.reads:
        reads.add_row(r.month, r.agency_id or "(the person)", r.profession or "-", str(r.count))
    trained = Table(
        "profession",
        "trained",
        "contributed in 90 days",
        "share",
        title="Trained practitioners who contribute",
    )
    for t in report.trained:
        share = "-" if t.share is None else f"{t.share:.0%}"
        trained.add_row(t.profession, str(t.trained), str(t.contributed), share)
    flow = Table(
        "from agency",
        "read by",
        "reads",
        "entries",
        title="Flow: whose contributions are read by whom",
    )
    for f in report.flow:
        reader = f.reader_agency or "(the person)"
        flow.add_row(
            f.source_agency,
            reader + ("" if f.cross_agency else " (own)"),
            str(f.reads),
            str(f.items),
        )
    referrals = Table(
        "agency",
        "received",
        "responded",
        "on time",
        "late",
        "awaiting",
        "overdue",
        "median response h",
        "median allowed h",
        title="Referral responses against due dates",
    )
    for x in report.referrals:
        referrals.add_row(
            x.agency_id,
            str(x.received),
            str(x.responded),
            str(x.on_time),
            str(x.late),
            str(x.awaiting),
            str(x.overdue),
            _figure(x.median_response_hours),
            _figure(x.median_allowed_hours),
        )
    for table in (contributions, reads, trained, flow, referrals):
        console.print(table)


def write_csv(report: UsageReport, path: Path) -> int:
    rows = report.rows()
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


@report_app.command("usage")
def usage_command(
    since: FromOption = None,
    until: ToOption = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write every figure to this CSV file.")
    ] = None,
) -> None:
    """Contributions and reads by agency and profession per month, trained practitioners
    who contribute, cross-agency flow, referral response times (counts only)."""
    start, end = parse_time(since, option="--from"), parse_time(until, option="--to")
    settings = migrated_settings()  # (after the options: bad input is a usage error first)
    dbs = Databases(settings)
    try:
        report = usage_report(dbs.views, dbs.access, now=datetime.now(UTC), since=start, until=end)
    finally:
        dbs.close()
    print_report(report)
    if csv_file is not None:
        count = write_csv(report, csv_file)
        console.print(f"Wrote {count} figures to {csv_file}.")


# --- rebuild --------------------------------------------------------------------------------------


def rebuild_audit_command(name: str | None) -> None:
    """Rebuild the audit projections over the access log (all, or one), with a progress bar."""
    settings = migrated_settings()
    app = open_care_record(settings)
    dbs = Databases(settings)
    try:
        with Progress(
            TextColumn("[bold]rebuilding[/bold] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} access records"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(name or "audit index and read figures", total=0)
            try:
                report = rebuild_audit(
                    app,
                    dbs.access,
                    names=None if name is None else [name],
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            except ProjectionFailed as failure:
                console.print(f"[red]projection {failure.name} stopped[/red]: {failure.error}")
                raise typer.Exit(code=1) from None
    finally:
        dbs.close()
        app.close()
    console.print(
        f"Rebuilt {', '.join(report.names)}: {report.events:,} access records in "
        f"{report.seconds:.1f} s ({report.events_per_second:,.0f}/s)."
    )


def register(app: typer.Typer) -> None:
    """``audit who-saw`` / ``what-saw`` join the ``audit`` commands; ``report`` is added."""
    app.add_typer(report_app, name="report")
