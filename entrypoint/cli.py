"""The ``carerecord`` command line (typer): every area's commands on one app."""

from __future__ import annotations

import typer

from api import cli as api_cli
from carerecord.audit import cli as audit_cli
from carerecord.cli import core, demo
from projections import cli as projections_cli
from projections.audit import cli as governance_cli

app = typer.Typer(
    name="carerecord",
    help="An event-sourced shared care record for multi-agency health and care.",
    no_args_is_help=True,
    add_completion=False,
)
# Each area registers its own commands, one line each (order: the help's order).
core.register(app)  # migrate, protocol
demo.register(app)  # demo
audit_cli.register(app)  # audit ...
api_cli.register(app)  # serve, token, schema
projections_cli.register(app)  # project, rebuild, views-status
governance_cli.register(app)  # audit who-saw, report


def main() -> None:
    app()
