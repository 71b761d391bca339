"""Soak: a mixed load for a long time, watching the processes' memory.

    .venv/bin/python bench/soak.py [--minutes 30] [--writers 5] [--readers 20]
        [--subscribers 2] [--sqlite] [--tracemalloc DIR]

Starts its own store - a PostgreSQL database of its own on 127.0.0.1:5432
(``CARERECORD_BENCH_POSTGRES_URL``'s server; created and dropped by the script), or a
SQLite store in a temporary folder with ``--sqlite`` - migrates it, loads the demo
partnership (5 scenario clients + 60 generated: ~65 clients) and runs the API
(``carerecord serve``, dev mode) and a projection worker (``carerecord project``) as
subprocesses. Then, in threads of this process: ``--writers`` practitioners recording
entries for clients on their caseload, ``--readers`` practitioners reading those clients'
records and their caseloads, and ``--subscribers`` following ``recordEvents``. Each
loop paces itself (``--pause`` seconds between requests) so the load stays bounded on
a shared machine: throughput is not the point, memory is.

Every minute it prints the API's and the worker's RSS (``VmRSS`` from
``/proc/PID/status``, sampled every 5 s, the minute's last sample shown), writes/s,
reads/s, p50/p99 latency of all requests and errors. At the end: the least-squares
slope of each process's RSS over the last 20 minutes (or, in a run shorter than 30
minutes, over the last ``minutes - 10`` or the second half), in MB/min, with the
Theil-Sen slope beside it (robust to a short spike), and a verdict: *flat* when the
fitted growth over that window is under 2% of the mean RSS or the slope is within two
standard errors of zero.

``--tracemalloc DIR`` (diagnosis only; slows everything down): both processes trace
allocations (a ``sitecustomize`` on their path) and write a snapshot to DIR on SIGUSR2;
the script sends it after the first minute and at the end, and prints the 25 biggest
growths between the two per process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.settings import ApiSettings  # noqa: E402
from api.tokens import TokenIssuer  # noqa: E402
from bench.pg import PG_URL  # noqa: E402
from carerecord.demo import DIRECTORY  # noqa: E402
from carerecord.runtime import open_care_record  # noqa: E402
from carerecord.settings import Settings  # noqa: E402

CLI = str(Path(sys.executable).with_name("carerecord"))
RECORD = """mutation($id: ID!, $heading: String!, $text: String!, $at: DateTime!) {
  recordContribution(clientId: $id, input: {heading: $heading, text: $text, occurredAt: $at}) {
    __typename ... on Accepted { id } ... on Refused { code }
  }
}"""
READ = """query($id: ID!) { client(id: $id) {
  clientId
  entries(first: 20) { items { entryId kind version agency profession category heading
                               sensitivity occurredAt text amended sharedUnder { basis rule } }
                       pageInfo { hasNextPage } }
} }"""
CASELOAD = "{ caseload(first: 50) { items { client { clientId } } } }"
EVENTS = "subscription { recordEvents { kind clientId entryId } }"
TEXT = "Seen at home; dressing changed, healing well, carer present. Plan reviewed. "
SAMPLE_SECONDS = 5.0
SLOPE_MINUTES = 20
SITECUSTOMIZE = """
import os, signal, tracemalloc
tracemalloc.start(int(os.environ.get("SOAK_TRACEMALLOC_FRAMES", "1")))
_dir = os.environ["SOAK_TRACEMALLOC_DIR"]
_count = [0]
def _dump(signum, frame):
    _count[0] += 1
    tracemalloc.take_snapshot().dump(f"{_dir}/{os.getpid()}-{_count[0]}.snap")
signal.signal(signal.SIGUSR2, _dump)
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """The process's resident set (``VmRSS``) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def slope(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of ``(minute, MB)`` points and its standard error (MB/min)."""
    n = len(points)
    if n < 3:
        return 0.0, float("inf")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0, float("inf")
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    a = my - b * mx
    residual = sum((y - a - b * x) ** 2 for x, y in points)
    return b, (residual / (n - 2) / sxx) ** 0.5


