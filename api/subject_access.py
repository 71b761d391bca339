"""REST routes of the person's own view: ``GET /subject-access/export.json`` and
``GET /subject-access/export.html`` - their whole record and who has looked at it, as one
JSON document or a printable page (client token; see ``api.own_view``). Each export is
written to the access log before it is sent.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from api.errors import ApiError, refusal_of
from api.graphql.http import error_response
from api.own_view import export_document, render_html
from api.services import Services
from carerecord.audit.plain import local_zone
from carerecord.errors import CareRecordError

# --- REST routes ----------------------------------------------------------------------------------


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _export(request: Request) -> tuple[Services, dict[str, Any]] | Response:
    services = _services(request)
    try:
        caller = services.authenticator.authenticate(request.headers.get("authorization"))
        document, records = export_document(
            services, caller.viewer, request_id=request.state.request_id, zone=local_zone()
        )
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
    return services, document


def export_json(request: Request) -> Response:
    """Your whole record and who has looked at it, as one JSON document (client token).

    Written to the access log before it is sent (503 `AUDIT_UNAVAILABLE` otherwise).
    """
    found = _export(request)
    if isinstance(found, Response):
        return found
    _, document = found
    return Response(
        orjson.dumps(document, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={
            "Content-Disposition": "attachment; filename=my-care-record.json",
            "Cache-Control": "no-store",
        },
    )


def export_html(request: Request) -> Response:
    """The same as a printable page (client token)."""
    found = _export(request)
    if isinstance(found, Response):
        return found
    _, document = found
    return Response(
        render_html(document, local_zone()),
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


def subject_access_router() -> APIRouter:
    router = APIRouter(tags=["subject access"])
    responses: dict[int | str, dict[str, Any]] = {code: {} for code in (401, 403, 503)}
    router.add_api_route(
        "/subject-access/export.json", export_json, methods=["GET"], responses=responses
    )
    router.add_api_route(
        "/subject-access/export.html", export_html, methods=["GET"], responses=responses
    )
    return router
