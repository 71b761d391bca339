"""Projection benchmark: rebuild throughput of every view and read latency from the repository.

    .venv/bin/python bench/projections.py [--backend sqlite|postgres|both]
        [--events 1000000] [--clients 10000] [--reads 2000] [--generate-only | --reads-only]

Dataset: ``bench/synthetic.py`` at the given size (default 10,000 clients, 1,000,000
events), generated once per backend and size and reused (SQLite: a copy under
``bench/results/cache/``; PostgreSQL: a schema named after the size, kept between runs).

In one run, on the same log:

1. Baseline - the raw batched loop: read the log in pages of 5,000 with
   ``select_notifications``, decode each event once, insert one narrow row per event
   with one ``executemany`` and the tracking position in one transaction per page
   (with the garbage collector paused per page, as the runner does).
   (The floor for any projection over this log: nothing decided, almost nothing written.)
2. Rebuild of all views as ``carerecord rebuild`` does it
   (``projections.rebuild.rebuild_in_workers``, ``--workers`` processes, default 2;
   ``--workers 1``: in this process): events/s, seconds and the CPU of every process.
   Target: the 1,000,000-event dataset in under 2 minutes.
3. Reads: ``ReadRepository.client_slice`` for clients with a typical number of entries
   (the median), by practitioners with a care relationship: p50 / p99 / max over
   ``--reads`` reads, every read including the read-time re-check against the latest
   state. Target: p99 under 5 ms. Baseline: the same clients' entry rows fetched with one
   plain SQL query each; the ratio of the two p50s is printed.

Results are printed and written to ``bench/results/projections-<backend>.json``.
PostgreSQL: ``CARERECORD_BENCH_POSTGRES_URL`` (default the local test database).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pg import bench_postgres  # noqa: E402
from bench.synthetic import Spec, generate  # noqa: E402
from carerecord.db import Database, Databases  # noqa: E402
from carerecord.migrate import migrate  # noqa: E402
from carerecord.runtime import open_care_record  # noqa: E402
from carerecord.settings import Settings  # noqa: E402
from carerecord.values import Viewer  # noqa: E402
from carerecord.vocab import Purpose, RelationshipKind, Role, ViewerKind  # noqa: E402
from projections.engine.runner import EventLogSource, collector_paused  # noqa: E402
from projections.engine.settings import ProjectionSettings  # noqa: E402
from projections.rebuild import rebuild, rebuild_in_workers  # noqa: E402
from projections.repository import ReadRepository  # noqa: E402

RESULTS = ROOT / "bench" / "results"
KEY = b"b" * 32
LATER = datetime(2031, 1, 1, tzinfo=UTC)


def clock() -> datetime:
    return LATER


def spec_for(events: int, clients: int) -> Spec:
    return Spec(
        events=events,
        clients=clients,
        active=300,
        agencies_per_kind=5,
        staff_per_agency=20,
        save_every=2000,
    )


def settings_for(backend: str, events: int, clients: int) -> Settings:
    name = f"{events}-{clients}"
    if backend == "sqlite":
        return Settings(data_dir=RESULTS / "work" / f"sqlite-{name}", identifier_key=KEY)
    base = bench_postgres()
    schema = f"bench_views_{name.replace('-', '_')}"
    with psycopg.connect(base.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    return Settings(
        data_dir=RESULTS / "work" / f"pg-{name}",
        identifier_key=KEY,
        postgres=base.__class__(
            base.host, base.port, base.dbname, base.user, base.password, schema
        ),
    )


def log_size(settings: Settings) -> int:
    try:
        app = open_care_record(settings, clock=clock)
    except Exception:
        return 0
    try:
        return int(app.recorder.max_notification_id() or 0)
    except Exception:
        return 0
    finally:
        app.close()


def prepare(backend: str, events: int, clients: int) -> Settings:
    """The dataset, generated once and reused (SQLite: cached copy of the event file)."""
    settings = settings_for(backend, events, clients)
    cache = RESULTS / "cache" / f"sqlite-{events}-{clients}"
    if backend == "sqlite" and (cache / "events.sqlite3").exists():
        if settings.data_dir.exists():
            shutil.rmtree(settings.data_dir)
        settings.data_dir.mkdir(parents=True)
        shutil.copy(cache / "events.sqlite3", settings.data_dir / "events.sqlite3")
        migrate(settings)  # the views and access areas, empty
        return settings
    migrate(settings)
    if log_size(settings) >= events:
        return settings
    app = open_care_record(settings, clock=clock)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"\r  generating {done:,}/{total:,} events", end="", file=sys.stderr, flush=True)

    report = generate(app, spec_for(events, clients), progress)
    app.close()
    print(
        f"\r  generated {report.events:,} events for {report.clients:,} clients "
        f"in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    if backend == "sqlite":
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copy(settings.data_dir / "events.sqlite3", cache / "events.sqlite3")
    return settings


def baseline(app: Any, views: Database, page: int = 5000) -> dict[str, float]:
    """The raw batched loop: read, decode once, one narrow row per event, one tx per page."""
    with views.transaction() as tx:
        tx.execute("DROP TABLE IF EXISTS bench_baseline")
        tx.execute("CREATE TABLE bench_baseline (position BIGINT PRIMARY KEY, topic TEXT)")
        tx.execute("DELETE FROM projection_tracking WHERE name = 'bench_baseline'")
    source = EventLogSource(app)
    started = time.perf_counter()
    after, count, reading = 0, 0, 0.0
    while True:
        with collector_paused():  # as the runner does: like for like
            t0 = time.perf_counter()
            items = source.read(after, page)
            reading += time.perf_counter() - t0
            if not items:
                break
            with views.transaction() as tx:
                tx.executemany(
                    "INSERT INTO bench_baseline (position, topic) VALUES (?, ?)",
                    [(e.position, e.topic) for e in items],
                )
                tx.execute(
                    "INSERT INTO projection_tracking (name, position) VALUES "
                    "('bench_baseline', ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    (items[-1].position,),
                )
        after = items[-1].position
        count += len(items)
    seconds = time.perf_counter() - started
    with views.transaction() as tx:
        tx.execute("DROP TABLE bench_baseline")
        tx.execute("DELETE FROM projection_tracking WHERE name = 'bench_baseline'")
    return {
        "events": count,
        "seconds": seconds,
        "events_per_second": count / seconds,
        "read_and_decode_seconds": reading,
        "read_and_decode_per_event_us": reading / count * 1e6,
    }


def typical_reads(app: Any, views: Database, reads: int, seed: int = 3) -> dict[str, Any]:
    """client_slice latency for median-sized clients, by practitioners caring for them."""
    repo = ReadRepository(app, views)
    with views.snapshot() as tx:
        sizes = tx.fetchall(
            "SELECT c.client_id, count(*) FROM av_entries e JOIN av_clients c "
            "ON c.client_no = e.client_no GROUP BY c.client_id"
        )
    sizes.sort(key=lambda r: int(r[1]))
    median = int(sizes[len(sizes) // 2][1])
    typical = [str(c) for c, n in sizes if abs(int(n) - median) <= max(2, median // 10)]
    rng = random.Random(seed)
    rng.shuffle(typical)
    pairs: list[tuple[Viewer, str]] = []
    now = clock()
    for client in typical[:200]:
        record = app.load_client(client)
        for rel in record.relationships.values():
            if rel.practitioner_id is None:
                continue
            person = app.practitioner(rel.practitioner_id)
            if not person.active:
                continue
            caller = app.resolve_actor(
                Viewer(
                    kind=ViewerKind.PRACTITIONER,
                    agency_id=person.agency_id,
                    profession=person.profession,
                    practitioner_id=person.practitioner_id,
                )
            )
            if record.standing_of(caller, now).kind is RelationshipKind.CARE:
                pairs.append((caller, client))
        if len(pairs) >= 60:
            break
    for caller, client in pairs:  # warm: the aggregate cache, prepared statements
        repo.client_slice(caller, client, Purpose.DIRECT_CARE)
    raw = raw_reads(views, [client for _, client in pairs], reads)
    timings, returned = [], []
    for i in range(reads):
        caller, client = pairs[i % len(pairs)]
        t0 = time.perf_counter()
        result = repo.client_slice(caller, client, Purpose.DIRECT_CARE)
        timings.append((time.perf_counter() - t0) * 1000)
        returned.append(len(result.entries))
    timings.sort()
    p50 = timings[len(timings) // 2]
    return {
        "raw_baseline": raw,
        "ratio_p50_vs_raw": p50 / raw["p50_ms"],
        "reads": reads,
        "clients": len({c for _, c in pairs}),
        "callers": len({c.practitioner_id for c, _ in pairs}),
        "median_entries_per_client": median,
        "mean_entries_returned": statistics.mean(returned),
        "p50_ms": p50,
        "p99_ms": timings[int(len(timings) * 0.99) - 1],
        "max_ms": timings[-1],
        "roles_of_callers": sorted(
            {r.value for c, _ in pairs for r in c.roles if r != Role.PRACTITIONER}
        ),
    }


def raw_reads(views: Database, clients: list[str], reads: int) -> dict[str, float]:
    """Baseline for a read: the same clients' entry rows fetched with one plain SQL query
    each (no caller, no standing, no policy re-check, no audience, no decoding)."""
    query = (
        "SELECT e.* FROM av_entries e JOIN av_clients c ON c.client_no = e.client_no "
        "WHERE c.client_id = ?"
    )
    for client in clients:  # warm
        with views.snapshot() as tx:
            tx.fetchall(query, (client,))
    timings = []
    for i in range(reads):
        t0 = time.perf_counter()
        with views.snapshot() as tx:
            tx.fetchall(query, (clients[i % len(clients)],))
        timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return {"p50_ms": timings[len(timings) // 2], "p99_ms": timings[int(len(timings) * 0.99) - 1]}


def reads_only(backend: str, events: int, clients: int, reads: int) -> None:
    """Measure the reads again over the views the last full run built (no rebuild)."""
    settings = settings_for(backend, events, clients)
    app = open_care_record(settings, clock=clock)
    databases = Databases(settings)
    try:
        with databases.views.snapshot() as tx:
            if not tx.scalar("SELECT count(*) FROM av_entries"):
                raise SystemExit("no views yet: run the full benchmark once first")
        latency = typical_reads(app, databases.views, reads)
    finally:
        databases.close()
        app.close()
    raw = latency["raw_baseline"]
    print(
        f"== {backend} reads over the existing views: client_slice p50 "
        f"{latency['p50_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms; raw fetch p50 "
        f"{raw['p50_ms']:.2f} ms, p99 {raw['p99_ms']:.2f} ms; ratio (p50) "
        f"{latency['ratio_p50_vs_raw']:.1f}x"
    )


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the rebuild workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(
    backend: str, events: int, clients: int, reads: int, generate_only: bool, workers: int
) -> dict[str, Any]:
    print(f"[{backend}] dataset: {events:,} events, {clients:,} clients", file=sys.stderr)
    settings = prepare(backend, events, clients)
    if generate_only:
        return {}
    app = open_care_record(settings, clock=clock)
    databases = Databases(settings)
    head = int(app.recorder.max_notification_id() or 0)
    try:
        print(f"[{backend}] baseline (raw batched loop) ...", file=sys.stderr)
        base = baseline(app, databases.views)
        print(f"[{backend}] rebuilding all views ({workers} workers) ...", file=sys.stderr)
        cpu = cpu_seconds()
        if workers > 1:
            report = rebuild_in_workers(settings, ProjectionSettings(), workers=workers)
        else:
            report = rebuild(app, databases.views, ProjectionSettings())
        cpu = cpu_seconds() - cpu
        with databases.views.snapshot() as tx:
            rows = {
                t: int(tx.scalar(f"SELECT count(*) FROM {t}"))
                for t in ("av_entries", "av_visible", "av_feed", "av_clients", "av_audiences",
                          "rf_referrals", "inv_involvements", "cc_concerns")
            }  # fmt: skip
            rows["av_feed items"] = int(
                tx.scalar("SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM av_feed")
            )
        print(f"[{backend}] reads ...", file=sys.stderr)
        latency = typical_reads(app, databases.views, reads)
    finally:
        databases.close()
        app.close()
    return {
        "backend": backend,
        "log_events": head,
        "clients": clients,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "baseline": base,
        "rebuild": {
            "events": report.events,
            "seconds": report.seconds,
            "events_per_second": report.events_per_second,
            "workers": workers,
            "worker_seconds": [
                {"views": list(group), "seconds": secs} for group, secs in report.workers
            ],
            "cpu_seconds_all_processes": cpu,
            "rows": rows,
            "target_seconds": 120,
        },
        "reads": latency,
    }


def show(result: dict[str, Any]) -> None:
    if not result:
        return
    b, r, q = result["baseline"], result["rebuild"], result["reads"]
    print(
        f"\n== {result['backend']}: {result['log_events']:,} events, {result['clients']:,} clients"
    )
    print(
        f"baseline (raw batched loop): {b['events_per_second']:>9,.0f} events/s "
        f"({b['seconds']:.1f} s; read+decode {b['read_and_decode_per_event_us']:.0f} us/event)"
    )
    print(
        f"rebuild, all views:          {r['events_per_second']:>9,.0f} events/s "
        f"({r['seconds']:.1f} s; target < {r['target_seconds']} s; "
        f"{r['workers']} workers, CPU of all processes {r['cpu_seconds_all_processes']:.1f} s)"
    )
    print(
        f"ratio: rebuild runs at {r['events_per_second'] / b['events_per_second']:.2f}x "
        "the raw loop's rate"
    )
    for worker in r["worker_seconds"]:
        print(f"  worker {', '.join(worker['views'])}: {worker['seconds']:.1f} s")
    print(f"rows: {r['rows']}")
    print(
        f"client_slice ({q['median_entries_per_client']} entries per client, "
        f"{q['mean_entries_returned']:.0f} returned): p50 {q['p50_ms']:.2f} ms, "
        f"p99 {q['p99_ms']:.2f} ms, max {q['max_ms']:.2f} ms over {q['reads']} reads "
        "(target p99 < 5 ms)"
    )
    raw = q["raw_baseline"]
    print(
        f"raw SQL fetch of the same clients' rows: p50 {raw['p50_ms']:.2f} ms, "
        f"p99 {raw['p99_ms']:.2f} ms; ratio client_slice/raw p50 {q['ratio_p50_vs_raw']:.1f}x"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=2, help="rebuild worker processes (1: in this process)"
    )
    parser.add_argument(
        "--reads-only", action="store_true", help="only the reads, over the last run's views"
    )
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.reads_only:
        for backend in backends:
            reads_only(backend, args.events, args.clients, args.reads)
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    for backend in backends:
        result = run(
            backend, args.events, args.clients, args.reads, args.generate_only, args.workers
        )
        show(result)
        if result:
            path = RESULTS / f"projections-{backend}-{args.events}.json"
            path.write_text(json.dumps(result, indent=2, default=str))
            print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
