"""``carerecord serve``, ``token`` and ``schema``: run the API, issue local tokens, print the SDL.

``serve --demo`` is the README's "run it" command (``./run-demo``): dev mode, embedded
SQLite under the data directory, the demo dataset loaded if the store is empty, the
projections running in-process, and a printed guide to getting a token.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console

from api.keys import KEY_FILE_INVALID, KEY_FILE_UNREADABLE
from api.settings import ApiSettings, ConfigurationError
from api.tokens import TokenIssuer
from carerecord.audit.checkpoints import KEY_ENV, TRUSTED_KEYS_ENV, CheckpointKeyMissing
from carerecord.errors import CareRecordError
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from projections.audit.registry import check_signing_keys
from projections.audit.settings import GovernanceSettings

console = Console(stderr=True, soft_wrap=True)  # messages unwrapped: easy to grep in logs


def demo_settings() -> tuple[Settings, ApiSettings]:
    """The demo's configuration: dev mode, embedded SQLite in the data directory."""
    settings = replace(Settings.from_env(), postgres=None)
    api = replace(ApiSettings.from_env(), environment="dev", in_process_projections=True)
    return settings, api


def serve(
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Dev mode on embedded SQLite with the demo dataset (loaded if the store is "
            "empty) and in-process projections.",
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    clients: Annotated[int, typer.Option(help="Demo: how many clients to generate.")] = 120,
    seed: Annotated[int, typer.Option(help="Demo: random seed of the dataset.")] = 7,
) -> None:
    """Serve the API (GraphQL at /graphql, the agency feed, health, readiness, metrics)."""
    from api.server import prepare_demo, run_server

    if demo:
        settings, api = demo_settings()
        os.environ["CARERECORD_ENV"] = "dev"
        try:
            guide = prepare_demo(settings, api, clients=clients, seed=seed, host=host, port=port)
        except (ConfigurationError, CareRecordError) as exc:
            console.print(f"[red]Cannot start the demo:[/red] {exc}")
            raise typer.Exit(2) from None
    else:
        settings = Settings.from_env()
        try:
            api = ApiSettings.from_env()
            api.resolved(settings.data_dir)
            _check_checkpoint_keys(settings, GovernanceSettings.from_env())
        except ConfigurationError as exc:
            console.print(f"[red]Configuration error {exc.code}:[/red] {exc}")
            raise typer.Exit(2) from None
        guide = None
    run_server(settings, api, host=host, port=port, guide=guide)


def _check_checkpoint_keys(settings: Settings, governance: GovernanceSettings) -> None:
    """The checkpoint timer's keys, checked before serving (``ConfigurationError`` if not)."""
    try:
        check_signing_keys(settings, governance)
    except CheckpointKeyMissing as exc:
        reason = exc.fields.get("reason")
        if reason == "not_configured":
            raise ConfigurationError(
                f"{KEY_ENV} must name the checkpoint signing key in "
                "production (or turn the timer off: CARERECORD_CHECKPOINT_EVERY_SECONDS=0)"
            ) from None
        variable = TRUSTED_KEYS_ENV if str(reason).startswith("trusted_key") else KEY_ENV
        code = KEY_FILE_UNREADABLE if str(reason).endswith("unreadable") else KEY_FILE_INVALID
        raise ConfigurationError(
            f"{variable} names a file that is not a readable Ed25519 key ({reason})", code=code
        ) from None


def token(
    practitioner: Annotated[
        str | None, typer.Option(help="A practitioner's id: a token with their directory claims.")
    ] = None,
    agency: Annotated[
        str | None, typer.Option(help="An agency code: client credentials for its own system.")
    ] = None,
    client: Annotated[
        str | None, typer.Option(help="A client id: a subject-access token for the person.")
    ] = None,
    ttl: Annotated[int, typer.Option(help="Minutes until the token expires.")] = 60,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev", help="Use the demo's settings (dev key pair, SQLite in the data directory)."
        ),
    ] = False,
) -> None:
    """Print a signed bearer token (dev mode, or where a private key is configured)."""
    chosen = [v for v in (practitioner, agency, client) if v is not None]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --practitioner, --agency, --client")
    if dev:
        settings, api = demo_settings()
    else:
        settings, api = Settings.from_env(), ApiSettings.from_env()
    try:
        if not api.dev and api.private_key_path is None:
            raise ConfigurationError(
                "tokens are issued by your identity provider; locally only in dev mode "
                "(--dev or CARERECORD_ENV=dev) or with CARERECORD_JWT_PRIVATE_KEY"
            )
        issuer = TokenIssuer(api.resolved(settings.data_dir))
    except ConfigurationError as exc:
        console.print(f"[red]Cannot issue a token ({exc.code}):[/red] {exc}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        console.print(f"[red]Cannot issue a token:[/red] {exc}")
        raise typer.Exit(2) from None
    lifetime = timedelta(minutes=ttl)
    try:
        if client is not None:
            signed = issuer.for_client(client, ttl=lifetime)
        else:
            app = open_care_record(settings)
            try:
                if practitioner is not None:
                    signed = issuer.for_practitioner(app, practitioner, ttl=lifetime)
                else:
                    signed = issuer.for_agency(app, str(agency), ttl=lifetime)
            finally:
                app.close()
    except (CareRecordError, ValueError) as exc:
        console.print(f"[red]Cannot issue a token:[/red] {exc}")
        raise typer.Exit(2) from None
    typer.echo(signed)


def schema() -> None:
    """Print the GraphQL schema (SDL), for generating front-end types without introspection."""
    from strawberry.printer import print_schema

    from api.graphql.schema import build_schema

    typer.echo(print_schema(build_schema(ApiSettings())))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("token")(token)
    app.command("schema")(schema)
