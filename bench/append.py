"""Append benchmark: contribution commands per second through the application service.

    .venv/bin/python bench/append.py [--backend sqlite|postgres|both] [--commands 2000]
        [--seconds 20] [--writers 1,4] [--clients 25] [--text 600] [--profile 400] [--quick]
        [--keyed]

For each backend, on a fresh store (SQLite: a temporary directory; PostgreSQL:
``CARERECORD_BENCH_POSTGRES_URL``, default the local test database, in a fresh schema
that is dropped afterwards):

- **command path**: ``CareRecord.record_contribution`` - resolve the caller against the
  directory, load the protocol, validate and label, load the client (cache + fast-forward
  + copy), let the aggregate decide, save (the library's recorder: on PostgreSQL an
  exclusive table lock and NOTIFY per transaction; plus our hash-chain rows);
- **raw baseline**: the bare driver (sqlite3 / psycopg) inserting rows of the same shape
  and the same stored size, one transaction per row, in a table of its own.

Both run with 1 and with 4 concurrent writers (separate processes, each on its own
clients, released together by a barrier), bounded by ``--commands`` per writer and
``--seconds`` per run, and are printed side by side with their ratio. ``--profile N``
then profiles N single-writer commands in-process (cProfile) and prints where the time
goes. ``--keyed`` also runs the command path with an idempotency key on every command
(the key looked up first, then saved with the event). ``--quick`` is a smoke run (a few
hundred commands, short runs).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import multiprocessing as mp
import os
import pstats
import queue
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pg import bench_postgres  # noqa: E402
from carerecord.errors import CareRecordError  # noqa: E402
from carerecord.migrate import migrate  # noqa: E402
from carerecord.protocol import bundled_document  # noqa: E402
from carerecord.runtime import open_care_record  # noqa: E402
from carerecord.settings import PostgresParams, Settings  # noqa: E402
from carerecord.values import Viewer  # noqa: E402
from carerecord.vocab import ViewerKind  # noqa: E402

KEY = b"b" * 32
HEADINGS = ("History", "Examination", "Plan", "Social context")


def gp(n: int) -> Viewer:
    return Viewer(
        kind=ViewerKind.PRACTITIONER,
        agency_id="gp-bench",
        profession="gp",
        practitioner_id=f"gp-{n}",
    )


class Note(Aggregate):
    """The library's floor: the smallest aggregate, one event per command, no checks."""

    class Added(Aggregate.Event):
        text: str

    @event(Added)
    def add(self, text: str) -> None:
        pass


class Floor(Application[UUID]):
    """A plain eventsourcing application: get -> trigger -> save, nothing of ours."""

    name = "BenchFloor"


def floor_env(settings: Settings, *, create_tables: bool = False) -> dict[str, str]:
    """Configured like the care record (orjson, a cache of 2,000 aggregates), minus our parts."""
    env = {
        "CREATE_TABLE": "y" if create_tables else "n",
        "TRANSCODER_TOPIC": "carerecord.transcoder:OrjsonTranscoder",
        "AGGREGATE_CACHE_MAXSIZE": "2000",
    }
    if settings.postgres is None:
        return env | {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.data_dir / "floor.sqlite3"),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    pg = settings.postgres
    return env | {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": pg.host,
        "POSTGRES_PORT": str(pg.port),
        "POSTGRES_DBNAME": pg.dbname,
        "POSTGRES_USER": pg.user,
        "POSTGRES_PASSWORD": pg.password,
        "POSTGRES_SCHEMA": pg.schema,
        "POSTGRES_LOCK_TIMEOUT": "10",
    }


# --- stores ----------------------------------------------------------------------------------


