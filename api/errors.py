"""The one error mapping: stable codes, HTTP statuses and the GraphQL error shape.

Every refusal a caller can see carries a ``code`` from ``carerecord.errors`` (domain
refusals) or from ``ApiError`` below (what the HTTP edge refuses: tokens, limits,
cursors). Anything else is masked as ``INTERNAL_ERROR`` with no detail; it is
logged by type and request id only, never with values (they may be clinical).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError

from carerecord import errors as core

log = logging.getLogger("carerecord.api")

FieldValue = str | int | None


class ApiError(Exception):
    """A refusal made by the API edge itself, with a stable code."""

    def __init__(self, code: str, message: str, **fields: FieldValue) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields: dict[str, FieldValue] = dict(fields)


# --- codes the edge uses -----------------------------------------------------------------

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
BAD_REQUEST = "BAD_REQUEST"
BODY_TOO_LARGE = "BODY_TOO_LARGE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
BATCH_NOT_SUPPORTED = "BATCH_NOT_SUPPORTED"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
INVALID_CURSOR = "INVALID_CURSOR"
IDEMPOTENCY_KEY_AMBIGUOUS = "IDEMPOTENCY_KEY_AMBIGUOUS"
NOT_READY = "NOT_READY"
INTERNAL_ERROR = "INTERNAL_ERROR"

PRE_EXECUTION_CODES = frozenset(
    {
        GRAPHQL_PARSE_FAILED,
        GRAPHQL_VALIDATION_FAILED,
        QUERY_TOO_DEEP,
        TOO_MANY_ALIASES,
        TOO_MANY_TOKENS,
        INTROSPECTION_DISABLED,
        OPERATION_NOT_ALLOWED,
        IDEMPOTENCY_KEY_AMBIGUOUS,
    }
)

_STATUS: Mapping[str, int] = {
    UNAUTHENTICATED: 401,
    FORBIDDEN: 403,
    BAD_REQUEST: 400,
    BODY_TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    METHOD_NOT_ALLOWED: 405,
    BATCH_NOT_SUPPORTED: 400,
    INVALID_CURSOR: 400,
    NOT_READY: 503,
    INTERNAL_ERROR: 500,
    core.AuditUnavailable.code: 503,
    core.ProtocolNotAdopted.code: 503,
    "VIEWS_BEHIND": 503,
    core.PractitionerInactive.code: 403,
    core.IdentityMismatch.code: 403,
    core.IdempotencyKeyReused.code: 422,  # as the Idempotency-Key draft asks
    **dict.fromkeys(PRE_EXECUTION_CODES, 400),
}


def status_for(exc: BaseException) -> int:
    """The HTTP status for a refusal (REST routes and the GraphQL edge)."""
    if isinstance(exc, ApiError):
        return _STATUS.get(exc.code, 400)
    if isinstance(exc, core.CareRecordError):
        if exc.code in _STATUS:
            return _STATUS[exc.code]
        if isinstance(exc, core.InvalidInput):
            return 400
        if isinstance(exc, core.ConflictError):
            return 409
        if isinstance(exc, core.NotPermitted):
            return 403
        return 404  # the not-found family
    return 500


def code_of(exc: BaseException) -> str:
    if isinstance(exc, ApiError | core.CareRecordError):
        return exc.code
    return INTERNAL_ERROR


def body_for(exc: BaseException) -> dict[str, Any]:
    """The JSON error body used by REST routes and the GraphQL edge before execution."""
    return {"errors": [_entry(exc)]}


def _entry(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ApiError | core.CareRecordError):
        extensions: dict[str, Any] = {"code": exc.code}
        if exc.fields:
            extensions["fields"] = dict(exc.fields)
        return {"message": exc.message, "extensions": extensions}
    return {"message": "Unexpected error.", "extensions": {"code": INTERNAL_ERROR}}


# --- GraphQL ---------------------------------------------------------------------------


def coded_graphql_error(error: GraphQLError, *, request_id: str | None = None) -> GraphQLError:
    """The error as the caller sees it: coded, with its safe message; or masked."""
    original = error.original_error
    if isinstance(original, ApiError | core.CareRecordError):
        return _with(error, original.message, _entry(original)["extensions"])
    if original is None:
        if isinstance(error, GraphQLSyntaxError):
            code = TOO_MANY_TOKENS if "tokens" in error.message else GRAPHQL_PARSE_FAILED
            message = (
                "The query is longer than allowed."
                if code == TOO_MANY_TOKENS
                else "The query could not be parsed."
            )
            return _with(error, message, {"code": code})
        existing = error.extensions or {}
        if isinstance(existing.get("code"), str):
            return error  # our own validation rules set a code and a safe message
        # No suggestions: without introspection they would reveal the schema bit by bit.
        message = error.message.split(" Did you mean")[0].strip()
        return _with(error, message, {"code": GRAPHQL_VALIDATION_FAILED})
    log.error(
        "unexpected error in GraphQL execution: %s (request %s)",
        type(original).__name__,
        request_id or "-",
    )
    return _with(error, "Unexpected error.", {"code": INTERNAL_ERROR})


def _with(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=extensions,
    )


def graphql_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else INTERNAL_ERROR


# --- REST: the same shapes for FastAPI's own refusals ------------------------------------


def install_error_handlers(app: Any) -> None:
    """Map FastAPI/Starlette refusals and unexpected errors to the coded error body."""
    import orjson
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response

    def respond(exc: BaseException, status: int | None = None) -> Response:
        return Response(
            orjson.dumps(body_for(exc)),
            status or status_for(exc),
            media_type="application/json",
        )

    async def validation(_: Request, exc: Exception) -> Response:
        return respond(ApiError(BAD_REQUEST, "The request's parameters are not valid."))

    async def http(_: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        if status == 404:
            return respond(ApiError("NOT_FOUND", "No such route."), 404)
        if status == 405:
            return respond(ApiError(METHOD_NOT_ALLOWED, "Method not allowed here."), 405)
        return respond(ApiError(BAD_REQUEST, "The request could not be handled."), status)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "unexpected error on %s: %s (request %s)",
            request.url.path,
            type(exc).__name__,
            getattr(request.state, "request_id", "-"),
        )
        return respond(exc, 500)

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(Exception, unexpected)
