"""The API as the governance tests use it: a real store (SQLite or PostgreSQL), a real
uvicorn server on a free port running the app with the governance tasks (audit index
runner, checkpoint timer), and tokens for the test partnership.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gov_world import MovableClock, Person, build_directory, wait_until
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.httpx import HTTPXTransport
from pg_support import PG_URL, fresh_schema

from api.app import create_app
from api.governance_runtime import TASKS_KEY, governance_hook
from api.services import Services
from api.settings import ApiSettings, Limits
from api.tokens import TokenIssuer
from carerecord.access_log import AccessLog, AccessRecord
from carerecord.application import CareRecord
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from carerecord.vocab import ViewerKind
from projections.audit.registry import GovernanceTasks
from projections.audit.settings import GovernanceSettings

ISSUER = "https://idp.north-shire.test"
AUDIENCE = "carerecord-api"
FAST = GovernanceSettings(
    break_glass_review_hours=1, checkpoint_every_seconds=0.3, checkpoint_check_seconds=0.05
)


@contextlib.contextmanager
def fresh_store(backend: str, folder: Path, *, protocol: int = 2) -> Iterator[Settings]:
    """A migrated store with the partnership's directory, on one backend."""
    data_dir = folder / "data"
    key = b"g" * 32
    if backend == "sqlite":
        settings = Settings(data_dir=data_dir, identifier_key=key)
        _prepare(settings, protocol)
        yield settings
        return
    with fresh_schema("gov") as params:
        settings = Settings(data_dir=data_dir, postgres=params, identifier_key=key)
        _prepare(settings, protocol)
        yield settings


def _prepare(settings: Settings, protocol: int) -> None:
    migrate(settings)
    app = open_care_record(settings)
    try:
        build_directory(app, datetime.now(UTC) - timedelta(days=1), protocol=protocol)
    finally:
        app.close()


def signing_keys(folder: Path) -> tuple[Path, Path]:
    """A fresh Ed25519 key pair as PEM files (private PKCS#8, public SPKI) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private, public = folder / "signing.pem", folder / "signing.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def api_settings(folder: Path) -> ApiSettings:
    """Production mode with a local key pair; the views built in-process."""
    private, public = signing_keys(folder)
    return ApiSettings(
        environment="production",
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=("EdDSA",),
        public_key_path=public,
        private_key_path=private,
        cursor_key=os.urandom(32),
        limits=Limits(),
        subscription_poll_seconds=0.05,
        in_process_projections=True,
        directory_cache_seconds=0,
    )


class LiveServer:
    """The app under a real uvicorn on a free port of 127.0.0.1, in a thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        wait_until(
            lambda: self.server.started or not self.thread.is_alive(), timeout=30, what="uvicorn"
        )
        if not self.server.started:
            raise RuntimeError("the API server did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


class GraphQLErrors(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.body = body

    @property
    def codes(self) -> list[str]:
        return [e["extensions"]["code"] for e in self.body.get("errors", [])]


@dataclass
class GovStack:
    settings: Settings
    app: CareRecord
    server: LiveServer
    issuer: TokenIssuer
    clock: MovableClock

    @property
    def services(self) -> Services:
        services: Services = self.server.app.state.services
        return services

    @property
    def tasks(self) -> GovernanceTasks:
        tasks: GovernanceTasks = self.services.extras[TASKS_KEY]
        return tasks

    def token(self, person: Person) -> str:
        return self.issuer.issue(
            kind=ViewerKind.PRACTITIONER,
            subject=person.practitioner_id,
            ttl=timedelta(minutes=30),
            agency=person.agency_id,
            profession=person.profession,
            roles=[r.value for r in person.roles],
        )

    def agency_token(self, agency: str) -> str:
        return self.issuer.issue(
            kind=ViewerKind.AGENCY_SYSTEM, subject=agency, ttl=timedelta(minutes=30)
        )

    def client_token(self, client_id: str) -> str:
        return self.issuer.for_client(client_id, ttl=timedelta(minutes=30))

    def post(self, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
        """The raw GraphQL response body (data and errors)."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = httpx.post(
            f"{self.server.url}/graphql",
            json={"query": query, "variables": variables},
            headers=headers,
            timeout=30,
        )
        body: dict[str, Any] = response.json()
        return body

    def gql(self, token: str, query: str, **variables: Any) -> dict[str, Any]:
        """Run one operation with the gql client library (raises on GraphQL errors)."""
        transport = HTTPXTransport(
            url=f"{self.server.url}/graphql",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        with Client(transport=transport, fetch_schema_from_transport=False) as session:
            result = session.execute(GraphQLRequest(query, variable_values=variables or None))
        assert isinstance(result, dict)
        return result

    def get(self, path: str, token: str | None) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.get(f"{self.server.url}{path}", headers=headers, timeout=30)

    def wait_for_views(self) -> None:
        head = int(self.app.recorder.max_notification_id() or 0)
        assert self.services.reads.wait_for(head, timeout=30), "views did not catch up"

    def access_head(self) -> int:
        return AccessLog(self.services.databases.access).head()[0]

    def wait_for_index(self) -> None:
        """Wait until the audit index has taken in every access recorded so far."""
        runner = self.tasks.runner
        assert runner is not None
        assert runner.wait_for(self.access_head(), timeout=30), "the audit index lags"

    def access_records(self, after: int = 0) -> list[AccessRecord]:
        return [
            s.record
            for s in AccessLog(self.services.databases.access).read(after=after, limit=100_000)
        ]


@contextlib.contextmanager
def running(
    settings: Settings, folder: Path, governance: GovernanceSettings = FAST
) -> Iterator[GovStack]:
    clock = MovableClock()
    app = open_care_record(settings, clock=clock)
    config = api_settings(folder / "keys")
    server = LiveServer(
        create_app(settings, config, clock=clock, on_start=governance_hook(governance))
    ).start()
    try:
        yield GovStack(
            settings, app, server, TokenIssuer(config.resolved(settings.data_dir)), clock
        )
    finally:
        server.stop()
        app.close()


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that points ``carerecord`` commands at this store (dev mode: the
    checkpoint key is generated into the store's data directory)."""
    env = {"CARERECORD_DATA_DIR": str(settings.data_dir), "CARERECORD_ENV": "dev"}
    if settings.postgres is not None:
        env["CARERECORD_DATABASE_URL"] = PG_URL
        env["CARERECORD_POSTGRES_SCHEMA"] = settings.postgres.schema
    if settings.identifier_key is not None:
        import base64

        env["CARERECORD_IDENTIFIER_KEY"] = base64.b64encode(settings.identifier_key).decode()
    return env