@contextmanager
def fresh_store(backend: str) -> Iterator[Settings]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-append-"))
    if backend == "sqlite":
        yield Settings(data_dir=data_dir, identifier_key=KEY)
        return
    base = bench_postgres()
    schema = f"bench_append_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield Settings(
            data_dir=data_dir,
            postgres=PostgresParams(
                base.host, base.port, base.dbname, base.user, base.password, schema
            ),
            identifier_key=KEY,
            pool_size=2,
        )
    finally:
        with psycopg.connect(base.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def prepare(settings: Settings, writers: int, clients: int) -> dict[int, list[str]]:
    """Protocol, one GP practice with a GP per writer, and ``clients`` clients per writer."""
    migrate(settings)
    app = open_care_record(settings)
    try:
        app.adopt_protocol(bundled_document(1))
        app.register_agency(
            code="gp-bench",
            name="Bench Surgery",
            sector="health",
            local_authority_area="north-shire",
            phone="01632 960000",
            email="b@b.example",
        )
        owned: dict[int, list[str]] = {}
        for n in range(writers):
            app.enrol_practitioner(
                practitioner_id=f"gp-{n}", agency_id="gp-bench", profession="gp", name=f"GP {n}"
            )
            owned[n] = [
                str(
                    app.register_client(
                        gp(n),
                        local_ids={"bench": f"W{n}C{c}"},
                        given_name="Ann",
                        family_name=f"Bench{n}x{c}",
                        date_of_birth=date(1950, 1, 1),
                    ).id
                )
                for c in range(clients)
            ]
        return owned
    finally:
        app.close()


# --- one writer (a process) ----------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    count: int
    started: float
    ended: float
    refused: int


def app_writer(
    settings: Settings,
    n: int,
    clients: list[str],
    commands: int,
    seconds: float,
    text: str,
    keyed: bool,
    barrier: Any,
    results: Any,
) -> None:
    app = open_care_record(settings)
    caller = gp(n)
    keys = (f"{n}-{uuid.uuid4()}" for _ in iter(int, 1))  # a new key per command

    def command(i: int) -> None:
        app.record_contribution(
            caller,
            clients[i % len(clients)],
            heading=HEADINGS[i % len(HEADINGS)],
            text=text,
            occurred_at=datetime.now(UTC) - timedelta(minutes=5),
            idempotency_key=next(keys) if keyed else None,
        )

    for i in range(3):  # warm the caches (directory, protocol, clients' first loads)
        command(i)
    barrier.wait()
    started, done, refused = time.perf_counter(), 0, 0
    deadline = started + seconds
    while done < commands and time.perf_counter() < deadline:
        try:
            command(done)
        except CareRecordError:
            refused += 1
        done += 1
    results.put(Run(done, started, time.perf_counter(), refused))
    app.close()


def floor_writer(
    settings: Settings,
    n: int,
    clients: int,
    commands: int,
    seconds: float,
    text: str,
    barrier: Any,
    results: Any,
) -> None:
    app = Floor(env=floor_env(settings))
    notes = []
    for _ in range(clients):  # created here: the topic names this process's module
        note = Note()
        app.save(note)
        notes.append(note.id)

    def command(i: int) -> None:
        note: Note = app.repository.get(notes[i % len(notes)])
        note.add(text)
        app.save(note)

    for i in range(3):
        command(i)
    barrier.wait()
    started, done = time.perf_counter(), 0
    deadline = started + seconds
    while done < commands and time.perf_counter() < deadline:
        command(done)
        done += 1
    results.put(Run(done, started, time.perf_counter(), 0))
    app.close()


def raw_writer(
    settings: Settings,
    n: int,
    rows: int,
    seconds: float,
    state: bytes,
    barrier: Any,
    results: Any,
) -> None:
    """The bare driver: one INSERT per transaction into a table shaped like the library's."""
    stream = str(uuid.uuid4())
    topic = "carerecord.client_record:ClientRecord.ContributionRecorded"
    if settings.postgres is None:
        conn = sqlite3.connect(
            str(settings.data_dir / "raw.sqlite3"), isolation_level=None, timeout=30
        )
        conn.execute("PRAGMA journal_mode=WAL")

        def insert(version: int) -> None:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO raw_events VALUES (?,?,?,?)", (stream, version, topic, state))
            conn.execute("COMMIT")
    else:
        pg = psycopg.connect(settings.postgres.conninfo())
        pg.execute(
            sql.SQL("SET search_path TO {}").format(sql.Identifier(settings.postgres.schema))
        )
        pg.commit()

        def insert(version: int) -> None:
            pg.execute(
                "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)",
                (stream, version, topic, state),
                prepare=True,
            )
            pg.commit()

    insert(0)
    barrier.wait()
    started, done = time.perf_counter(), 0
    deadline = started + seconds
    while done < rows and time.perf_counter() < deadline:
        done += 1
        insert(done)
    results.put(Run(done, started, time.perf_counter(), 0))
    if settings.postgres is None:
        conn.close()
    else:
        pg.close()


def create_raw_table(settings: Settings) -> None:
    ddl = (
        "CREATE TABLE IF NOT EXISTS raw_events (originator_id TEXT NOT NULL, "
        "originator_version INTEGER NOT NULL, topic TEXT, state {blob}, "
        "notification_id {serial}, PRIMARY KEY (originator_id, originator_version))"
    )
    if settings.postgres is None:
        with sqlite3.connect(str(settings.data_dir / "raw.sqlite3")) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS raw_events (originator_id TEXT NOT NULL, "
                "originator_version INTEGER NOT NULL, topic TEXT, state BLOB, "
                "PRIMARY KEY (originator_id, originator_version))"
            )
        return
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("SET search_path TO {}").format(sql.Identifier(settings.postgres.schema))
        )
        conn.execute(ddl.format(blob="bytea", serial="bigserial"))


