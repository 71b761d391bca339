"""REST edges: health, readiness (with projection lag), Prometheus metrics.

Plain ``def`` routes: FastAPI runs them in its thread pool, so their blocking
database calls never hold up the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.services import Services


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    projection_lag: int | None = None


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def healthz() -> Health:
    """Liveness: the process is up and serving (no dependencies checked)."""
    return Health(status="ok")


def readyz(request: Request) -> JSONResponse:
    """Readiness: the stores answer, the audit writer runs, and the views are not far behind.

    503 when any check fails: a load balancer should send no traffic here.
    """
    services = _services(request)
    checks: dict[str, str] = {}
    for area in ("events", "views", "access"):
        try:
            with services.databases.area(area).snapshot() as tx:
                tx.fetchone("SELECT 1")
            checks[area] = "ok"
        except Exception as exc:
            checks[area] = f"unavailable ({type(exc).__name__})"
    checks["audit_writer"] = "ok" if services.access_writer_alive() else "stopped"
    lag = None
    try:
        lag = services.projection_lag()
    except Exception as exc:
        checks["projections"] = f"unavailable ({type(exc).__name__})"
    else:
        if lag is not None:
            checks["projections"] = (
                "ok" if lag <= services.api.ready_max_lag else f"behind by {lag} events"
            )
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks, projection_lag=lag)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    services = _services(request)

    def refresh() -> None:
        try:
            lag = services.projection_lag()
        except Exception:
            return
        if lag is not None:
            services.metrics.projection_lag.set(lag)

    return Response(services.metrics.render(refresh), media_type=services.metrics.content_type)


def rest_router() -> APIRouter:
    router = APIRouter()
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