def theil_sen(points: list[tuple[float, float]], most: int = 400) -> float:
    """The median of the pairwise slopes (of at most ``most`` evenly spaced points): a
    slope a short spike (a checkpoint's pages, say) does not tilt as it tilts a fit."""
    step = max(1, len(points) // most)
    chosen = points[::step]
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(chosen)
        for x2, y2 in chosen[i + 1 :]
        if x2 > x1
    ]
    return statistics.median(slopes) if slopes else 0.0


# --- the store and the processes ---------------------------------------------------------


class Store:
    """A database (or SQLite folder) of the soak's own, migrated and loaded with the demo."""

    def __init__(self, root: Path, *, use_sqlite: bool) -> None:
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CARERECORD_")}
        self.env.update(CARERECORD_DATA_DIR=str(root / "data"), CARERECORD_ENV="dev")
        self.database: str | None = None
        if not use_sqlite:
            self.database = f"carerecord_soak_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(self._admin_url(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
            base = PG_URL.rsplit("/", 1)[0]
            self.env["CARERECORD_DATABASE_URL"] = f"{base}/{self.database}"

    @staticmethod
    def _admin_url() -> str:
        return PG_URL.rsplit("/", 1)[0] + "/postgres"

    def cli(self, *args: str) -> None:
        done = subprocess.run([CLI, *args], env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"carerecord {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def drop(self) -> None:
        if self.database is None:
            return
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.database)
                )
            )


