"""Fixtures for the API tests: a real store (SQLite, then PostgreSQL), a real uvicorn server.

``stack`` is shared by the tests of one module (a migrated store with the test
partnership's directory, the API served by uvicorn on a free 127.0.0.1 port, in
production mode with a locally generated signing key); each test registers its own
clients. Requests go through real HTTP and WebSocket, with the gql client library.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.httpx import HTTPXTransport
from pg_support import fresh_schema
from world import MovableClock, Person, build_directory, wait_until

from api.app import create_app
from api.services import Services
from api.settings import ApiSettings, Limits
from api.tokens import TokenIssuer
from carerecord.access_log import AccessLog, AccessRecord
from carerecord.application import CareRecord
from carerecord.db import PostgresDatabase
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from carerecord.vocab import ViewerKind

ISSUER = "https://idp.north-shire.test"
AUDIENCE = "carerecord-api"
IDENTIFIER_KEY = b"i" * 32


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A fresh, migrated store for one test module on one backend."""
    data_dir = tmp_path_factory.mktemp("api") / "data"
    if request.param == "sqlite":
        yield sqlite_store(data_dir)
        return
    with fresh_schema("api") as params:
        settings = Settings(data_dir=data_dir, postgres=params, identifier_key=IDENTIFIER_KEY)
        _prepare(settings)
        yield settings


def sqlite_store(data_dir: Path) -> Settings:
    """A fresh, migrated SQLite store holding the test partnership's directory."""
    settings = Settings(data_dir=data_dir, identifier_key=IDENTIFIER_KEY)
    _prepare(settings)
    return settings


def _prepare(settings: Settings) -> None:
    migrate(settings)
    app = open_care_record(settings)
    try:
        build_directory(app, datetime.now(UTC) - timedelta(days=1))
    finally:
        app.close()


def signing_keys(folder: Path) -> tuple[Path, Path]:
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


def production_settings(folder: Path, *, projections: bool = False, **limits: Any) -> ApiSettings:
    """Production mode with a local key pair; ``projections``: run the views in-process."""
    private, public = signing_keys(folder)
    return ApiSettings(
        environment="production",
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=("EdDSA",),
        public_key_path=public,
        private_key_path=private,
        cursor_key=os.urandom(32),
        limits=replace(Limits(), **limits),
        subscription_poll_seconds=0.05,
        in_process_projections=projections,
    )


class LiveServer:
    """The app served by a real uvicorn on a free port of 127.0.0.1, in a thread."""

    def __init__(self, app: FastAPI, *, ws_max_size: int) -> None:
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
            ws_max_size=ws_max_size,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

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


@dataclass
class Stack:
    """Everything a test needs: the store, the domain app for setup, the live API, tokens."""

    settings: Settings
    api_settings: ApiSettings
    app: CareRecord
    server: LiveServer
    issuer: TokenIssuer
    clock: MovableClock

    def token(self, person: Person, *, ttl: timedelta = timedelta(minutes=30)) -> str:
        return self.issuer.issue(
            kind=ViewerKind.PRACTITIONER,
            subject=person.practitioner_id,
            ttl=ttl,
            agency=person.agency_id,
            profession=person.profession,
            roles=[r.value for r in person.roles],
        )

    def agency_token(self, agency: str, *, ttl: timedelta = timedelta(minutes=30)) -> str:
        return self.issuer.issue(kind=ViewerKind.AGENCY_SYSTEM, subject=agency, ttl=ttl)

    def post(
        self,
        query: str,
        token: str | None,
        *,
        headers: list[tuple[str, str]] | None = None,
        **variables: Any,
    ) -> httpx.Response:
        """One operation over real HTTP (``headers``: more request headers, repeats allowed)."""
        sent = [] if token is None else [("Authorization", f"Bearer {token}")]
        return httpx.post(
            f"{self.server.url}/graphql",
            json={"query": query, "variables": variables},
            headers=sent + (headers or []),
            timeout=30,
        )

    def wait_for_views(self) -> None:
        """Wait until the server's views include everything recorded so far."""
        head = int(self.app.recorder.max_notification_id() or 0)
        assert self.server.services.reads.wait_for(head, timeout=30), "views did not catch up"

    def access_records(self, after: int = 0) -> list[AccessRecord]:
        return [
            s.record for s in AccessLog(self.server.services.databases.access).read(after=after)
        ]

    def access_head(self) -> int:
        return AccessLog(self.server.services.databases.access).head()[0]

    def access_count(self) -> int:
        with self.server.services.databases.access.snapshot() as tx:
            return int(tx.scalar("SELECT COUNT(*) FROM access_log"))


def start_stack(settings: Settings, api_settings: ApiSettings) -> Stack:
    clock = MovableClock()
    app = open_care_record(settings, clock=clock)
    server = LiveServer(
        create_app(settings, api_settings, clock=clock),
        ws_max_size=api_settings.limits.max_body_bytes,
    ).start()
    issuer = TokenIssuer(api_settings.resolved(settings.data_dir))
    return Stack(settings, api_settings, app, server, issuer, clock)


@pytest.fixture(scope="module")
def stack(store: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API in production mode, with the curated views built in-process."""
    api_settings = production_settings(tmp_path_factory.mktemp("keys"), projections=True)
    running = start_stack(store, api_settings)
    try:
        yield running
    finally:
        running.server.stop()
        running.app.close()


def gql_execute(stack: Stack, token: str, query: str, **variables: Any) -> dict[str, Any]:
    """Run one operation through the gql client library over real HTTP."""
    transport = HTTPXTransport(
        url=f"{stack.server.url}/graphql", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    with Client(transport=transport, fetch_schema_from_transport=False) as session:
        result = session.execute(GraphQLRequest(query, variable_values=variables or None))
    assert isinstance(result, dict)
    return result


@contextmanager
def access_log_unavailable(stack: Stack) -> Iterator[None]:
    """A real failure of the real store: the access log table is renamed away, then back."""
    db = stack.server.services.databases.access
    with db.transaction() as tx:
        tx.execute("ALTER TABLE access_log RENAME TO access_log_away")
    try:
        yield
    finally:
        with db.transaction() as tx:
            tx.execute("ALTER TABLE access_log_away RENAME TO access_log")
        if isinstance(db, PostgresDatabase):
            db.pool.check()
