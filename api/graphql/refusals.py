"""Refused attempts are evidence: every refused query or mutation that names a client is
noted in the request's audit trail (``api.audit.refused_record``), whether or not the
client exists.

A schema extension watches the operation's top-level fields: a query field that raises
a refusal, or a mutation whose result is ``Refused`` with a refusal code, and that names
a client (``clientId``, or ``client(id:)``), adds a refused record - who, when, what was
asked (``query.<field>`` / ``mutation.<field>`` and the purpose, if any), the code. No
argument values besides the client id are kept (no clinical text). A malformed client id
names no client and is not recorded (it is refused as ``INVALID_IDENTIFIER`` before
anything is looked up).

Refusal codes are those of access (``NOT_PERMITTED`` and its refinements, and
``CLIENT_NOT_FOUND``, the read side's "no such client or none you may see"); bad input
and conflicts (``INVALID_INPUT``, ``CONSENT_NOT_ACTIVE``...) are not refusals of access.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo, OperationType
from strawberry.extensions import SchemaExtension

from api.audit import refused_record
from api.graphql.common import Refused
from carerecord import errors
from carerecord.ids import parse_client_id

REFUSAL_CODES = frozenset(
    {
        errors.ClientNotFound.code,
        errors.NotPermitted.code,
        *(cls.code for cls in errors.NotPermitted.__subclasses__()),
    }
)
"""Codes that refuse access (as opposed to bad input or a record's state)."""


def is_refusal(code: str) -> bool:
    return code in REFUSAL_CODES


def named_client(field_name: str, arguments: dict[str, Any]) -> str | None:
    """The client an operation's field names (its GraphQL arguments: ``clientId``, or
    ``client(id:)``), normalised; None if none (or malformed)."""
    value = arguments.get("clientId")
    if value is None and field_name == "client":
        value = arguments.get("id")
    if value is None:
        return None
    try:
        return str(parse_client_id(value))
    except errors.CareRecordError:
        return None


def _note(info: GraphQLResolveInfo[Any], arguments: dict[str, Any], code: str) -> None:
    if not is_refusal(code):
        return
    client_id = named_client(info.field_name, arguments)
    if client_id is None:
        return
    context = info.context
    trail = getattr(context, "trail", None)
    if trail is None:
        return
    purpose = arguments.get("purpose")
    kind = "mutation" if info.operation.operation is OperationType.MUTATION else "query"
    trail.refuse(
        refused_record(
            context.viewer,
            request_id=context.request_id,
            at=context.now(),
            action=f"{kind}.{info.field_name}",
            purpose="none" if purpose is None else str(getattr(purpose, "value", purpose)),
            client_id=client_id,
            refusal=code,
        )
    )


class RecordRefusals(SchemaExtension):
    """Note refused attempts on a client in the request's audit trail (see module doc)."""

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if info.path.prev is not None or info.operation.operation is OperationType.SUBSCRIPTION:
            return _next(root, info, *args, **kwargs)
        try:
            result = _next(root, info, *args, **kwargs)
        except errors.CareRecordError as exc:
            _note(info, kwargs, exc.code)
            raise
        if inspect.isawaitable(result):
            return _awaiting(result, info, kwargs)
        if isinstance(result, Refused):
            _note(info, kwargs, result.code)
        return result


async def _awaiting(result: Any, info: GraphQLResolveInfo[Any], arguments: dict[str, Any]) -> Any:
    try:
        value = await result
    except errors.CareRecordError as exc:
        _note(info, arguments, exc.code)
        raise
    if isinstance(value, Refused):
        _note(info, arguments, value.code)
    return value
