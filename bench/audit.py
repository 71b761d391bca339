"""Audit benchmarks: chain verification speed, reconstruction latency, access-log writes.

    .venv/bin/python bench/audit.py [--backend sqlite|postgres|both] [--events 50000]
        [--accesses 50000] [--client-events 1000] [--reconstructions 300]
        [--parts chains,reconstruct,writes,overhead] [--requests 3000] [--concurrency 8]

For each backend, on a fresh store:

1. Chain verification: ``--events`` events (the chained recorder, in saves of 250)
   and ``--accesses`` access records are written, then each log is verified by the
   streaming checker (``carerecord audit verify``'s walk) - next to a raw loop that
   only recomputes the same hashes over the same bytes already in memory (the floor:
   what any verifier must spend on SHA-256).
2. Reconstruction: a client with ``--client-events`` events (contributions,
   amendments, entries in error, consent, restrictions, relationships, alerts and a
   protocol change, through the application service), reads recorded against it by
   several viewers with lagging views, and ``--reconstructions`` replays timed (one
   engine, as a process would keep). Baseline in the same run: reading and decoding
   the client's stream alone. Target: p99 < 100 ms.
3. Access-log writes: the latency a read waits for its access record to be durable
   (``AccessLogWriter.record``), one reader and 8 concurrent readers (group commit).
4. Audit write overhead on the API read path: the curated-slice query of
   ``bench/api.py`` (a client with 20 entries from three agencies) served by one
   uvicorn worker (a separate process, pinned to one core) through ``POST /graphql``,
   alternately with ``POST /graphql-unaudited`` - the very same handler (token,
   directory check, read repository, GraphQL execution) with an access-log writer
   that writes nothing - in rounds, same run; req/s, p50/p99 and their ratio.

PostgreSQL: ``CARERECORD_BENCH_POSTGRES_URL`` (default the local test database); a
fresh schema is created and dropped.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import psycopg
from fastapi import Request, Response
from psycopg import sql

from carerecord.access_log import AccessLog, AccessLogWriter, AccessRecord, access_digest
from carerecord.application import CareRecord
from carerecord.audit.access_chain import check_access_chain
from carerecord.audit.chains import EventTables
from carerecord.audit.event_chain import check_event_chain
from carerecord.audit.reconstruct import TimeTravel
from carerecord.chain import link_hash, record_digest
from carerecord.client_record import ClientRecord
from carerecord.db import Databases
from carerecord.migrate import migrate
from carerecord.policy import CARE, SELF, viewer_key
from carerecord.protocol import bundled_document
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from carerecord.slice import curate, fold_entries, slice_hash
from carerecord.values import CareRelationship, Demographics, Labels, Viewer
from carerecord.vocab import (
    LawfulBasis,
    Purpose,
    RelationshipKind,
    Sector,
    Sensitivity,
    ViewerKind,
)

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)  # run as a script: ``api`` is our package, not bench/api.py

from bench.pg import bench_postgres  # noqa: E402

TEXT = "Seen at home; " * 20  # ~280 characters of stand-in entry text

PEOPLE = [  # (practitioner, agency, sector, profession, roles)
    ("dr-a", "gp-a", "health", "gp", ("practitioner",)),
    ("nurse-a", "community", "health", "district_nurse", ("practitioner",)),
    ("sw-a", "social", "social_care", "social_worker", ("practitioner", "safeguarding_lead")),
    ("mh-a", "mh", "health", "mental_health_practitioner", ("practitioner",)),
    ("pc-a", "police", "police", "police_officer", ("practitioner",)),
    ("sup-a", "charity", "voluntary", "support_worker", ("practitioner",)),
]


def caller(pid: str) -> Viewer:
    person = next(p for p in PEOPLE if p[0] == pid)
    return Viewer(
        kind=ViewerKind.PRACTITIONER, agency_id=person[1], profession=person[3], practitioner_id=pid
    )


@contextmanager
def store(backend: str) -> Iterator[Settings]:
    """A fresh, migrated store with the directory and protocol version 1."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", identifier_key=b"b" * 32)
        schema = None
        if backend == "postgres":
            base = replace(Settings(), postgres=bench_postgres())
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(base.postgres.conninfo(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            pg = base.with_postgres_schema(schema).postgres
            settings = Settings(data_dir=settings.data_dir, postgres=pg, identifier_key=b"b" * 32)
        try:
            migrate(settings)
            app = open_care_record(settings)
            app.adopt_protocol(bundled_document(1))
            for agency in {(p[1], p[2]) for p in PEOPLE}:
                app.register_agency(
                    code=agency[0],
                    name=agency[0],
                    sector=agency[1],
                    local_authority_area="north-shire",
                    phone="01632 960000",
                    email="duty@example.org",
                )
            for pid, agency_id, _, profession, roles in PEOPLE:
                app.enrol_practitioner(
                    practitioner_id=pid,
                    agency_id=agency_id,
                    profession=profession,
                    name=pid,
                    roles=roles,
                )
            app.close()
            yield settings
        finally:
            if schema is not None and settings.postgres is not None:
                with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# --- 1. chain verification ----------------------------------------------------------------


def bulk_events(app: CareRecord, total: int, per_client: int = 1000, batch: int = 250) -> None:
    """Clients with many contributions each, saved through the chained recorder in batches."""
    now = datetime.now(UTC)
    actor = Viewer(
        kind=ViewerKind.PRACTITIONER,
        agency_id="gp-a",
        sector=Sector.HEALTH,
        profession="gp",
        practitioner_id="dr-a",
    )
    written = 0
    while written < total:
        record = ClientRecord.register(
            client_id=uuid4(),  # type: ignore[arg-type]
            nhs_number=None,
            local_ids={},
            demographics=Demographics("Bench", "Client", date(1950, 1, 1)),
            actor=actor,
            at=now,
        )
        record.start_care_relationship(
            CareRelationship(str(uuid4()), "dr-a", None, "gp-a", "gp", "Bench", "dr-a", now),
            actor=actor,
        )
        pending = 2
        for _ in range(min(per_client, total - written) - 2):
            labels = Labels(
                str(uuid4()),
                "gp-a",
                Sector.HEALTH,
                "dr-a",
                "gp",
                "physical_health",
                "History",
                Sensitivity.NORMAL,
                LawfulBasis.CONSENT,
                now,
            )
            record.record_contribution(labels, TEXT, actor=actor, now=now)
            pending += 1
            if pending == batch:
                app.save(record)
                written += pending
                pending = 0
        if pending:
            app.save(record)
            written += pending


def bulk_access(log: AccessLog, total: int, clients: int = 500, batch: int = 500) -> None:
    ids = [str(uuid4()) for _ in range(clients)]
    at = datetime.now(UTC)
    done = 0
    while done < total:
        size = min(batch, total - done)
        log.append(
            [
                AccessRecord(
                    access_id=str(uuid4()),
                    at=at,
                    request_id=str(uuid4()),
                    action="clientSlice",
                    viewer_kind="practitioner",
                    practitioner_id="dr-a",
                    agency_id="gp-a",
                    profession="gp",
                    roles=("practitioner",),
                    purpose="direct_care",
                    basis="care_relationship",
                    client_id=ids[(done + n) % clients],
                    items=tuple((str(uuid4()), n) for n in range(8)),
                    response_hash="0" * 64,
                    view_version=10,
                    state_version=10,
                    protocol_version=1,
                )
                for n in range(size)
            ]
        )
        done += size


def raw_event_loop(dbs: Databases, tables: EventTables) -> tuple[int, float]:
    """Recompute every event hash from bytes already in memory: the SHA-256 floor."""
    with dbs.events.snapshot() as tx:
        rows = tx.fetchall(
            f"SELECT e.{tables.id_column}, c.originator_id, e.originator_version, e.topic, "
            f"e.state, c.prev_hash, c.stream_prev_hash FROM {tables.events} e JOIN "
            f"{tables.chain} c ON c.notification_id = e.{tables.id_column} "
            f"ORDER BY e.{tables.id_column}"
        )
    rows = [
        (int(r[0]), str(r[1]), int(r[2]), r[3], bytes(r[4]), bytes(r[5]), bytes(r[6])) for r in rows
    ]
    started = time.perf_counter()
    for n, stream, version, topic, state, prev, stream_prev in rows:
        link_hash(prev, stream_prev, record_digest(n, stream, version, topic, state))
    return len(rows), time.perf_counter() - started


def raw_access_loop(dbs: Databases) -> tuple[int, float]:
    with dbs.access.snapshot() as tx:
        rows = tx.fetchall(
            "SELECT position, client_id, client_seq, record, prev_hash, stream_prev_hash "
            "FROM access_log ORDER BY position"
        )
    rows = [(int(r[0]), r[1], int(r[2]), bytes(r[3]), bytes(r[4]), bytes(r[5])) for r in rows]
    started = time.perf_counter()
    for n, client, seq, body, prev, stream_prev in rows:
        link_hash(prev, stream_prev, access_digest(n, client, seq, body))
    return len(rows), time.perf_counter() - started


def bench_chains(backend: str, events: int, accesses: int) -> None:
    with store(backend) as settings:
        app = open_care_record(settings)
        dbs = Databases(settings)
        try:
            started = time.perf_counter()
            bulk_events(app, events)
            bulk_access(AccessLog(dbs.access), accesses)
            print(
                f"  wrote {events:,} events and {accesses:,} access records "
                f"in {time.perf_counter() - started:.1f}s"
            )
            tables = EventTables.for_settings(settings)
            for label, check, floor in (
                (
                    "event log",
                    lambda: check_event_chain(dbs.events, tables),
                    lambda: raw_event_loop(dbs, tables),
                ),
                (
                    "access log",
                    lambda: check_access_chain(dbs.access),
                    lambda: raw_access_loop(dbs),
                ),
            ):
                result = check()
                assert result.intact, result.first_break
                count, seconds = floor()
                print(
                    f"  {label:10s}: verify {result.records:,} records in {result.seconds:.2f}s = "
                    f"{result.records / result.seconds:,.0f} records/s; hash-only loop over the "
                    f"same bytes {count / seconds:,.0f} records/s "
                    f"(verify = {seconds / result.seconds:.0%} of the floor's speed)"
                )
        finally:
            dbs.close()
            app.close()


# --- 2. reconstruction --------------------------------------------------------------------


@dataclass
class Busy:
    app: CareRecord
    client: str
    rng: random.Random
    entries: list[tuple[str, str]]
    restrictions: list[str]
    consents: list[str]


def busy_client(app: CareRecord, events: int, rng: random.Random) -> str:
    """A client with ``events`` events of every kind that matters to the policy."""
    registered = app.register_client(
        caller("dr-a"),
        local_ids={"bench": "B000001"},
        given_name="Bench",
        family_name="Client",
        date_of_birth=date(1950, 1, 1),
    )
    cid = registered.id
    assert cid is not None
    for pid in ("nurse-a", "sw-a", "mh-a", "sup-a"):
        app.start_care_relationship(caller(pid), cid, reason="Allocated")
    busy = Busy(app, cid, rng, [], [], [])
    headings = {
        "dr-a": ["History", "Mental state", "Medication review", "Safeguarding"],
        "nurse-a": ["Wound care", "Mobility and falls", "Mental wellbeing"],
        "sw-a": ["Needs assessment", "Safeguarding enquiry", "Finances"],
        "mh-a": ["Mental state", "Risk assessment", "Crisis plan"],
        "sup-a": ["Support plan", "Wellbeing"],
    }
    adopted = False
    while app.load_client(cid).version < events:
        roll = rng.random()
        pid = rng.choice(list(headings))
        if not adopted and app.load_client(cid).version > events // 2:
            app.adopt_protocol(bundled_document(2))
            adopted = True
        if roll < 0.70 or not busy.entries:
            result = app.record_contribution(
                caller(pid),
                cid,
                heading=rng.choice(headings[pid]),
                text=TEXT,
                occurred_at=datetime.now(UTC) - timedelta(minutes=rng.randrange(10_000)),
                lawful_basis=rng.choice(["consent", "consent", "safeguarding", "legal_obligation"]),
            )
            assert result.id is not None
            busy.entries.append((result.id, pid))
        elif roll < 0.82:
            entry, author = rng.choice(busy.entries)
            app.amend_contribution(caller(author), cid, entry, text=TEXT + "!", reason="Typo")
        elif roll < 0.85:
            entry, author = busy.entries.pop(rng.randrange(len(busy.entries)))
            app.enter_contribution_in_error(caller(author), cid, entry, reason="Wrong client")
        elif roll < 0.91:
            if busy.consents and rng.random() < 0.4:
                app.withdraw_consent(caller("dr-a"), cid, busy.consents.pop(), reason="Changed")
            else:
                result = app.record_consent(
                    caller("dr-a"),
                    cid,
                    decision=rng.choice(["granted", "refused"]),
                    professions=[rng.choice(["support_worker", "police_officer", "social_worker"])],
                )
                assert result.id is not None
                busy.consents.append(result.id)
        elif roll < 0.97:
            if busy.restrictions and rng.random() < 0.5:
                app.lift_restriction(caller("dr-a"), cid, busy.restrictions.pop(), reason="Agreed")
            else:
                result = app.place_restriction(
                    caller("dr-a"),
                    cid,
                    requested_by="client",
                    reason="Asked",
                    category=rng.choice(["mental_health", "physical_health"]),
                    sectors=[rng.choice(["voluntary", "social_care"])],
                )
                assert result.id is not None
                busy.restrictions.append(result.id)
        else:
            app.raise_alert(
                caller("mh-a"), cid, kind="risk_to_lone_workers", severity="high", summary="Dog"
            )
    return cid


def served(
    app: CareRecord, who: Viewer, cid: str, purpose: Purpose, lag: int
) -> AccessRecord | None:
    """A read as the read path serves it (view at a lagging version ∩ read-time policy)."""
    now = datetime.now(UTC)
    viewer = who if who.kind is ViewerKind.CLIENT else app.resolve_actor(who)
    current = app.load_client(cid)
    standing = current.standing_of(viewer, now)
    if standing.kind is RelationshipKind.NONE:
        return None
    view_version = max(1, current.version - lag)
    then = app.load_client(cid, version=view_version)
    entries = fold_entries(app.events.get(UUID(cid), lte=view_version)).values()
    protocol = app.protocol()
    audience = SELF if standing.kind is RelationshipKind.SELF else CARE
    key = viewer_key(viewer)
    view = {
        e.entry_id
        for e in curate(
            entries,
            viewer=key,
            purpose=purpose,
            relationship=audience,
            state=then.sharing_state(),
            protocol=protocol,
            now=None,
        )
    }
    shown = curate(
        [e for e in entries if e.labels.entry_id in view],
        viewer=key,
        purpose=purpose,
        relationship=standing,
        state=current.sharing_state(),
        protocol=protocol,
        now=now,
    )
    return AccessRecord(
        access_id=str(uuid4()),
        at=now,
        request_id="bench",
        action="clientSlice",
        viewer_kind=viewer.kind.value,
        practitioner_id=viewer.practitioner_id,
        agency_id=viewer.agency_id,
        profession=viewer.profession,
        roles=tuple(sorted(r.value for r in viewer.roles)),
        purpose=purpose.value,
        basis="subject_access" if standing.kind is RelationshipKind.SELF else "care_relationship",
        client_id=cid,
        items=tuple((e.entry_id, e.version) for e in shown),
        response_hash=slice_hash(shown),
        view_version=view_version,
        state_version=current.version,
        protocol_version=protocol.version,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_reconstruction(backend: str, events: int, count: int) -> None:
    with store(backend) as settings:
        app = open_care_record(settings)
        try:
            rng = random.Random(1)
            started = time.perf_counter()
            cid = busy_client(app, events, rng)
            version = app.load_client(cid).version
            readers = [caller(p) for p in ("dr-a", "nurse-a", "sw-a", "mh-a", "sup-a")]
            readers.append(Viewer(kind=ViewerKind.CLIENT, client_id=cid))
            accesses = []
            while len(accesses) < count:
                who = rng.choice(readers)
                purpose = (
                    Purpose.SUBJECT_ACCESS
                    if who.kind is ViewerKind.CLIENT
                    else rng.choice([Purpose.DIRECT_CARE, Purpose.SAFEGUARDING, Purpose.EMERGENCY])
                )
                access = served(app, who, cid, purpose, rng.choice([0, 0, 3, 20]))
                if access is not None:
                    accesses.append(access)
            print(
                f"  client with {version:,} events and {count} recorded reads built in "
                f"{time.perf_counter() - started:.1f}s"
            )
            engine = TimeTravel(app)
            engine.reconstruct(accesses[0])  # protocol versions parsed once, as in a process
            latencies = []
            for access in accesses:
                t0 = time.perf_counter()
                result = engine.reconstruct(access)
                latencies.append((time.perf_counter() - t0) * 1000)
                assert result.matches, (result.outcome, result.differing_entry_ids)
            warm_engine = TimeTravel(app, cached_clients=8)
            warm = []
            for access in accesses:
                t0 = time.perf_counter()
                assert warm_engine.reconstruct(access).matches
                warm.append((time.perf_counter() - t0) * 1000)
            baseline = []
            for _ in range(min(count, 100)):
                t0 = time.perf_counter()
                list(app.events.get(UUID(cid)))
                baseline.append((time.perf_counter() - t0) * 1000)
            shown = statistics.mean(len(a.items) for a in accesses)
            print(
                f"  reconstruct (all {count} match, {shown:.0f} entries shown on average): "
                f"p50 {percentile(latencies, 0.5):.1f} ms, "
                f"p99 {percentile(latencies, 0.99):.1f} ms, "
                f"max {max(latencies):.1f} ms (target p99 < 100 ms); baseline: read and decode "
                f"the stream alone p50 {percentile(baseline, 0.5):.1f} ms, "
                f"p99 {percentile(baseline, 0.99):.1f} ms"
            )
            print(
                f"  reconstruct with the client's stream kept decoded (auditing many reads of "
                f"one client): p50 {percentile(warm, 0.5):.1f} ms, "
                f"p99 {percentile(warm, 0.99):.1f} ms"
            )
            bench_index(settings, app, accesses)
        finally:
            app.close()


def bench_index(settings: Settings, app: CareRecord, accesses: list[AccessRecord]) -> None:
    """The audit projections (access index with entry-level bases, read and flow figures)
    over the recorded reads, rebuilt from the access log."""
    from projections.audit.registry import rebuild_audit

    dbs = Databases(settings)
    try:
        AccessLog(dbs.access).append(accesses)
        fresh = rebuild_audit(app, dbs.access)
        again = rebuild_audit(app, dbs.access)
        print(
            f"  audit index and read figures over those {fresh.events} reads: "
            f"{fresh.events_per_second:,.0f} records/s from a cold engine, "
            f"{again.events_per_second:,.0f} records/s rebuilt again"
        )
    finally:
        dbs.close()


# --- 3. access-log writes -----------------------------------------------------------------


def bench_access_writes(backend: str, per_thread: int = 300) -> None:
    with store(backend) as settings:
        dbs = Databases(settings)
        writer = AccessLogWriter(AccessLog(dbs.access))
        try:

            def one() -> AccessRecord:
                return AccessRecord(
                    access_id=str(uuid4()),
                    at=datetime.now(UTC),
                    request_id="bench",
                    action="clientSlice",
                    viewer_kind="practitioner",
                    practitioner_id="dr-a",
                    agency_id="gp-a",
                    profession="gp",
                    roles=("practitioner",),
                    purpose="direct_care",
                    basis="care_relationship",
                    client_id=str(uuid4()),
                    items=(("e", 1),),
                    response_hash="0" * 64,
                )

            for threads in (1, 8):
                latencies: list[float] = []
                lock = threading.Lock()

                def work(latencies: list[float] = latencies, lock: threading.Lock = lock) -> None:
                    mine = []
                    for _ in range(per_thread):
                        t0 = time.perf_counter()
                        writer.record(one())
                        mine.append((time.perf_counter() - t0) * 1000)
                    with lock:
                        latencies.extend(mine)

                started = time.perf_counter()
                pool = [threading.Thread(target=work) for _ in range(threads)]
                for t in pool:
                    t.start()
                for t in pool:
                    t.join()
                elapsed = time.perf_counter() - started
                print(
                    f"  access record durable before the response, {threads} reader(s): "
                    f"p50 {percentile(latencies, 0.5):.2f} ms, "
                    f"p99 {percentile(latencies, 0.99):.2f} ms, "
                    f"{len(latencies) / elapsed:,.0f} records/s"
                )
        finally:
            writer.close()
            dbs.close()


# --- 4. audit write overhead on the API read path ------------------------------------------


@functools.cache
def _bench_api() -> Any:
    """bench/api.py (its store, settings and load generator), loaded under another name:
    ``api`` is our package."""
    spec = importlib.util.spec_from_file_location("bench_api", Path(__file__).with_name("api.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_api"] = module
    spec.loader.exec_module(module)
    return module


class _Unwritten:
    """An access-log writer that writes nothing (the unaudited comparison only)."""

    def record_many(self, records: list[AccessRecord]) -> list[int]:
        return list(range(1, len(records) + 1))


def _overhead_settings(backend: str, schema: str, data: Path) -> Settings:
    if backend == "postgres":
        settings: Settings = _bench_api().settings_for(schema, data)
        return settings
    return Settings(data_dir=data, identifier_key=b"b" * 32)


def serve_api(backend: str, schema: str, data: str, keys: str, port: str) -> None:
    """The server process: the real app, plus the same handler without the audit write."""
    from dataclasses import replace as copy

    import uvicorn
    from fastapi.concurrency import run_in_threadpool

    from api.app import create_app
    from api.graphql.http import execute

    if os.environ.get("BENCH_PIN_SERVER") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(os.environ["BENCH_PIN_SERVER"])})
    bench_api = _bench_api()
    settings = _overhead_settings(backend, schema, Path(data))
    app = create_app(settings, bench_api.api_settings_from(Path(keys)))

    async def unaudited(request: Request) -> Response:
        services = request.app.state.services
        quiet = copy(services, access_writer=_Unwritten())
        body = orjson.loads(await request.body())
        response: Response = await run_in_threadpool(
            execute,
            quiet,
            request.app.state.schema,
            authorization=request.headers.get("authorization"),
            request_id=request.state.request_id,
            query=body["query"],
            variables=body.get("variables"),
            operation_name=None,
        )
        return response

    app.add_api_route("/graphql-unaudited", unaudited, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", lifespan="on")


def bench_overhead(backend: str, requests: int, concurrency: int, rounds: int) -> None:
    import asyncio
    import signal
    import subprocess

    from api.tokens import TokenIssuer

    bench_api = _bench_api()
    schema = f"bench_ovh_{uuid.uuid4().hex[:10]}"
    pg = bench_postgres() if backend == "postgres" else None
    if backend == "postgres":
        assert pg is not None
        with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    server = None
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            data, keys = Path(tmp) / "data", Path(tmp) / "keys"
            keys.mkdir()
            settings = _overhead_settings(backend, schema, data)
            client = bench_api.build(settings, 20)
            bench_api.api_settings(keys)
            port = bench_api._free_port()
            env = dict(os.environ)
            if affinity is not None and len(affinity) > 1:
                env["BENCH_PIN_SERVER"] = "0"  # the server gets a core; the load another
                os.sched_setaffinity(0, {1})
            server = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--serve-api",
                    backend,
                    schema,
                    str(data),
                    str(keys),
                    str(port),
                ],
                env=env,
            )
            bench_api._wait_ready(port)
            app = open_care_record(settings)
            try:
                token = TokenIssuer(bench_api.api_settings_from(keys)).for_practitioner(
                    app, "nurse-a", ttl=timedelta(hours=1)
                )
            finally:
                app.close()
            body = orjson.dumps({"query": bench_api.QUERY, "variables": {"id": client}})
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            audited = bench_api.http_request("POST", "/graphql", body, headers)
            unaudited = bench_api.http_request("POST", "/graphql-unaudited", body, headers)

            async def measure() -> dict[str, Any]:
                for request in (audited, unaudited):  # pools, caches, prepared statements
                    await bench_api.load("warm-up", port, request, 300, 15, concurrency)
                per_round = max(1, requests // rounds)
                runs: dict[str, list[Any]] = {"audited": [], "unaudited": []}
                for _ in range(rounds):
                    for name, request in (("audited", audited), ("unaudited", unaudited)):
                        runs[name].append(
                            await bench_api.load(name, port, request, per_round, 30, concurrency)
                        )
                return {name: bench_api.merge(results) for name, results in runs.items()}

            log = AccessLog(Databases(settings).access)
            before = log.head()[0]
            results = asyncio.run(measure())
            written = log.head()[0] - before
            a, u = results["audited"], results["unaudited"]
            print(
                f"  API read path, curated slice of 20 entries, one uvicorn worker, "
                f"{concurrency} connections, {rounds} alternating rounds:"
            )
            for label, r in (("with the access-log write", a), ("without it", u)):
                print(
                    f"    {label:<26} {len(r.latencies):>6} requests {r.rps:>7,.0f} req/s  "
                    f"p50 {r.pct(0.5):6.2f} ms  p99 {r.pct(0.99):6.2f} ms  errors {r.errors}"
                )
            print(
                f"    audit overhead: throughput x{u.rps / a.rps:.2f} without it; "
                f"p50 +{a.pct(0.5) - u.pct(0.5):.2f} ms, p99 +{a.pct(0.99) - u.pct(0.99):.2f} ms "
                f"with it; access records written {written} (audited requests "
                f"{len(a.latencies) + 300})"
            )
        finally:
            if server is not None:
                server.send_signal(signal.SIGINT)
                server.wait(timeout=30)
            if affinity is not None:
                os.sched_setaffinity(0, affinity)
            if backend == "postgres" and pg is not None:
                with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--accesses", type=int, default=50_000)
    parser.add_argument("--client-events", type=int, default=1_000)
    parser.add_argument("--reconstructions", type=int, default=300)
    parser.add_argument(
        "--parts",
        default="chains,reconstruct,writes,overhead",
        help="which parts to run (comma list)",
    )
    parser.add_argument("--requests", type=int, default=3000, help="overhead: per endpoint")
    parser.add_argument("--concurrency", type=int, default=8, help="overhead: connections")
    parser.add_argument("--rounds", type=int, default=3, help="overhead: alternating rounds")
    parser.add_argument("--serve-api", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_api:
        serve_api(*args.serve_api)
        return
    parts = set(args.parts.split(","))
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for backend in backends:
        print(f"[{backend}]")
        if "chains" in parts:
            bench_chains(backend, args.events, args.accesses)
        if "reconstruct" in parts:
            bench_reconstruction(backend, args.client_events, args.reconstructions)
        if "writes" in parts:
            bench_access_writes(backend)
        if "overhead" in parts:
            bench_overhead(backend, args.requests, args.concurrency, args.rounds)


if __name__ == "__main__":
    main()
