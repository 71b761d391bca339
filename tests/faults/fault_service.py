"""The service under fault, as real processes, and the load the fault suite puts on it.

``Service``: a migrated database with the demo partnership on the private cluster, the
API (``carerecord serve``, dev mode) and a projection worker (``carerecord project``),
with short timers so that faults show and pass in seconds. ``Load``: a few writers
recording entries, a few readers reading records, and one subscriber, in threads, that
write down everything they were told: what was acknowledged, what was refused as
unavailable, and anything else (which the suite treats as a failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from pg_cluster import PgCluster
from waiting import wait_until

from api.settings import ApiSettings
from api.tokens import TokenIssuer
from carerecord.client_record import ClientRecord
from carerecord.db import Databases
from carerecord.demo import DIRECTORY
from carerecord.runtime import open_care_record
from carerecord.settings import PostgresParams, Settings
from projections.engine.framework import TRACKING_TABLE
from projections.engine.runner import EventLogSource
from projections.registry import VIEW_NAMES

CLI = str(Path(sys.executable).with_name("carerecord"))
WRITERS = (("district_nurse", "Wound care"), ("gp_northgate", "History"))
READERS = ("district_nurse", "gp_northgate")
SUBSCRIBER = "district_nurse"
PASSING = frozenset({"STORE_UNAVAILABLE", "AUDIT_UNAVAILABLE", "VIEWS_BEHIND"})
"""The refusals a caller may get while the store is down: each a 503 with Retry-After."""
HOUR = timedelta(hours=1)
RETRIES = 30
"""How often a writer sends a write refused as unavailable again (with its key)."""
HEARTBEAT_WINDOW = 4.0
READY_BUDGET = 1.0

RECORD = """mutation($id: ID!, $heading: String!, $text: String!, $at: DateTime!) {
  recordContribution(clientId: $id, input: {heading: $heading, text: $text, occurredAt: $at}) {
    __typename ... on Accepted { id } ... on Refused { code }
  }
}"""
READ = "query($id: ID!) { client(id: $id) { entries(first: 5) { items { entryId } } } }"
CASELOAD = "{ caseload(first: 20) { items { client { clientId } } } }"
EVENTS = "subscription { recordEvents { kind clientId entryId } }"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """The API and a projection worker (real processes) over a database on ``cluster``."""

    def __init__(self, cluster: PgCluster, root: Path) -> None:
        self.cluster = cluster
        self.root = root
        self.params: PostgresParams = cluster.new_database(connect_timeout=2)
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CARERECORD_")}
        self.env.update(
            CARERECORD_DATABASE_URL=cluster.url(self.params),
            CARERECORD_DATA_DIR=str(root / "data"),
            CARERECORD_ENV="dev",
            CARERECORD_DB_CONNECT_TIMEOUT="2",
            CARERECORD_PROJECTION_POLL_SECONDS="0.1",
            CARERECORD_WORKER_HEARTBEAT_SECONDS="0.5",
            CARERECORD_READY_HEARTBEAT_SECONDS=str(HEARTBEAT_WINDOW),
            CARERECORD_READY_TIMEOUT_SECONDS=str(READY_BUDGET),
            CARERECORD_CHECKPOINT_EVERY_SECONDS="2",
            CARERECORD_CHECKPOINT_CHECK_SECONDS="0.5",
        )
        self.settings = Settings.from_env(self.env)
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.tokens: dict[str, str] = {}
        self.clients: dict[str, list[str]] = {}
        self.databases = Databases(self.settings)

    # --- processes ----------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        return subprocess.Popen(
            [CLI, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root
        )

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def start(self) -> None:
        for step in (("migrate",), ("demo", "--clients", "4")):
            done = self.cli(*step)
            assert done.returncode == 0, done.stdout + done.stderr
        self.worker = self._spawn("worker", "project")
        self.server = self._spawn("server", "serve", "--port", str(self.port))
        wait_until(self.ready, timeout=120, what="the API to be ready", every=0.2)
        self._tokens()

    def ready(self) -> bool:
        for process in (self.server, self.worker):
            assert process is not None
            assert process.poll() is None, "a process exited"
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def _tokens(self) -> None:
        api = ApiSettings.from_env(self.env).resolved(self.settings.data_dir)
        issuer = TokenIssuer(api)
        app = open_care_record(self.settings)
        try:
            for key in {*READERS, *(k for k, _ in WRITERS), SUBSCRIBER}:
                practitioner = DIRECTORY[key].practitioner_id
                self.tokens[key] = issuer.for_practitioner(
                    app, practitioner, ttl=timedelta(hours=1)
                )
        finally:
            app.close()
        for key, token in self.tokens.items():
            body = self.post(token, CASELOAD).json()
            self.clients[key] = [i["client"]["clientId"] for i in body["data"]["caseload"]["items"]]
            assert self.clients[key], f"{key} has no clients in the demo"

    def stop(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for name, process in (("server", self.server), ("worker", self.worker)):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)
            codes[name] = None if process is None else process.returncode
        self.databases.close()
        return codes

    # --- requests -----------------------------------------------------------------------

    def post(
        self,
        token: str,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        key: str | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=60,
        )

    def readyz(self) -> tuple[int, dict[str, str], float]:
        started = time.monotonic()
        response = httpx.get(f"{self.url}/readyz", timeout=30)
        return response.status_code, response.json()["checks"], time.monotonic() - started

    # --- the stored truth ---------------------------------------------------------------

    def head(self) -> int:
        rows = self.databases.events.read("SELECT MAX(notification_id) FROM carerecord_events")
        return int(rows[0][0] or 0)

    def views_at(self) -> int:
        """The slowest view's position (the audit projections' rows, in the same table
        on PostgreSQL, count access-log positions: not these)."""
        rows = self.databases.views.read(
            f"SELECT name, position FROM {TRACKING_TABLE} WHERE name = ANY(?)",
            (list(VIEW_NAMES),),
        )
        assert len(rows) == len(VIEW_NAMES)
        return min(int(r[1]) for r in rows)

    def stored_entries(self) -> dict[str, list[str]]:
        """Every contribution in the log: its text -> the entry ids recorded with it."""
        app = open_care_record(self.settings)
        found: dict[str, list[str]] = {}
        try:
            source = EventLogSource(app)
            after = 0
            while page := source.read(after, 5000):
                for item in page:
                    if isinstance(item.event, ClientRecord.ContributionRecorded):
                        found.setdefault(item.event.text, []).append(item.event.labels.entry_id)
                after = page[-1].position
        finally:
            app.close()
        return found


@dataclass
class Write:
    """One mutation as sent - its body and idempotency key, the same on every attempt -
    and what it was told in the end (``attempts``: how many requests that took)."""

    text: str
    body: dict[str, Any]
    key: str | None = None
    outcome: str = "pending"  # acknowledged | unavailable | unexpected
    entry_id: str | None = None
    attempts: int = 0


@dataclass
class Load:
    """Writers, readers and a subscriber in threads, until ``stop()``."""

    service: Service
    writes: list[Write] = field(default_factory=list)
    reads: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    delivered: set[str] = field(default_factory=set)
    subscription_ended: str | None = None
    _retry_after: float = 1.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _running: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        self._running.set()
        targets: list[tuple[Any, tuple[Any, ...]]] = [
            (self._writer, (key, heading, index)) for index, (key, heading) in enumerate(WRITERS)
        ]
        targets += [(self._reader, (key,)) for key in READERS]
        targets.append((self._subscriber, ()))
        for target, args in targets:
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No new requests meanwhile (the checks after a fault get the machine's two cores)."""
        self._running.clear()
        try:
            yield
        finally:
            self._running.set()

    def _next(self, pacing: float) -> bool:
        """Pace the loop; wait while paused; False once stopped."""
        self._stop.wait(pacing)
        while not self._running.wait(0.2):
            if self._stop.is_set():
                return False
        return not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        for thread in self._threads:
            thread.join(90)

    def acknowledged(self) -> list[Write]:
        with self._lock:
            return [w for w in self.writes if w.outcome == "acknowledged"]

    def _note(self, what: str) -> None:
        with self._lock:
            self.unexpected.append(what)

    def _writer(self, key: str, heading: str, index: int) -> None:
        service = self.service
        token = service.tokens[key]
        client = service.clients[key][index % len(service.clients[key])]
        number = 0
        while self._next(0.1):
            number += 1
            text = f"fault-load {key} {number} {uuid.uuid4().hex[:8]}"
            at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
            body = {"id": client, "heading": heading, "text": text, "at": at}
            write = Write(text, body, key=str(uuid.uuid4()))
            with self._lock:
                self.writes.append(write)
            self._send(token, write)
            while write.outcome == "unavailable" and write.attempts < RETRIES:
                # As a client should: after Retry-After, the same request and key again.
                if self._stop.wait(self._retry_after):
                    break
                self._send(token, write)

    def _send(self, token: str, write: Write) -> None:
        write.attempts += 1
        try:
            response = self.service.post(token, RECORD, write.body, key=write.key)
        except httpx.HTTPError as exc:
            write.outcome = "unexpected"
            self._note(f"write: {type(exc).__name__}")
            return
        body = response.json()
        if response.status_code == 200 and body.get("data"):
            outcome = body["data"]["recordContribution"]
            if outcome["__typename"] == "Accepted":
                write.outcome, write.entry_id = "acknowledged", outcome["id"]
                return
            write.outcome = "unexpected"
            self._note(f"write refused: {outcome.get('code')}")
            return
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if response.status_code == 503 and codes == ["STORE_UNAVAILABLE"]:
            write.outcome = "unavailable"
            retry_after = response.headers.get("retry-after")
            if retry_after is None:
                self._note("STORE_UNAVAILABLE without Retry-After")
            else:
                self._retry_after = float(retry_after)
            return
        write.outcome = "unexpected"
        self._note(f"write: {response.status_code} {codes}")

    def _reader(self, key: str) -> None:
        service = self.service
        token = service.tokens[key]
        clients = service.clients[key]
        number = 0
        while self._next(0.2):
            number += 1
            try:
                response = service.post(token, READ, {"id": clients[number % len(clients)]})
            except httpx.HTTPError as exc:
                self._note(f"read: {type(exc).__name__}")
                continue
            body = response.json()
            codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
            if response.status_code == 200 and not codes:
                outcome = "ok"
            elif response.status_code == 503 and len(codes) == 1 and codes[0] in PASSING:
                outcome = codes[0]
                if response.headers.get("retry-after") is None:
                    self._note(f"{codes[0]} without Retry-After")
            else:
                outcome = "unexpected"
                self._note(f"read: {response.status_code} {codes}")
            with self._lock:
                self.reads[outcome] = self.reads.get(outcome, 0) + 1

    def _subscriber(self) -> None:
        try:
            asyncio.run(self._subscribe())
        except BaseException as exc:  # the subscription must outlive every fault
            self.subscription_ended = f"{type(exc).__name__}: {exc}"

    async def _subscribe(self) -> None:
        ws_url = self.service.url.replace("http://", "ws://") + "/graphql"
        token = self.service.tokens[SUBSCRIBER]
        transport = WebsocketsTransport(
            url=ws_url, init_payload={"Authorization": f"Bearer {token}"}
        )
        async with Client(transport=transport) as session:

            async def consume() -> None:
                async for result in session.subscribe(GraphQLRequest(EVENTS)):
                    entry_id = result["recordEvents"]["entryId"]
                    if entry_id is not None:
                        with self._lock:
                            self.delivered.add(entry_id)

            task = asyncio.create_task(consume())
            while not self._stop.is_set() and not task.done():
                await asyncio.sleep(0.2)  # checking for the end of the run
            if task.done():
                error = task.exception()
                self.subscription_ended = "ended" if error is None else repr(error)
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@dataclass
class Observation:
    status: int
    checks: dict[str, str]
    seconds: float


def poll_readiness(service: Service, until: float) -> Iterator[Observation]:
    """``/readyz`` answers, one after another, until the monotonic time ``until``."""
    while time.monotonic() < until:
        status, checks, seconds = service.readyz()
        yield Observation(status, checks, seconds)
        time.sleep(0.1)  # pacing between probes
