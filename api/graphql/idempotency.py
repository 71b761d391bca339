"""The ``Idempotency-Key`` request header, for mutations over HTTP.

The header (IETF httpapi draft "The Idempotency-Key HTTP Header Field") is a Structured
Field string: ``Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"``. An unquoted
value (``Idempotency-Key: 8e03978e-...``, as many clients send it) is taken as the key
itself, if it has no spaces, quotes or commas. The key must be 1-255 printable ASCII
characters (``INVALID_IDEMPOTENCY_KEY``, 400); the header may be sent once.

A key applies to the request, so a request that sends one must select exactly one
mutation field (``IDEMPOTENCY_KEY_AMBIGUOUS``, 400, before anything runs); the field's
command then runs under the key (``carerecord.commands.base.command``). Queries ignore it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from api.errors import IDEMPOTENCY_KEY_AMBIGUOUS
from carerecord import errors
from carerecord.idempotency import check_key

HEADER = "idempotency-key"
FIELD = "Idempotency-Key"
_BARE_FORBIDDEN = frozenset(' ",\\')


def key_from_headers(values: Sequence[str]) -> str | None:
    """The request's idempotency key, or ``None`` if it sent none (linear in its length)."""
    if not values:
        return None
    if len(values) > 1:
        raise errors.InvalidIdempotencyKey(field=FIELD, reason="repeated")
    raw = values[0].strip(" \t")
    if raw.startswith('"'):
        key = _sf_string(raw)
    elif any(c in _BARE_FORBIDDEN for c in raw):
        raise errors.InvalidIdempotencyKey(field=FIELD, reason="syntax")
    else:
        key = raw
    return check_key(key, field=FIELD)


def _sf_string(raw: str) -> str:
    """RFC 8941 sf-string: DQUOTE, printable ASCII with ``\\"`` and ``\\\\`` escapes, DQUOTE."""
    chars: list[str] = []
    escaped = False
    for i, c in enumerate(raw[1:], start=1):
        if escaped:
            if c not in '"\\':
                break
            chars.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == '"':
            if i != len(raw) - 1:
                break  # parameters or anything else after the string are not accepted
            return "".join(chars)
        elif " " <= c <= "~":
            chars.append(c)
        else:
            break
    raise errors.InvalidIdempotencyKey(field=FIELD, reason="syntax")


def mutation_fields(document: DocumentNode, operation_name: str | None) -> int:
    """How many fields the document's mutation selects (distinct response keys, fragments
    followed, ``__typename`` not counted; ``@skip``/``@include`` are not evaluated)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.MUTATION:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return len(_response_keys(operation.selection_set, fragments, frozenset()))


def _response_keys(
    selections: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> set[str]:
    keys: set[str] = set()
    for node in selections.selections:
        if isinstance(node, FieldNode):
            if not node.name.value.startswith("__"):
                keys.add((node.alias or node.name).value)
        elif isinstance(node, InlineFragmentNode):
            keys |= _response_keys(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                keys |= _response_keys(fragment.selection_set, fragments, seen | {name})
    return keys


class OneMutationPerKey(SchemaExtension):
    """Refuse, before executing anything, a request with a key and several mutation fields."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        key: Any = getattr(context.context, "idempotency_key", None)
        document = context.graphql_document
        if (
            key is not None
            and document is not None
            and mutation_fields(document, context.operation_name) > 1
        ):
            context.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "An Idempotency-Key applies to one mutation: send one mutation "
                        "field per request.",
                        extensions={"code": IDEMPOTENCY_KEY_AMBIGUOUS},
                    )
                ],
            )
        yield
