"""The fault suite: the API and a projection worker, as real processes, under a small load,
while their PostgreSQL (a private cluster) is restarted, stopped, crashed and frozen, and
while the worker itself is frozen.

Writers send each write with an ``Idempotency-Key`` and, when it is refused with
``STORE_UNAVAILABLE`` (the write may or may not have been saved), send the same request
again after ``Retry-After``, as clients should. After each fault: every acknowledged write -
retried ones included - is stored exactly once, and a write refused and not retried (one
sent without a key while the server is down) at most once; no caller got anything but an
answer or a coded, retryable 503; the views catch up with the same worker process (nobody
restarts anything); ``/readyz`` reported the outage within the heartbeat window, always
within its budget, and recovers; the subscription never ended; ``carerecord audit
verify`` passes.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fault_service import (
    HEARTBEAT_WINDOW,
    PASSING,
    READ,
    READY_BUDGET,
    RECORD,
    SUBSCRIBER,
    WRITERS,
    Load,
    Observation,
    Service,
    Write,
    poll_readiness,
)
from pg_cluster import PgCluster
from waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
FREEZE_SECONDS = 10.0
SLACK = 3.0
"""How much later than its budget ``/readyz`` may answer on a busy two-core machine (shared
with other test runs: load averages of 10 were seen). A probe that hung on the database
would take the whole freeze (10 s) or outage."""
RECOVERY = 60.0
FAULTS = ("restart", "outage", "crash", "freeze", "worker_frozen")


@pytest.fixture
def service(healthy: PgCluster, tmp_path: Path) -> Iterator[Service]:
    made = Service(healthy, tmp_path)
    try:
        made.start()
        yield made
    finally:
        made.stop()


def test_nothing_acknowledged_is_lost_and_everything_resumes_by_itself(
    healthy: PgCluster, service: Service
) -> None:
    assert service.server is not None
    assert service.worker is not None
    processes = (service.server.pid, service.worker.pid)
    load = Load(service).start()
    try:
        _wait_for_writes(load, 3 * len(WRITERS), "the first writes")
        for fault in FAULTS:
            seen = _inflict(service, healthy, load, fault)
            _check_answers_in_budget(fault, seen)
            _recover_and_check(service, load, fault)
            assert (service.server.pid, service.worker.pid) == processes
        mine = {w.entry_id for w in load.acknowledged() if w.body["id"] in _subscribed(service)}
        wait_until(
            lambda: mine <= load.delivered,
            timeout=RECOVERY,
            what="the subscription to deliver every acknowledged entry",
        )
        assert load.subscription_ended is None
    finally:
        load.stop()
    status = service.cli("views-status", COLUMNS="300")
    assert status.returncode == 0, status.stdout
    assert f":{service.worker.pid}:views:" in status.stdout, "the worker's heartbeat is listed"
    assert load.subscription_ended is None, f"the subscription ended: {load.subscription_ended}"
    assert not load.unexpected, load.unexpected[:10]
    assert load.reads.get("ok", 0) > 0
    retried = [w for w in load.acknowledged() if w.attempts > 1]
    assert retried, "some writes were refused as unavailable and acknowledged on a retry"
    for name in ("server", "worker"):
        assert "Traceback" not in service.log(name), service.log(name)[-3000:]
    codes = service.stop()
    assert codes["worker"] == 0, service.log("worker")[-3000:]


def _subscribed(service: Service) -> set[str]:
    return set(service.clients[SUBSCRIBER])


def _wait_for_writes(load: Load, count: int, what: str) -> None:
    target = len(load.acknowledged()) + count
    wait_until(lambda: len(load.acknowledged()) >= target, timeout=RECOVERY, what=what)


def _inflict(service: Service, cluster: PgCluster, load: Load, fault: str) -> list[Observation]:
    """Do ``fault``; returns the ``/readyz`` answers observed during it."""
    if fault == "restart":  # pg_ctl restart -m fast: the pools ride it out
        cluster.restart("fast")
        return list(poll_readiness(service, time.monotonic() + 1.0))
    if fault in ("outage", "crash"):
        cluster.stop("fast" if fault == "outage" else "immediate")
        seen = _until_not_ready(service, fault, lambda o: o.checks["events"] != "ok")
        _refused_while_down(service, load)
        cluster.start()
        return seen
    if fault == "freeze":
        cluster.freeze()
        frozen_at = time.monotonic()
        try:
            seen = _until_not_ready(service, fault, lambda o: "timeout" in o.checks.values())
            # Keep probing for the rest of the freeze: every answer within the budget, and
            # no pile-up of probes (they would answer later and later).
            seen += list(poll_readiness(service, frozen_at + FREEZE_SECONDS))
        finally:
            cluster.thaw()
        return seen
    assert service.worker is not None
    os.kill(service.worker.pid, signal.SIGSTOP)  # the worker hangs; the database is fine
    try:
        return _until_not_ready(service, fault, lambda o: o.checks["workers"].startswith("stalled"))
    finally:
        os.kill(service.worker.pid, signal.SIGCONT)


def _until_not_ready(service: Service, fault: str, why: object) -> list[Observation]:
    """Probe ``/readyz`` until it reports the fault (``why``) or the heartbeat window ends."""
    assert callable(why)
    seen: list[Observation] = []
    deadline = time.monotonic() + HEARTBEAT_WINDOW + SLACK + 1.0
    for observation in poll_readiness(service, deadline):
        seen.append(observation)
        if observation.status == 503 and why(observation):
            return seen
    raise AssertionError(f"/readyz did not report the {fault} in time: {seen[-3:]}")


def _refused_while_down(service: Service, load: Load) -> None:
    """A write and a read while the server is down: coded, retryable, nothing stored."""
    key, heading = WRITERS[0]
    token = service.tokens[key]
    text = f"fault-load down {time.monotonic_ns()}"
    body = {"id": service.clients[key][0], "heading": heading, "text": text, "at": _past()}
    response = service.post(token, RECORD, body)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["STORE_UNAVAILABLE"]
    with load._lock:  # counted with the load: it must never appear twice
        load.writes.append(Write(text, body, outcome="unavailable"))
    read = service.post(token, READ, {"id": service.clients[key][0]})
    assert read.status_code == 503, read.text
    assert read.headers["retry-after"]
    assert next(e["extensions"]["code"] for e in read.json()["errors"]) in PASSING


def _past() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


def _check_answers_in_budget(fault: str, seen: list[Observation]) -> None:
    slow = [o for o in seen if o.seconds > READY_BUDGET + SLACK]
    assert not slow, f"/readyz over its budget during the {fault}: {slow[:3]}"


def _recover_and_check(service: Service, load: Load, fault: str) -> None:
    wait_until(service.ready, timeout=RECOVERY, what=f"readiness after the {fault}", every=0.2)
    _wait_for_writes(load, 2 * len(WRITERS), f"writes to succeed again after the {fault}")
    head = service.head()
    wait_until(
        lambda: service.views_at() >= head,
        timeout=RECOVERY,
        what=f"the views to catch up after the {fault} (same worker)",
    )
    with load.paused():
        with load._lock:  # what callers were told so far (before the log is read)
            told = [(w.text, w.outcome, w.entry_id) for w in load.writes]
        stored = service.stored_entries()
        for text, outcome, entry_id in told:
            found = stored.get(text, [])
            if outcome == "acknowledged":
                assert found == [entry_id], f"an acknowledged write was stored {len(found)} times"
            elif outcome == "unavailable":
                assert len(found) <= 1, "a write refused as unavailable was stored twice"
        assert not load.unexpected, f"after the {fault}: {load.unexpected[:10]}"
        verified = service.cli("audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