def together(
    target: Callable[..., None], writers: int, args: Callable[[int], tuple[Any, ...]]
) -> float:
    """Run ``writers`` processes released by one barrier; the combined rate (per second)."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args(n), barrier, results)) for n in range(writers)]
    for p in procs:
        p.start()
    runs: list[Run] = []
    while len(runs) < writers:
        try:
            runs.append(results.get(timeout=5))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.kill()
                raise SystemExit("a writer failed; see its traceback above") from None
    for p in procs:
        p.join(timeout=60)
    if any(r.refused for r in runs):
        print(f"    ({sum(r.refused for r in runs)} commands refused, e.g. CONCURRENT_UPDATE)")
    span = max(r.ended for r in runs) - min(r.started for r in runs)
    return sum(r.count for r in runs) / span


def stored_contribution_size(settings: Settings) -> int:
    app = open_care_record(settings)
    try:
        sizes = [
            len(n.state)
            for n in app.recorder.select_notifications(start=1, limit=100_000)
            if n.topic.endswith("ContributionRecorded")
        ]
    finally:
        app.close()
    return int(statistics.mean(sizes))


# --- the profile ----------------------------------------------------------------------------


def named(name: str, module: str = "") -> Callable[[str, str], bool]:
    return lambda file, function: function == name and file.endswith(module)


CATEGORIES: list[tuple[str, Callable[[str, str], bool]]] = [
    (
        "whole command (record_contribution)",
        named("record_contribution", "commands/contributions.py"),
    ),
    ("  caller resolved against the directory", named("resolve_actor")),
    (
        "  protocol loaded (get + canonical parse)",
        named("protocol", "carerecord/commands/directory.py"),
    ),
    ("  input validated and labelled", named("_labels")),
    ("  client loaded, decided and saved (_change)", named("_change")),
    ("    aggregate copied from the cache (deepcopy)", named("deepcopy", "copy.py")),
    ("    relationship standing (policy.relationship_for)", named("relationship_for")),
    (
        "    save (encode + insert + chain + snapshots)",
        named("save", "eventsourcing/application.py"),
    ),
    ("      events encoded (mapper + transcoder)", named("to_stored_event")),
    ("      exclusive table lock (PostgreSQL)", named("_lock_table")),
    ("      hash-chain rows computed", named("_chain_rows")),
    ("      snapshots taken", named("_take_snapshots")),
    ("  events decoded (fast-forward, mapper)", named("to_domain_event")),
]


def driver_calls(raw: dict[Any, Any], name: str) -> int:
    """How often the driver's ``name`` ran: sqlite3's C methods or psycopg's Python ones."""
    return sum(
        v[1]
        for (file, _, function), v in raw.items()
        if (file == "~" and function.startswith(f"<method '{name}' of 'sqlite3."))
        or ("psycopg/" in file and function == name and not file.endswith("_pipeline.py"))
    )


def profile(settings: Settings, clients: list[str], commands: int, text: str) -> None:
    app = open_care_record(settings)
    caller = gp(0)

    def command(i: int) -> None:
        app.record_contribution(
            caller,
            clients[i % len(clients)],
            heading="Plan",
            text=text,
            occurred_at=datetime.now(UTC) - timedelta(minutes=5),
        )

    for i in range(5):
        command(i)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for i in range(commands):
        command(i)
    profiler.disable()
    elapsed = time.perf_counter() - started
    app.close()
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    print(
        f"  profile of {commands} commands ({commands / elapsed:.0f}/s under cProfile), "
        "inclusive time per command:"
    )
    for label, match in CATEGORIES:
        cumulative = sum(v[3] for (f, _, n), v in raw.items() if match(f, n))
        print(f"    {label:<54} {cumulative / commands * 1e6:8.0f} us")
    statements = driver_calls(raw, "execute") + driver_calls(raw, "executemany")
    commits = driver_calls(raw, "commit")
    print(
        f"    statements executed per command: {statements / commands:.1f}; "
        f"commits per command: {commits / commands:.1f}"
    )
    print("  top functions by own time:")
    stats.sort_stats("tottime").print_stats(12)


# --- main -----------------------------------------------------------------------------------


