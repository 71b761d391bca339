"""Health, readiness (with projection lag), Prometheus metrics; unexpected failures masked."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import httpx
import pytest
from api_stack import Stack
from world import NURSE, record, register_client, wait_until

from projections.registry import VIEW_NAMES


def test_health_is_up_without_credentials(stack: Stack) -> None:
    response = httpx.get(f"{stack.server.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_reports_each_store_and_the_projection_lag(stack: Stack) -> None:
    stack.wait_for_views()
    response = httpx.get(f"{stack.server.url}/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "events": "ok",
        "views": "ok",
        "access": "ok",
        "audit_writer": "ok",
        "projections": "ok",
        "workers": "ok",
    }
    assert body["projection_lag"] == 0


def test_readiness_fails_when_the_views_fall_too_far_behind(stack: Stack) -> None:
    services = stack.server.services
    original = services.api
    services.api = replace(original, ready_max_lag=0)
    runner = services.runner
    assert runner is not None
    runner.stop()
    try:
        client = register_client(stack.app, NURSE)
        record(stack.app, client, NURSE, "Wound care", when=stack.clock())
        response = httpx.get(f"{stack.server.url}/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not_ready"
        assert body["projection_lag"] >= 1
        assert body["checks"]["projections"].startswith("behind by")
    finally:
        services.api = original
        runner.start()
        stack.wait_for_views()


@contextmanager
def runner_held_up(stack: Stack) -> Iterator[None]:
    """The in-process runner stuck on a real lock: on SQLite the views file's write lock,
    on PostgreSQL the projections' tracking rows, held by another transaction."""
    db = stack.server.services.databases.views
    with db.transaction() as tx:
        if db.dialect == "postgres":
            tx.execute("SELECT name FROM projection_tracking FOR UPDATE")
        else:
            tx.execute("UPDATE projection_tracking SET updated_at = updated_at")
        yield


def _readiness(stack: Stack) -> tuple[int, dict[str, str]]:
    response = httpx.get(f"{stack.server.url}/readyz", timeout=5)
    return response.status_code, response.json()["checks"]


def test_readiness_fails_within_the_heartbeat_window_when_the_runner_is_stuck_with_work_to_do(
    stack: Stack,
) -> None:
    services = stack.server.services
    original = services.api
    stack.wait_for_views()
    client = register_client(stack.app, NURSE)
    stack.wait_for_views()
    try:
        with runner_held_up(stack):
            assert _readiness(stack)[0] == 200, "no work to do yet: a quiet runner is fine"
            services.api = replace(original, ready_heartbeat_seconds=1.0)
            record(stack.app, client, NURSE, "Wound care", when=stack.clock())
            wait_until(
                lambda: _readiness(stack)[1]["workers"].startswith("stalled"),
                timeout=15,
                what="/readyz to notice the stuck runner",
            )
            status, checks = _readiness(stack)
            assert status == 503
            assert checks["projections"] == "ok", "one event behind: the lag check alone passes"
        wait_until(lambda: _readiness(stack)[0] == 200, timeout=30, what="readiness again")
    finally:
        services.api = original
    stack.wait_for_views()


def test_readiness_answers_within_its_budget_when_a_check_hangs(stack: Stack) -> None:
    if stack.settings.postgres is None:
        pytest.skip("hangs a check with a PostgreSQL table lock (SQLite readers never wait)")
    services = stack.server.services
    db = services.databases.views
    budget = services.api.ready_timeout_seconds
    before = _probe_threads()
    with db.transaction() as tx:
        tx.execute("LOCK TABLE projection_tracking IN ACCESS EXCLUSIVE MODE")
        for _ in range(5):
            started = time.monotonic()
            status, checks = _readiness(stack)
            took = time.monotonic() - started
            assert status == 503
            assert checks["projections"] == "timeout"
            assert checks["events"] == checks["views"] == checks["access"] == "ok"
            # Slack for a busy machine; a probe that waited for the lock would take 30 s.
            assert took < budget + 2.0, f"/readyz took {took:.2f} s (budget {budget} s)"
        assert _probe_threads() - before <= 1, "one blocked run per check, not one per probe"
    wait_until(lambda: _readiness(stack)[0] == 200, timeout=30, what="readiness again")


def _probe_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("readyz"))


def test_metrics_are_exposed_for_prometheus(stack: Stack) -> None:
    stack.post("{ me { kind } }", stack.token(NURSE))
    stack.post("{ me { kind } }", "bad")
    text = httpx.get(f"{stack.server.url}/metrics").text
    assert 'carerecord_http_requests_total{route="/graphql",status="200"}' in text
    assert 'carerecord_auth_failures_total{reason="malformed"}' in text
    assert "carerecord_projection_lag_events" in text
    assert "carerecord_http_request_seconds_bucket" in text
    for name in VIEW_NAMES:  # every view's failure state, healthy here
        assert f'carerecord_projection_failed{{projection="{name}"}} 0.0' in text
    assert NURSE.practitioner_id not in text, "no identities in metric labels"


def test_unexpected_failures_are_masked(stack: Stack) -> None:
    client = register_client(stack.app, NURSE)
    stack.wait_for_views()
    db = stack.server.services.databases.views
    with db.transaction() as tx:
        tx.execute("ALTER TABLE cl_clients RENAME TO cl_clients_away")
    try:
        response = stack.post("{ caseload { items { client { clientId } } } }", stack.token(NURSE))
    finally:
        with db.transaction() as tx:
            tx.execute("ALTER TABLE cl_clients_away RENAME TO cl_clients")
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_ERROR"}
    for leak in (
        "cl_clients",
        "table",
        "SELECT",
        "sqlite",
        "psycopg",
        "Traceback",
        client.client_id,
    ):
        assert leak not in response.text


def test_unknown_routes_get_a_coded_404(stack: Stack) -> None:
    response = httpx.get(f"{stack.server.url}/admin")
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