def spawn(store: Store, name: str, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (store.root / f"{name}.log").open("wb")
    return subprocess.Popen(
        [CLI, *args], env={**store.env, **env}, stdout=log, stderr=subprocess.STDOUT
    )


# --- the load ----------------------------------------------------------------------------


@dataclass
class Tally:
    """What happened since the last report (swapped out each minute)."""

    writes: int = 0
    reads: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


@dataclass
class Load:
    url: str
    pause: float
    tokens: dict[str, str]
    clients: dict[str, list[str]]
    headings: dict[str, list[str]]
    tally: Tally = field(default_factory=Tally)
    delivered: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> Tally:
        with self.lock:
            tally, self.tally = self.tally, Tally()
        return tally

    def _error(self, what: str) -> None:
        with self.lock:
            self.tally.errors[what] = self.tally.errors.get(what, 0) + 1

    def _post(self, http: httpx.Client, token: str, query: str, variables: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            response = http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
                if query is RECORD
                else {"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            self._error(type(exc).__name__)
            return None
        with self.lock:
            self.tally.latencies.append(time.perf_counter() - started)
        body = response.json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
        if response.status_code != 200 or codes:
            self._error(f"{response.status_code} {','.join(map(str, codes))}")
            return None
        return body["data"]

    def writer(self, key: str, index: int) -> None:
        token, clients, headings = self.tokens[key], self.clients[key], self.headings[key]
        number = 0
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while not self.stop.wait(self.pause):
                number += 1
                at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
                variables = {
                    "id": clients[(index + number) % len(clients)],
                    "heading": headings[number % len(headings)],
                    "text": f"{TEXT}({key} {number})",
                    "at": at,
                }
                data = self._post(http, token, RECORD, variables)
                if data is None:
                    continue
                outcome = data["recordContribution"]
                if outcome["__typename"] != "Accepted":
                    self._error(f"refused {outcome.get('code')}")
                    continue
                with self.lock:
                    self.tally.writes += 1

    def reader(self, key: str, index: int) -> None:
        token, clients = self.tokens[key], self.clients[key]
        number = index
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while not self.stop.wait(self.pause):
                number += 1
                if number % 10 == 0:
                    data = self._post(http, token, CASELOAD, {})
                else:
                    data = self._post(http, token, READ, {"id": clients[number % len(clients)]})
                if data is not None:
                    with self.lock:
                        self.tally.reads += 1

    def subscriber(self, key: str) -> None:
        from gql import Client
        from gql.graphql_request import GraphQLRequest
        from gql.transport.websockets import WebsocketsTransport

        async def follow() -> None:
            transport = WebsocketsTransport(
                url=self.url.replace("http://", "ws://") + "/graphql",
                init_payload={"Authorization": f"Bearer {self.tokens[key]}"},
            )
            async with Client(transport=transport) as session:

                async def consume() -> None:
                    async for _ in session.subscribe(GraphQLRequest(EVENTS)):
                        with self.lock:
                            self.delivered += 1

                task = asyncio.create_task(consume())
                while not self.stop.is_set() and not task.done():
                    await asyncio.sleep(0.5)  # checking for the end of the run
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

        while not self.stop.is_set():
            try:
                asyncio.run(follow())
            except Exception as exc:  # a dropped subscription is counted and reopened
                self._error(f"subscription {type(exc).__name__}")
                self.stop.wait(1.0)


def practitioners(store: Store, api: ApiSettings, url: str) -> Load:
    """Tokens for every demo practitioner with a caseload, their clients and headings."""
    settings = Settings.from_env(store.env)
    issuer = TokenIssuer(api)
    app = open_care_record(settings)
    tokens: dict[str, str] = {}
    headings: dict[str, list[str]] = {}
    try:
        protocol = app.protocol()
        for key, person in DIRECTORY.items():
            pid = person.practitioner_id
            tokens[key] = issuer.for_practitioner(app, pid, ttl=timedelta(hours=11))
            definition = protocol.professions.get(person.profession)
            headings[key] = sorted(definition.headings) if definition else []
    finally:
        app.close()
    clients: dict[str, list[str]] = {}
    with httpx.Client(base_url=url, timeout=60) as http:
        for key, token in tokens.items():
            response = http.post(
                "/graphql",
                json={"query": CASELOAD},
                headers={"Authorization": f"Bearer {token}"},
            )
            items = (response.json().get("data") or {}).get("caseload") or {"items": []}
            found = [i["client"]["clientId"] for i in items["items"]]
            if found:
                clients[key] = found
    return Load(url, 0.0, tokens, clients, headings)


# --- the run -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def snapshot_all(processes: dict[str, subprocess.Popen[bytes]], folder: Path, n: int) -> None:
    for process in processes.values():
        os.kill(process.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 300
    for process in processes.values():
        path = folder / f"{process.pid}-{n}.snap"
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(1.0)  # the process writes its snapshot at its next bytecode boundary
    time.sleep(5.0)  # let the dump finish


def diff_snapshots(processes: dict[str, subprocess.Popen[bytes]], folder: Path) -> None:
    import tracemalloc

    for name, process in processes.items():
        first = tracemalloc.Snapshot.load(str(folder / f"{process.pid}-1.snap"))
        last = tracemalloc.Snapshot.load(str(folder / f"{process.pid}-2.snap"))
        print(f"\n--- {name}: biggest growths (tracemalloc) ---")
        for stat in last.compare_to(first, "traceback")[:25]:
            print(f"{stat.size_diff / 1e6:+8.2f} MB {stat.count_diff:+8d}  {stat.traceback}")


def run(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="carerecord-soak-"))
    store = Store(root, use_sqlite=args.sqlite)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    threads: list[threading.Thread] = []
    load: Load | None = None
    try:
        started_at = time.monotonic()
        store.cli("migrate")
        store.cli("demo")
        print(f"store ready ({'SQLite' if args.sqlite else store.database}) in "
              f"{time.monotonic() - started_at:.0f} s; logs in {root}", flush=True)  # fmt: skip
        extra: dict[str, str] = {}
        if args.tracemalloc:
            folder = Path(args.tracemalloc).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            site = root / "site"
            site.mkdir()
            (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
            extra = {"PYTHONPATH": str(site), "SOAK_TRACEMALLOC_DIR": str(folder)}
        port = _port()
        url = f"http://127.0.0.1:{port}"
        processes["worker"] = spawn(store, "worker", "project", env=extra)
        processes["api"] = spawn(store, "api", "serve", "--port", str(port), env=extra)
        deadline = time.monotonic() + 300
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited: see {root}/{name}.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the API was not ready within 5 minutes")
            time.sleep(0.5)  # polling readiness at start-up
        api = ApiSettings.from_env(store.env).resolved(Settings.from_env(store.env).data_dir)
        load = practitioners(store, api, url)
        load.pause = args.pause
        keys = sorted(load.clients)
        writers = [k for k in keys if load.headings[k]]
        print(f"{len(keys)} practitioners with clients, "
              f"{len({c for cs in load.clients.values() for c in cs})} clients; "
              f"{args.writers} writers, {args.readers} readers, {args.subscribers} subscribers",
              flush=True)  # fmt: skip
        targets: list[tuple[Any, tuple[Any, ...]]] = []
        targets += [(load.writer, (writers[i % len(writers)], i)) for i in range(args.writers)]
        targets += [(load.reader, (keys[i % len(keys)], i)) for i in range(args.readers)]
        targets += [(load.subscriber, (keys[i % len(keys)],)) for i in range(args.subscribers)]
        for target, targs in targets:
            thread = threading.Thread(target=target, args=targs, daemon=True)
            thread.start()
            threads.append(thread)

        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in processes}
        begin = time.monotonic()
        print("min  api MB  worker MB  writes/s  reads/s  p50 ms  p99 ms  errors", flush=True)
        for minute in range(1, args.minutes + 1):
            end = begin + minute * 60
            while (now := time.monotonic()) < end:
                for name, process in processes.items():
                    if process.poll() is not None:
                        raise SystemExit(f"{name} exited: see {root}/{name}.log")
                    samples[name].append(((now - begin) / 60, rss_mb(process.pid)))
                load.stop.wait(min(SAMPLE_SECONDS, max(end - now, 0.01)))
            tally = load.take()
            errors = ", ".join(f"{k}: {v}" for k, v in sorted(tally.errors.items())) or "0"
            print(f"{minute:3d}  {samples['api'][-1][1]:6.0f}  {samples['worker'][-1][1]:9.0f}"
                  f"  {tally.writes / 60:8.1f}  {tally.reads / 60:7.1f}"
                  f"  {percentile(tally.latencies, 0.5) * 1000:6.0f}"
                  f"  {percentile(tally.latencies, 0.99) * 1000:6.0f}  {errors}",
                  flush=True)  # fmt: skip
            if args.tracemalloc and minute == 1:
                snapshot_all(processes, Path(args.tracemalloc).resolve(), 1)
        load.stop.set()
        if args.tracemalloc:
            snapshot_all(processes, Path(args.tracemalloc).resolve(), 2)
            diff_snapshots(processes, Path(args.tracemalloc).resolve())

        # The last 20 minutes of a run of 30 or more; the second half of a shorter one.
        window = float(min(SLOPE_MINUTES, max(args.minutes - 10, args.minutes / 2)))
        if args.samples:
            with open(args.samples, "w", encoding="utf-8") as out:
                out.write("process,minute,rss_mb\n")
                for name, points in samples.items():
                    out.writelines(f"{name},{x:.3f},{y:.1f}\n" for x, y in points)
        print(f"\nRSS slope over the last {window:g} minutes (least squares, "
              f"{SAMPLE_SECONDS:g} s samples); "
              f"{load.delivered} events delivered to subscribers")  # fmt: skip
        verdicts = []
        for name, points in samples.items():
            tail = [p for p in points if p[0] >= args.minutes - window]
            b, se = slope(tail)
            mean = statistics.fmean(y for _, y in tail) if tail else 0.0
            growth = b * window
            robust = theil_sen(tail)
            flat = abs(growth) < 0.02 * mean or abs(b) <= 2 * se
            verdicts.append(flat)
            print(f"  {name:6s} {b:+.2f} MB/min (se {se:.2f}), {tail[0][1]:.0f} -> "
                  f"{tail[-1][1]:.0f} MB, fitted growth {growth:+.1f} MB over {window:g} min "
                  f"({growth / mean * 100:+.1f}% of mean {mean:.0f} MB; Theil-Sen "
                  f"{robust:+.2f} MB/min): "
                  f"{'flat' if flat else 'GROWING'}")  # fmt: skip
        print("verdict: " + ("flat within noise" if all(verdicts) else "memory still growing"))
        return 0 if all(verdicts) else 1
    finally:
        if load is not None:
            load.stop.set()
        for thread in threads:
            thread.join(30)
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)
        store.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--subscribers", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between requests")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite store, not PostgreSQL")
    parser.add_argument("--tracemalloc", metavar="DIR", help="diagnosis: snapshots into DIR")
    parser.add_argument("--samples", metavar="CSV", help="write every RSS sample to CSV")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
