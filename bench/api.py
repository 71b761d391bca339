"""API benchmark: the curated-slice query end to end, next to a plain FastAPI baseline.

    .venv/bin/python bench/api.py [--requests 4000] [--seconds 20] [--concurrency 8]
        [--entries 20] [--profile 500]

On PostgreSQL (``CARERECORD_BENCH_POSTGRES_URL``, default the local test database; a
fresh schema is created and dropped): a small partnership and a client with
``--entries`` entries from three agencies, views built by the projection runner.
One uvicorn worker (a separate process) serves the real app, plus one extra route:

- **GraphQL**: ``POST /graphql`` with a bearer token - token verification, the
  caller checked against the directory, the read repository (view ∩ read-time
  consent re-check), strawberry execution, and the access record written (group
  commit) before the response leaves;
- **baseline**: ``GET /baseline/{client_id}`` - a plain FastAPI ``def`` route that
  reads the same view through the same repository call with a caller resolved once
  at start-up, and returns the same bytes, with no token, no GraphQL and no audit.

A third route, ``GET /graphql-only/{client_id}``, runs the same GraphQL execution with a
caller resolved once and no audit write, to show where the difference goes.

The load generator (this process, raw keep-alive HTTP/1.1 over 127.0.0.1) runs them
alternately in rounds, bounded by ``--requests`` per endpoint and ``--seconds``
per round, and reports requests per second and p50/p99 latency for each, and the
ratio. ``--profile N`` then profiles N GraphQL requests in-process (pyinstrument)
and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from fastapi import Request, Response
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.settings import ApiSettings  # noqa: E402
from bench.pg import PG_URL, bench_postgres  # noqa: E402
from carerecord.application import CareRecord  # noqa: E402
from carerecord.migrate import migrate  # noqa: E402
from carerecord.protocol import bundled_document  # noqa: E402
from carerecord.runtime import open_care_record  # noqa: E402
from carerecord.settings import Settings  # noqa: E402
from carerecord.values import Viewer  # noqa: E402
from carerecord.vocab import ViewerKind  # noqa: E402

QUERY = """query Visit($id: ID!) {
  client(id: $id) {
    clientId
    entries(first: 20) {
      items { entryId kind version agency profession category heading sensitivity
              occurredAt text amended sharedUnder { basis rule } }
      pageInfo { hasNextPage }
    }
  }
}"""
PEOPLE = (
    ("nurse-a", "community", "health", "district_nurse"),
    ("dr-a", "gp-a", "health", "gp"),
    ("sw-a", "social", "social_care", "social_worker"),
)
HEADINGS = {
    "nurse-a": ("Wound care", "Mobility and falls", "Nutrition and hydration"),
    "dr-a": ("History", "Examination", "Medication review"),
    "sw-a": ("Needs assessment", "Care and support plan", "Family and networks"),
}
TEXT = "Seen at home; dressing changed, healing well, carer present. " * 4


# --- the store --------------------------------------------------------------------------


def settings_for(schema: str, data_dir: Path) -> Settings:
    base = Settings.from_env({"CARERECORD_DATABASE_URL": PG_URL})
    return replace(
        base,
        data_dir=data_dir,
        postgres=replace(bench_postgres(), schema=schema),
        identifier_key=b"b" * 32,
        pool_size=8,
    )


def build(settings: Settings, entries: int) -> str:
    migrate(settings)
    app = open_care_record(settings)
    try:
        at = datetime.now(UTC) - timedelta(days=2)
        app.adopt_protocol(bundled_document(2), at=at)
        for practitioner, agency, sector, profession in PEOPLE:
            app.register_agency(
                code=agency,
                name=agency.title(),
                sector=sector,
                local_authority_area="north-shire",
                phone="01632 960000",
                email=f"team@{agency}.example",
                at=at,
            )
            app.enrol_practitioner(
                practitioner_id=practitioner,
                agency_id=agency,
                profession=profession,
                name=practitioner.title(),
                at=at,
            )
        nurse = viewer(PEOPLE[0])
        client = app.register_client(
            nurse,
            nhs_number="9434765919",
            given_name="Pat",
            family_name="Bench",
            date_of_birth=date(1941, 3, 9),
        ).id
        assert client is not None
        for person in PEOPLE[1:]:
            app.start_care_relationship(viewer(person), client, reason="Allocated")
        app.record_consent(nurse, client, decision="granted", everyone=True)
        for i in range(entries):
            person = PEOPLE[i % len(PEOPLE)]
            app.record_contribution(
                viewer(person),
                client,
                heading=HEADINGS[person[0]][i % 3],
                text=f"{TEXT} ({i})",
                occurred_at=datetime.now(UTC) - timedelta(days=1, minutes=entries - i),
            )
        catch_up(settings, app)
        return client
    finally:
        app.close()


def catch_up(settings: Settings, app: CareRecord) -> None:
    from carerecord.db import Databases
    from projections.engine.settings import ProjectionSettings
    from projections.registry import view_runner

    databases = Databases(settings)
    try:
        view_runner(app, databases.views, ProjectionSettings()).catch_up()
    finally:
        databases.close()


def viewer(person: tuple[str, str, str, str]) -> Viewer:
    practitioner, agency, _, profession = person
    return Viewer(
        kind=ViewerKind.PRACTITIONER,
        agency_id=agency,
        profession=profession,
        practitioner_id=practitioner,
    )


def api_settings(folder: Path) -> ApiSettings:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
    return ApiSettings(
        environment="production",
        issuer="https://idp.bench",
        audience="carerecord-api",
        algorithms=("EdDSA",),
        public_key_path=public,
        private_key_path=private,
        cursor_key=b"c" * 32,
    )


# --- the server (a separate process) ----------------------------------------------------


def baseline_body(result: Any) -> bytes:
    """The GraphQL response's bytes, rendered straight from the read repository's slice."""
    items = [
        {
            "entryId": e.entry_id,
            "kind": e.kind.upper(),
            "version": e.version,
            "agency": e.agency_id,
            "profession": e.profession,
            "category": e.category,
            "heading": e.heading,
            "sensitivity": e.sensitivity.upper(),
            "occurredAt": e.occurred_at.isoformat(),
            "text": e.text,
            "amended": e.amended,
            "sharedUnder": {"basis": e.basis, "rule": e.rule},
        }
        for e in result.entries[:20]
    ]
    return orjson.dumps(
        {
            "data": {
                "client": {
                    "clientId": str(result.client_id),
                    "entries": {
                        "items": items,
                        "pageInfo": {"hasNextPage": len(result.entries) > 20},
                    },
                }
            }
        }
    )


def serve(schema: str, data_dir: Path, keys: Path, port: int) -> None:
    import uvicorn

    if os.environ.get("BENCH_PIN_SERVER") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(os.environ["BENCH_PIN_SERVER"])})

    from api.app import create_app

    settings = settings_for(schema, data_dir)
    app = create_app(settings, api_settings_from(keys))
    nurse: dict[str, Viewer] = {}

    def baseline(client_id: str, request: Request) -> Response:
        services = request.app.state.services
        if "v" not in nurse:
            nurse["v"] = services.care_record.resolve_actor(viewer(PEOPLE[0]))
        result = services.reads.client_slice(nurse["v"], client_id)
        return Response(baseline_body(result), media_type="application/json")

    def graphql_only(client_id: str, request: Request) -> Response:
        """The same GraphQL execution with a caller resolved once and no audit write."""
        from api.auth import Caller
        from api.graphql.context import ApiContext

        services = request.app.state.services
        if "v" not in nurse:
            nurse["v"] = services.care_record.resolve_actor(viewer(PEOPLE[0]))
        caller = Caller(viewer=nurse["v"], expires_at=datetime.now(UTC) + timedelta(hours=1))
        context = ApiContext(services, request_id="bench", caller=caller)
        result = request.app.state.schema.execute_sync(
            QUERY, variable_values={"id": client_id}, context_value=context
        )
        return Response(orjson.dumps({"data": result.data}), media_type="application/json")

    app.add_api_route("/baseline/{client_id}", baseline, methods=["GET"])
    app.add_api_route("/graphql-only/{client_id}", graphql_only, methods=["GET"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


def api_settings_from(keys: Path) -> ApiSettings:
    return ApiSettings(
        environment="production",
        issuer="https://idp.bench",
        audience="carerecord-api",
        algorithms=("EdDSA",),
        public_key_path=keys / "signing.pub.pem",
        private_key_path=keys / "signing.pem",
        cursor_key=b"c" * 32,
    )


# --- the load generator -----------------------------------------------------------------


@dataclass
class Result:
    name: str
    latencies: list[float]
    elapsed: float
    errors: int

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def _worker(
    port: int,
    request: bytes,
    stop_at: float,
    budget: list[int],
    out: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while budget[0] > 0 and time.perf_counter() < stop_at:
            budget[0] -= 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            status = head[9:12]
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status != b"200":
                errors[0] += 1
            out.append(time.perf_counter() - started)
    finally:
        writer.close()


async def load(
    name: str, port: int, request: bytes, count: int, seconds: float, concurrency: int
) -> Result:
    budget, latencies, errors = [count], [], [0]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _worker(port, request, started + seconds, budget, latencies, errors)
            for _ in range(concurrency)
        )
    )
    return Result(name, latencies, time.perf_counter() - started, errors[0])


def http_request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def merge(results: list[Result]) -> Result:
    return Result(
        results[0].name,
        [x for r in results for x in r.latencies],
        sum(r.elapsed for r in results),
        sum(r.errors for r in results),
    )


# --- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="per endpoint, all rounds")
    parser.add_argument("--seconds", type=float, default=20.0, help="cap per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--profile", type=int, default=0, help="GraphQL requests to profile")
    parser.add_argument(
        "--breakdown", action="store_true", help="time each step of a request in-process"
    )
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin the server to one core"
    )
    parser.add_argument("--serve", nargs=4, metavar=("SCHEMA", "DATA", "KEYS", "PORT"))
    args = parser.parse_args()
    if args.serve:
        schema, data, keys, port = args.serve
        serve(schema, Path(data), Path(keys), int(port))
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    from api.tokens import TokenIssuer

    schema = f"bench_api_{uuid.uuid4().hex[:10]}"
    base = settings_for("public", Path("."))
    assert base.postgres is not None
    with psycopg.connect(base.postgres.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    server: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            data, keys = Path(tmp) / "data", Path(tmp) / "keys"
            keys.mkdir()
            settings = settings_for(schema, data)
            print(f"Building the store (PostgreSQL schema {schema})...", file=sys.stderr)
            client = build(settings, args.entries)
            api_settings(keys)
            port = _free_port()
            env = dict(os.environ)
            if args.pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
                # The server gets one core to itself; this load generator runs on another.
                env["BENCH_PIN_SERVER"] = "0"
                os.sched_setaffinity(0, {1})
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", schema, str(data), str(keys), str(port)],
                cwd=ROOT,
                env=env,
            )
            _wait_ready(port)
            issuer = TokenIssuer(api_settings_from(keys))
            app = open_care_record(settings)
            try:
                token = issuer.for_practitioner(app, "nurse-a", ttl=timedelta(hours=1))
            finally:
                app.close()
            graphql = http_request(
                "POST",
                "/graphql",
                orjson.dumps({"query": QUERY, "variables": {"id": client}}),
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            baseline = http_request("GET", f"/baseline/{client}")
            graphql_only = http_request("GET", f"/graphql-only/{client}")
            same = _check_same_bytes(port, client, token)
            asyncio.run(_warm_up(args, port, graphql, baseline, graphql_only))
            audited_before = _access_count(settings)
            results = asyncio.run(_measure(args, port, graphql, baseline, graphql_only))
            audited = _access_count(settings) - audited_before
            _report(args, results, same, audited)
            if args.breakdown:
                _breakdown(settings, keys, client, token)
            if args.profile:
                _profile(settings, keys, client, token, args.profile)
        finally:
            if server is not None:
                server.send_signal(signal.SIGINT)
                server.wait(timeout=30)
            with psycopg.connect(base.postgres.conninfo(), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


async def _measure(
    args: argparse.Namespace, port: int, graphql: bytes, baseline: bytes, graphql_only: bytes
) -> dict[str, Result]:
    per_round = max(1, args.requests // args.rounds)
    requests = {"graphql": graphql, "baseline": baseline, "graphql_only": graphql_only}
    runs: dict[str, list[Result]] = {name: [] for name in requests}
    for _ in range(args.rounds):
        for name, request in requests.items():
            runs[name].append(
                await load(name, port, request, per_round, args.seconds, args.concurrency)
            )
    return {name: merge(results) for name, results in runs.items()}


async def _warm_up(args: argparse.Namespace, port: int, *requests: bytes) -> None:
    for request in requests:  # caches, pools, prepared statements
        await load("warm-up", port, request, 300, 15, args.concurrency)


def _check_same_bytes(port: int, client: str, token: str) -> bool:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        a = http.post(
            "/graphql",
            json={"query": QUERY, "variables": {"id": client}},
            headers={"Authorization": f"Bearer {token}"},
        )
        b = http.get(f"/baseline/{client}")
    a.raise_for_status()
    return a.content == b.content


def _access_count(settings: Settings) -> int:
    from carerecord.access_log import AccessLog
    from carerecord.db import Databases

    databases = Databases(settings)
    try:
        return AccessLog(databases.access).head()[0]
    finally:
        databases.close()


def _report(args: argparse.Namespace, results: dict[str, Result], same: bool, audited: int) -> None:
    g, b, o = results["graphql"], results["baseline"], results["graphql_only"]
    print()
    pinned = "pinned to one core" if args.pin else "not pinned"
    print(
        f"Curated-slice query, client with {args.entries} entries, PostgreSQL, one uvicorn "
        f"worker ({pinned}), {args.concurrency} keep-alive connections, "
        f"{args.rounds} alternating rounds"
    )
    print(
        f"{'endpoint':<44} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
    )
    for label, r in (
        ("GraphQL (auth + re-check + audit write)", g),
        ("plain FastAPI, same view, same bytes", b),
        ("(GraphQL execution only: no auth, no audit)", o),
    ):
        print(
            f"{label:<44} {len(r.latencies):>8} {r.rps:>8.0f} {r.pct(0.50):>8.2f} "
            f"{r.pct(0.99):>8.2f} {r.errors:>6}"
        )
    print(f"ratio (baseline / GraphQL throughput): {b.rps / g.rps:.2f}x")
    print(f"same response bytes: {'yes' if same else 'NO'}")
    print(f"access records written during the GraphQL runs: {audited} (one per request expected)")
    print(f"median of GraphQL latency: {statistics.median(g.latencies) * 1000:.2f} ms")


def _profile(settings: Settings, keys: Path, client: str, token: str, count: int) -> None:
    from pyinstrument import Profiler

    from api.graphql.http import execute
    from api.graphql.schema import build_schema
    from api.metrics import Metrics
    from api.services import Services

    api = api_settings_from(keys).resolved(settings.data_dir)
    services = Services.open(settings, api, metrics=Metrics())
    schema = build_schema(api)
    try:
        for _ in range(50):
            execute(
                services,
                schema,
                authorization=f"Bearer {token}",
                request_id="warm",
                query=QUERY,
                variables={"id": client},
                operation_name=None,
            )
        profiler = Profiler(interval=0.0002)
        profiler.start()
        started = time.perf_counter()
        for _ in range(count):
            response = execute(
                services,
                schema,
                authorization=f"Bearer {token}",
                request_id="profile",
                query=QUERY,
                variables={"id": client},
                operation_name=None,
            )
            assert response.status_code == 200
        elapsed = time.perf_counter() - started
        profiler.stop()
        print(
            f"\nIn-process, one thread: {count / elapsed:.0f} req/s "
            f"({elapsed / count * 1000:.2f} ms per request); profile:"
        )
        print(
            profiler.output_text(
                unicode=False,
                color=False,
                show_all=os.environ.get("BENCH_PROFILE_ALL") == "1",
                timeline=False,
            )
        )
    finally:
        services.close()


def _breakdown(settings: Settings, keys: Path, client: str, token: str) -> None:
    """Each step of one request, timed alone in this process (one thread, no load)."""
    from dataclasses import replace as copy

    from api.auth import TokenVerifier
    from api.graphql.http import execute
    from api.graphql.schema import build_schema
    from api.metrics import Metrics
    from api.services import Services

    api = api_settings_from(keys).resolved(settings.data_dir)
    services = Services.open(settings, api, metrics=Metrics())
    schema = build_schema(api)
    app = services.care_record
    nurse = app.resolve_actor(viewer(PEOPLE[0]))
    read = services.reads.client_slice(nurse, client)
    record = read.access_record(request_id="b", action="record.read", at=read.read_at)
    tiny = "query($id: ID!) { client(id: $id) { clientId } }"

    def run(query: str) -> None:
        execute(
            services,
            schema,
            authorization=f"Bearer {token}",
            request_id="b",
            query=query,
            variables={"id": client},
            operation_name=None,
        )

    steps = [
        ("token verification (first sight)", lambda: TokenVerifier(api).verify(token)),
        ("token verification (seen before)", lambda: services.authenticator.verifier.verify(token)),
        ("directory check (resolve_actor)", lambda: app.resolve_actor(viewer(PEOPLE[0]))),
        ("read repository: client_slice", lambda: services.reads.client_slice(nurse, client)),
        ("baseline rendering (orjson)", lambda: baseline_body(read)),
        (
            "access record write (alone)",
            lambda: services.access_writer.record(copy(record, access_id=str(uuid.uuid4()))),
        ),
        ("whole request, `client { clientId }`", lambda: run(tiny)),
        ("whole request, the benchmark query", lambda: run(QUERY)),
    ]
    print("\nIn-process, one thread, median of 200 (ms):")
    try:
        for label, step in steps:
            for _ in range(20):
                step()
            times = []
            for _ in range(200):
                started = time.perf_counter()
                step()
                times.append(time.perf_counter() - started)
            print(f"  {label:<40} {statistics.median(times) * 1000:7.3f}")
    finally:
        services.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API server did not become ready")


if __name__ == "__main__":
    main()
