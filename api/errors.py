"""The one error mapping: stable codes, HTTP statuses and the GraphQL error shape.

Every refusal a caller can see carries a ``code`` from ``carerecord.errors`` (domain
refusals) or from ``ApiError`` below (what the HTTP edge refuses: tokens, limits,
cursors). A store failure that passes (``carerecord.transient.is_transient``: the
connection lost, the server restarting, the disk full...) is ``STORE_UNAVAILABLE``
(503). Anything else is masked as ``INTERNAL_ERROR`` with no detail; it is logged by
type and request id only, never with values (they may be clinical). Every 503 carries
``Retry-After``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError, ValueNode, VariableDefinitionNode

from carerecord import errors as core
from carerecord.transient import is_transient

log = logging.getLogger("carerecord.api")

FieldValue = str | int | None
RETRY_AFTER_SECONDS = 2
"""The ``Retry-After`` of every 503: the refusals that pass by themselves."""


class ApiError(Exception):
    """A refusal made by the API edge itself, with a stable code."""

    def __init__(self, code: str, message: str, **fields: FieldValue) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields: dict[str, FieldValue] = dict(fields)


# --- codes the edge uses -----------------------------------------------------------------

UNAUTHENTICATED = "UNAUTHENTICATED"
NOT_FOUND = "NOT_FOUND"
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
OPERATION_NAME_REQUIRED = "OPERATION_NAME_REQUIRED"
INVALID_CURSOR = "INVALID_CURSOR"
IDEMPOTENCY_KEY_AMBIGUOUS = "IDEMPOTENCY_KEY_AMBIGUOUS"
INVALID_VARIABLE = "INVALID_VARIABLE"
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
        OPERATION_NAME_REQUIRED,
        INVALID_VARIABLE,
    }
)

_STATUS: Mapping[str, int] = {
    UNAUTHENTICATED: 401,
    NOT_FOUND: 404,
    BAD_REQUEST: 400,
    BODY_TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    METHOD_NOT_ALLOWED: 405,
    BATCH_NOT_SUPPORTED: 400,
    INVALID_CURSOR: 400,
    INTERNAL_ERROR: 500,
    core.AuditUnavailable.code: 503,
    core.StoreUnavailable.code: 503,
    core.ProtocolNotAdopted.code: 503,
    "VIEWS_BEHIND": 503,
    core.PractitionerInactive.code: 403,
    core.IdentityMismatch.code: 403,
    core.IdempotencyKeyReused.code: 422,  # as the Idempotency-Key draft asks
    **dict.fromkeys(PRE_EXECUTION_CODES, 400),
}


Coded = ApiError | core.CareRecordError


def refusal_of(exc: BaseException) -> Coded | None:
    """The coded refusal ``exc`` stands for: itself if coded, ``STORE_UNAVAILABLE`` for a
    store failure that passes, None for anything else (unexpected: masked)."""
    if isinstance(exc, ApiError | core.CareRecordError):
        return exc
    if is_transient(exc):
        return core.StoreUnavailable()
    return None


def passes(exc: BaseException) -> bool:
    """Whether the same request may succeed later with nothing changed: the store failed
    in a way that passes, or the access log could not be written for such a reason."""
    if isinstance(exc, core.AuditUnavailable):
        return exc.passes
    return isinstance(refusal_of(exc), core.StoreUnavailable)


def status_for(exc: BaseException) -> int:
    """The HTTP status for a refusal (REST routes and the GraphQL edge)."""
    refusal = refusal_of(exc)
    if isinstance(refusal, ApiError):
        return _STATUS.get(refusal.code, 400)
    if isinstance(refusal, core.CareRecordError):
        if refusal.code in _STATUS:
            return _STATUS[refusal.code]
        if isinstance(refusal, core.InvalidInput):
            return 400
        if isinstance(refusal, core.ConflictError):
            return 409
        if isinstance(refusal, core.NotPermitted):
            return 403
        return 404  # the not-found family
    return 500


def headers_for(exc: BaseException) -> dict[str, str]:
    """Response headers a refusal needs: ``Retry-After`` on a 503."""
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if status_for(exc) == 503 else {}


def status_of_code(code: str) -> int:
    """The HTTP status of a refusal, by its code (the same as ``status_for`` its error)."""
    if code in _STATUS:
        return _STATUS[code]
    family: list[type[core.CareRecordError]] = [core.CareRecordError]
    while family:  # every error class defined by now, wherever its module is
        cls = family.pop()
        if cls.code == code:
            return status_for(cls())
        family.extend(cls.__subclasses__())
    return 400


def graphql_status(data: object, errors: Sequence[GraphQLError]) -> int:
    """The HTTP status of a GraphQL response (its errors already coded).

    The GraphQL-over-HTTP rule: a request refused before execution (unparsable, invalid,
    over a limit, a variable its type refuses - no ``data``, no error has a ``path``) gets
    its error's 4xx status; a response from execution gets 200 with its errors in the
    body, even when they leave ``data`` null (field errors: ``CLIENT_NOT_FOUND``,
    ``INVALID_CURSOR``, ``NOT_PERMITTED``...). ``AUDIT_UNAVAILABLE`` and
    ``STORE_UNAVAILABLE`` (503, the whole response) are decided by the handler before this.
    """
    if not errors or data is not None or any(e.path is not None for e in errors):
        return 200
    return max(status_of_code(graphql_code(e)) for e in errors)


def code_of(exc: BaseException) -> str:
    refusal = refusal_of(exc)
    return INTERNAL_ERROR if refusal is None else refusal.code


def body_for(exc: BaseException) -> dict[str, Any]:
    """The JSON error body used by REST routes and the GraphQL edge before execution."""
    return {"errors": [_entry(exc)]}


def _entry(exc: BaseException) -> dict[str, Any]:
    refusal = refusal_of(exc)
    if refusal is not None:
        extensions: dict[str, Any] = {"code": refusal.code}
        if refusal.fields:
            extensions["fields"] = dict(refusal.fields)
        return {"message": refusal.message, "extensions": extensions}
    return {"message": "Unexpected error.", "extensions": {"code": INTERNAL_ERROR}}


# --- GraphQL ---------------------------------------------------------------------------


def coded_graphql_error(error: GraphQLError, *, request_id: str | None = None) -> GraphQLError:
    """The error as the caller sees it: coded, with its safe message; or masked.

    A value the caller sent that its type refuses - as a variable or written inline - is
    a coded refusal (the scalar's own code, e.g. ``INVALID_DATE``, or ``INVALID_VARIABLE``
    / ``GRAPHQL_VALIDATION_FAILED``), never an internal error; its message names the
    variable and where in it, never the value (graphql-core's messages quote it). A store
    failure that passes is ``STORE_UNAVAILABLE``.
    """
    variable = _variable_of(error)
    cause = _coded_cause(error)
    if variable is not None:
        return _variable_error(error, variable, cause)
    if cause is not None:
        return _with(error, cause.message, _entry(cause)["extensions"])
    if _store_failure(error):
        log.warning(
            "store unavailable in GraphQL execution: %s (request %s)",
            type(error.original_error).__name__,
            request_id or "-",
        )
        unavailable = core.StoreUnavailable()
        return _with(error, unavailable.message, _entry(unavailable)["extensions"])
    if error.path is None and (error.original_error is None or _wraps_graphql(error)):
        return _request_error(error)
    log.error(
        "unexpected error in GraphQL execution: %s at %s (request %s)",
        type(error.original_error or error).__name__,
        ".".join(str(p) for p in error.path or ()) or "-",
        request_id or "-",
    )
    return _with(error, "Unexpected error.", {"code": INTERNAL_ERROR})


def _store_failure(error: GraphQLError) -> bool:
    """Whether a store failure that passes is behind the error (through graphql-core's
    wrapping, bounded)."""
    cause: BaseException | None = error.original_error
    for _ in range(8):
        if not isinstance(cause, GraphQLError):
            return cause is not None and is_transient(cause)
        cause = cause.original_error
    return False


def _wraps_graphql(error: GraphQLError) -> bool:
    return isinstance(error.original_error, GraphQLError)


def _request_error(error: GraphQLError) -> GraphQLError:
    """A document refused before execution: parse and validation errors, coded."""
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
    if error.nodes and all(isinstance(n, ValueNode) for n in error.nodes):
        # A literal its type refuses: graphql-core's message would quote the value.
        message = "A value written in the query is not valid for its type."
        return _with(error, message, {"code": GRAPHQL_VALIDATION_FAILED})
    # No suggestions: without introspection they would reveal the schema bit by bit.
    message = error.message.split(" Did you mean")[0].strip()
    return _with(error, message, {"code": GRAPHQL_VALIDATION_FAILED})


def _coded_cause(error: GraphQLError) -> Coded | None:
    """Our coded exception behind an error, through graphql-core's wrapping (bounded)."""
    cause: BaseException | None = error.original_error
    for _ in range(8):
        if isinstance(cause, ApiError | core.CareRecordError):
            return cause
        if not isinstance(cause, GraphQLError):
            return None
        cause = cause.original_error
    return None


_VARIABLE_PATH = re.compile(
    r"Variable '\$[_A-Za-z][_0-9A-Za-z]*' has invalid value(?: at )?((?:\.[_0-9A-Za-z]+|\[\d+\])*)"
)


def _variable_of(error: GraphQLError) -> str | None:
    """The variable whose value failed coercion (not a validation error about a variable,
    such as one never used: those are ``GRAPHQL_VALIDATION_FAILED``)."""
    if not _VARIABLE_PATH.match(error.message):
        return None
    for node in error.nodes or ():
        if isinstance(node, VariableDefinitionNode):
            return node.variable.name.value
    return None


def _variable_error(error: GraphQLError, variable: str, cause: Coded | None) -> GraphQLError:
    """A variable's value refused while coercing it (before execution): coded, no value."""
    fields: dict[str, Any] = dict(cause.fields) if cause is not None else {}
    fields["variable"] = variable
    found = _VARIABLE_PATH.match(error.message)
    if found and found.group(1):
        fields["field"] = variable + found.group(1)
    if cause is not None:
        return _with(error, cause.message, {"code": cause.code, "fields": fields})
    message = f"Variable '${variable}' is missing or not a valid value of its type."
    return _with(error, message, {"code": INVALID_VARIABLE, "fields": fields})


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
            headers=headers_for(exc),
            media_type="application/json",
        )

    async def validation(_: Request, exc: Exception) -> Response:
        return respond(ApiError(BAD_REQUEST, "The request's parameters are not valid."))

    async def http(_: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        if status == 404:
            return respond(ApiError(NOT_FOUND, "No such route."), 404)
        if status == 405:
            return respond(ApiError(METHOD_NOT_ALLOWED, "Method not allowed here."), 405)
        return respond(ApiError(BAD_REQUEST, "The request could not be handled."), status)

    async def unexpected(request: Request, exc: Exception) -> Response:
        transient = is_transient(exc)
        log.log(
            logging.WARNING if transient else logging.ERROR,
            "%s on %s: %s (request %s)",
            "store unavailable" if transient else "unexpected error",
            request.url.path,
            type(exc).__name__,
            getattr(request.state, "request_id", "-"),
        )
        return respond(exc)

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(Exception, unexpected)
