"""GraphQL over HTTP: POST only, one operation per request, audited before the response leaves.

The handler checks the request's shape (JSON object, no batch arrays) and its
``Idempotency-Key`` header (see ``api.graphql.idempotency``), then does all
blocking work in one worker thread: authenticate the bearer token against the
directory, execute (parse and validation are cached; limits apply before any
resolver runs), and write the request's access records. If they cannot be written
the caller gets ``AUDIT_UNAVAILABLE`` (503) and no data.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from api import errors as api_errors
from api.errors import (
    ApiError,
    body_for,
    graphql_code,
    graphql_status,
    headers_for,
    refusal_of,
    status_for,
)
from api.graphql.context import ApiContext
from api.graphql.hardening import HTTP
from api.graphql.ide import page_response
from api.graphql.idempotency import HEADER as IDEMPOTENCY_HEADER
from api.graphql.idempotency import key_from_headers
from api.graphql.schema import CareRecordSchema
from api.services import Services
from carerecord.errors import AuditUnavailable, CareRecordError, StoreUnavailable

JSON = "application/json"
HTTP_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


def error_response(exc: BaseException, *, headers: dict[str, str] | None = None) -> Response:
    """The coded error response for a refusal (a store failure that passes becomes
    ``STORE_UNAVAILABLE``; a 503 carries ``Retry-After``)."""
    status = status_for(exc)
    headers = {**(headers or {}), **headers_for(exc)}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return Response(orjson.dumps(body_for(exc)), status, headers=headers, media_type=JSON)


async def graphql_post(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        return error_response(
            ApiError(
                api_errors.UNSUPPORTED_MEDIA_TYPE,
                "Send the operation as application/json.",
            )
        )
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return error_response(ApiError(api_errors.BAD_REQUEST, "The body is not valid JSON."))
    if isinstance(data, list):
        return error_response(
            ApiError(
                api_errors.BATCH_NOT_SUPPORTED,
                "Send one operation per request (batches are not accepted).",
            )
        )
    try:
        query, variables, operation_name = _operation(data)
        key = key_from_headers(request.headers.getlist(IDEMPOTENCY_HEADER))
    except (ApiError, CareRecordError) as exc:
        return error_response(exc)
    services: Services = request.app.state.services
    schema: CareRecordSchema = request.app.state.schema
    return await run_in_threadpool(
        execute,
        services,
        schema,
        authorization=request.headers.get("authorization"),
        request_id=request.state.request_id,
        query=query,
        variables=variables,
        operation_name=operation_name,
        idempotency_key=key,
    )


def _operation(data: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    if not isinstance(data, dict):
        raise ApiError(api_errors.BAD_REQUEST, "The body must be a JSON object.")
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise ApiError(api_errors.BAD_REQUEST, "The body must have a `query` string.")
    if variables is not None and not isinstance(variables, dict):
        raise ApiError(api_errors.BAD_REQUEST, "`variables` must be an object.")
    if name is not None and not isinstance(name, str):
        raise ApiError(api_errors.BAD_REQUEST, "`operationName` must be a string.")
    return query, variables, name


def execute(
    services: Services,
    schema: CareRecordSchema,
    *,
    authorization: str | None,
    request_id: str,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    idempotency_key: str | None = None,
) -> Response:
    """Authenticate, execute and audit one operation (blocking: runs in a worker thread)."""
    metrics = services.metrics
    try:
        caller = services.authenticator.authenticate(authorization)
    except ApiError as exc:
        metrics.auth_failures.labels(str(exc.fields.get("reason", exc.code))).inc()
        return error_response(exc)
    except CareRecordError as exc:
        metrics.auth_failures.labels(exc.code.lower()).inc()
        return error_response(exc)
    except Exception as exc:  # the directory could not be read
        if refusal_of(exc) is None:
            raise
        return error_response(exc)
    context = ApiContext(
        services,
        transport=HTTP,
        request_id=request_id,
        caller=caller,
        idempotency_key=idempotency_key,
    )
    try:
        result = schema.execute_sync(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
            allowed_operation_types=HTTP_OPERATIONS,
        )
    except InvalidOperationTypeError:
        return error_response(
            ApiError(
                api_errors.OPERATION_NOT_ALLOWED,
                "Subscriptions go over the WebSocket (graphql-transport-ws).",
            )
        )
    except CannotGetOperationTypeError:
        return error_response(
            ApiError(api_errors.BAD_REQUEST, "Name the operation to run (`operationName`).")
        )
    errors = result.errors or []
    codes = [graphql_code(e) for e in errors]
    for code in codes:
        metrics.graphql_errors.labels(code).inc()
    if AuditUnavailable.code in codes:
        metrics.audit_failures.inc()
        return error_response(AuditUnavailable())
    if StoreUnavailable.code in codes:
        # Nothing is returned (so nothing needs auditing); a mutation may or may not
        # have been saved: the caller retries with the same idempotency key.
        return error_response(StoreUnavailable())
    try:
        records = context.trail.flush()
    except AuditUnavailable as exc:
        metrics.audit_failures.inc()
        return error_response(exc)
    for record in records:
        metrics.access_records.labels(record.action).inc()
    status = graphql_status(result.data, errors)
    # A request refused before execution has no `data` entry (GraphQL spec, 7.1.2).
    payload: dict[str, Any] = {} if status >= 400 else {"data": result.data}
    if context.key_refusal is not None:
        status = status_for(context.key_refusal)  # the key is the request's: 422 if reused
    if errors:
        payload["errors"] = [e.formatted for e in errors]
    return Response(orjson.dumps(payload), status, media_type=JSON)


def graphql_get(request: Request) -> Response:
    """GraphiQL in dev mode (served offline, see ``api.graphql.ide``); never queries via GET."""
    settings = request.app.state.api_settings
    if settings.graphiql and "text/html" in request.headers.get("accept", ""):
        return page_response()
    return error_response(
        ApiError(
            api_errors.METHOD_NOT_ALLOWED,
            "Operations are accepted via POST only.",
        ),
        headers={"Allow": "POST"},
    )
