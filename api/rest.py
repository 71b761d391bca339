"""REST edges: health, readiness (with projection lag), Prometheus metrics.

Plain ``def`` routes: FastAPI runs them in its thread pool, so their blocking
database calls never hold up the event loop. ``/readyz`` is the exception: it must
answer even when that pool is full of requests blocked on a hung database, so it
awaits its checks, which run in threads of their own (``api.readiness``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.errors import ApiError, refusal_of
from api.feed import item_json, open_position, page_records, read_page, seal_position
from api.governance_runtime import governance_failures
from api.graphql.http import error_response
from api.services import Services
from carerecord.db import AREAS
from carerecord.errors import CareRecordError, InvalidInput, NotPermitted
from carerecord.vocab import ViewerKind
from projections.engine.status import Readiness as ReadSide

FEED_PAGE = "feed.page"


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    projection_lag: int | None = None


class ErrorEntry(BaseModel):
    message: str
    extensions: dict[str, Any] = Field(description="`code` (stable) and safe `fields`.")


class ErrorBody(BaseModel):
    errors: list[ErrorEntry]


class FeedEntry(BaseModel):
    """An entry as the caller may see it (redacted fields are null)."""

    entry_id: str
    kind: str
    version: int
    agency_id: str
    sector: str
    author_id: str | None
    profession: str
    category: str
    heading: str | None
    sensitivity: str
    lawful_basis: str
    occurred_at: str
    recorded_at: str
    text: str
    amended: bool
    alert_kind: str | None
    severity: str | None
    resolved: bool
    basis: str
    rule: str


class FeedReferral(BaseModel):
    referral_id: str
    client_id: str
    from_agency: str
    to_agency: str
    category: str
    urgency: str
    status: str
    reason: str
    sent_by: str
    sent_at: str
    due_by: str
    acknowledged_at: str | None
    responded_at: str | None
    closed_at: str | None
    overdue: bool


class FeedNotice(BaseModel):
    """A break-glass access to the client by someone outside the care team (no reason)."""

    grant_id: str
    agency_id: str
    profession: str
    purpose: str
    granted_at: str
    expires_at: str


class FeedItemModel(BaseModel):
    event_id: str = Field(description="Stable id of the change: de-duplicate on it.")
    cursor: str = Field(description="Resume after this item by passing it as `after`.")
    kind: str = Field(
        description="entry_shared, entry_updated, entry_recalled (remove what you hold), "
        "alert_raised, alert_resolved, referral_sent, referral_acknowledged, "
        "referral_accepted, referral_declined, referral_closed, break_glass_granted"
    )
    client_id: str
    entry_id: str | None
    entry: FeedEntry | None
    referral: FeedReferral | None
    notice: FeedNotice | None = None


class FeedPageModel(BaseModel):
    items: list[FeedItemModel]
    next_cursor: str = Field(description="Pass as `after` to continue (also when empty).")
    has_more: bool = Field(description="More items are ready now: fetch again at once.")


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def healthz() -> Health:
    """Liveness: the process is up and serving (no dependencies checked)."""
    return Health(status="ok")


async def readyz(request: Request) -> JSONResponse:
    """Readiness: the stores answer, the audit writer runs, the views are not far behind
    and, while they are behind the log, a projection runner is live (its heartbeat).

    503 when any check fails: a load balancer should send no traffic here. Answers
    within ``CARERECORD_READY_TIMEOUT_SECONDS`` even if the database hangs (a check
    still running is reported as ``timeout``).
    """
    services = _services(request)
    outcomes = await services.readiness_probe.run()
    checks: dict[str, str] = {area: outcomes[area].describe() for area in AREAS}
    checks["audit_writer"] = "ok" if services.access_writer_alive() else "stopped"
    lag = None
    found = outcomes["projections"]
    if isinstance(found.value, ReadSide):
        readiness = found.value
        lag = readiness.max_lag
        if not readiness.ready:
            failed = sorted(p.name for p in readiness.projections if p.failed)
            checks["projections"] = "failed: " + ", ".join(failed)
        elif lag > services.api.ready_max_lag:
            checks["projections"] = f"behind by {lag} events"
        else:
            checks["projections"] = "ok"
        checks["workers"] = readiness.workers_state(services.api.ready_heartbeat_seconds)
    else:
        checks["projections"] = checks["workers"] = found.describe()
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks, projection_lag=lag)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    services = _services(request)

    def refresh() -> None:
        readiness = None
        with contextlib.suppress(Exception):  # store down: /readyz says so; keep last values
            readiness = services.reads.readiness()
        if readiness is not None:
            services.metrics.projection_lag.set(readiness.max_lag)
            for status in readiness.projections:
                services.metrics.projection_failed.labels(status.name).set(int(status.failed))
        for task, failed in governance_failures(services).items():
            services.metrics.governance_failed.labels(task).set(int(failed))

    return Response(services.metrics.render(refresh), media_type=services.metrics.content_type)


def feed(request: Request, after: str | None = None, limit: int | None = None) -> Response:
    """The changes your agency (or you) may see, after a cursor: a page, oldest first.

    Resumable after any downtime: keep the last `cursor` you processed and pass it
    as `after`. Delivery is at-least-once; de-duplicate on `event_id`. The same
    filtering as GraphQL subscriptions applies. Each page that returns client data
    is recorded in the access log before it is sent (503 `AUDIT_UNAVAILABLE` if it
    cannot be).
    """
    services = _services(request)
    try:
        caller = services.authenticator.authenticate(request.headers.get("authorization"))
    except (ApiError, CareRecordError) as exc:
        return error_response(exc)
    try:
        viewer = caller.viewer
        if viewer.kind is ViewerKind.CLIENT:
            raise NotPermitted(action="feed")
        cap = services.api.limits.max_page_size
        size = services.api.limits.default_page_size if limit is None else limit
        if not 1 <= size <= cap:
            raise InvalidInput(field="limit", reason="out_of_range", limit=cap)
        page = read_page(services, viewer, open_position(services, viewer, after), size)
        records = page_records(page, request_id=request.state.request_id, action=FEED_PAGE)
        services.access_writer.record_many(records)
    except (ApiError, CareRecordError) as exc:
        if exc.code == "AUDIT_UNAVAILABLE":
            services.metrics.audit_failures.inc()
        return error_response(exc)
    except Exception as exc:  # STORE_UNAVAILABLE if the store failed in a way that passes
        if refusal_of(exc) is None:
            raise
        return error_response(exc)
    for record in records:
        services.metrics.access_records.labels(record.action).inc()
    body = {
        "items": [
            item_json(
                item,
                seal_position(services, viewer, page.audience, item.seq),
                services.cursors.opaque_id(item.event_id),
            )
            for item in page.items
        ],
        "next_cursor": seal_position(services, viewer, page.audience, page.next_after),
        "has_more": page.has_more,
    }
    return Response(orjson.dumps(body), media_type="application/json")


def rest_router() -> APIRouter:
    router = APIRouter()
    refusals: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody} for code in (400, 401, 403, 503)
    }
    router.add_api_route(
        "/feed",
        feed,
        methods=["GET"],
        tags=["agency feed"],
        response_model=FeedPageModel,
        responses=refusals,
    )
    responses: dict[int | str, dict[str, Any]] = {503: {"model": Readiness}}
    router.add_api_route("/healthz", healthz, methods=["GET"], tags=["operations"])
    router.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        tags=["operations"],
        response_model=Readiness,
        responses=responses,
    )
    router.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    return router