def bench(backend: str, args: argparse.Namespace) -> list[str]:
    writer_counts = [int(w) for w in args.writers.split(",")]
    text = ("Seen at home with her daughter; " * 40)[: args.text]
    lines = []
    with fresh_store(backend) as settings:
        # Keyed writers get clients of their own, as large as the plain writers' were.
        offset = max(writer_counts)
        owned = prepare(settings, offset * (2 if args.keyed else 1), args.clients)
        create_raw_table(settings)
        Floor(env=floor_env(settings, create_tables=True)).close()  # tables once, not racing
        for writers in writer_counts:
            app_rate = together(
                app_writer,
                writers,
                lambda n: (settings, n, owned[n], args.commands, args.seconds, text, False),
            )
            keyed = ""
            if args.keyed:
                keyed_rate = together(
                    app_writer,
                    writers,
                    lambda n: (
                        settings,
                        n + offset,
                        owned[n + offset],
                        args.commands,
                        args.seconds,
                        text,
                        True,
                    ),
                )
                keyed = f"  with an idempotency key {keyed_rate:6.0f}/s"
            size = stored_contribution_size(settings)
            note = "x" * max(1, size - 120)  # the floor's event stores about as many bytes
            floor_rate = together(
                floor_writer,
                writers,
                lambda n, note=note: (settings, n, args.clients, args.commands, args.seconds, note),
            )
            state = b"x" * size
            raw_rate = together(
                raw_writer,
                writers,
                lambda n, state=state: (settings, n, args.commands * 2, args.seconds, state),
            )
            line = (
                f"{backend:<8} writers={writers}  command path {app_rate:6.0f}/s{keyed}  "
                f"library floor {floor_rate:6.0f}/s  raw driver {raw_rate:6.0f}/s  "
                f"ratio to raw {app_rate / raw_rate:4.2f} (floor {floor_rate / raw_rate:4.2f})  "
                f"[{size} B/event]"
            )
            print(line, flush=True)
            lines.append(line)
        if args.profile:
            profile(settings, owned[0], args.profile, text)
    return lines


def copy_cost() -> list[str]:
    """What copying a client from the cache costs as its record grows (no store involved)."""
    from carerecord.client_record import ClientRecord
    from carerecord.ids import ClientId
    from carerecord.values import CareRelationship, Demographics, Labels
    from carerecord.vocab import LawfulBasis, Role, Sector, Sensitivity

    at = datetime(2026, 1, 1, tzinfo=UTC)
    actor = Viewer(
        kind=ViewerKind.PRACTITIONER,
        agency_id="gp-bench",
        sector=Sector.HEALTH,
        profession="gp",
        practitioner_id="gp-0",
        roles=frozenset({Role.PRACTITIONER}),
    )
    lines = []
    for entries in (10, 100, 1_000, 3_000):
        record = ClientRecord.register(
            client_id=ClientId(uuid.uuid4()),
            nhs_number=None,
            local_ids={"bench": "B1"},
            demographics=Demographics("Ann", "Bench", date(1950, 1, 1)),
            actor=actor,
            at=at,
        )
        record.start_care_relationship(
            CareRelationship("r1", "gp-0", None, "gp-bench", "gp", "Bench", "gp-0", at),
            actor=actor,
        )
        for _ in range(entries):
            labels = Labels(
                str(uuid.uuid4()),
                "gp-bench",
                Sector.HEALTH,
                "gp-0",
                "gp",
                "physical_health",
                "Plan",
                Sensitivity.NORMAL,
                LawfulBasis.CONSENT,
                at,
            )
            record.record_contribution(labels, "x", actor=actor, now=at)
        record.collect_events()
        as_is = timed(copy.deepcopy, record)
        # The same copy if immutable value objects were shared rather than copied.
        shared = {
            id(v): v
            for d in vars(record).values()
            if isinstance(d, dict)
            for v in d.values()
            if hasattr(type(v), "json_name")
        }
        sharing = timed(lambda r, memo: copy.deepcopy(r, dict(memo)), record, shared)
        lines.append(
            f"client with {entries:>5} entries: copy from cache {as_is:8.0f} us   "
            f"sharing immutable values {sharing:7.0f} us"
        )
    return lines


def timed(work: Callable[..., object], *args: object, repeat: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        work(*args)
    return (time.perf_counter() - started) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--commands", type=int, default=2000, help="per writer and run")
    parser.add_argument("--seconds", type=float, default=20.0, help="cap per run")
    parser.add_argument("--writers", default="1,4")
    parser.add_argument("--clients", type=int, default=25, help="clients per writer")
    parser.add_argument("--text", type=int, default=600, help="characters per contribution")
    parser.add_argument("--profile", type=int, default=400, help="commands to profile (0: none)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--keyed", action="store_true", help="also run the command path with idempotency keys"
    )
    args = parser.parse_args()
    if args.quick:
        args.commands, args.seconds, args.clients, args.profile = 200, 5.0, 5, 100
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"bench/append.py {' '.join(sys.argv[1:])}  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, load average {load})"
    )
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    summary = [line for backend in backends for line in bench(backend, args)]
    print("\nsummary:")
    print("\n".join(summary))
    print("\nthe cost of copying a client aggregate out of the cache, per command:")
    print("\n".join(copy_cost()))


if __name__ == "__main__":
    main()
