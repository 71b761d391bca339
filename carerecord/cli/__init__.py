"""The ``carerecord`` command line (typer). Each area registers its own commands below."""

from __future__ import annotations

import typer

from carerecord.cli import core

app = typer.Typer(
    name="carerecord",
    help="An event-sourced shared care record for multi-agency health and care.",
    no_args_is_help=True,
    add_completion=False,
)
core.register(app)
# Other areas register their commands here, one line each.
__import__("carerecord.cli.demo", fromlist=["register"]).register(app)  # demo
__import__("carerecord.audit.cli", fromlist=["register"]).register(app)
__import__("api.cli", fromlist=["register"]).register(app)  # serve, token, schema
__import__("projections.cli", fromlist=["register"]).register(app)  # project, rebuild, views-status
__import__("projections.audit.cli", fromlist=["register"]).register(app)  # audit who-saw, report


def main() -> None:
    app()
