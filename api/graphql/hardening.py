"""Limits checked before execution: query depth, aliases, tokens, introspection, transport.

The validation rules are classes built once, when the schema is built: strawberry's
per-request limiter factories create a new rule class per request, which makes
every request miss the validation cache (several times slower). Here the same
rule classes are added to every operation, so the cache key is stable and parse
and validation run once per distinct query text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    ValidationContext,
    ValidationRule,
    parse,
    specified_rules,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from api.errors import (
    INTROSPECTION_DISABLED,
    OPERATION_NAME_REQUIRED,
    OPERATION_NOT_ALLOWED,
    QUERY_TOO_DEEP,
    TOO_MANY_ALIASES,
    coded_graphql_error,
)
from api.graphql.shape import measure
from api.settings import Limits

INTROSPECTION_MAX_DEPTH = 16
"""Nesting allowed inside ``__schema`` / ``__type`` (where introspection is on), instead of
the query depth limit: schema tools' standard introspection query nests 14 deep (``ofType``
9 levels). graphql-core's ``MaxIntrospectionDepthRule`` also bounds how often the list
fields (``fields``, ``interfaces``...) nest, which is what makes introspection expensive."""


def shape_rule(max_depth: int, max_aliases: int) -> type[ASTValidationRule]:
    """Refuse operations nested deeper than ``max_depth`` or with more than ``max_aliases``
    aliases (fragments followed; measured in linear time, see ``api.graphql.shape``)."""

    class ShapeLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            shape = measure(document, alias_cap=max_aliases + 1)
            aliases = 0
            for index, operation in shape.operations.items():
                node = document.definitions[index]
                if operation.depth > max_depth:
                    context.report_error(
                        GraphQLError(
                            f"The query is nested more than {max_depth} levels deep.",
                            node,
                            extensions={"code": QUERY_TOO_DEEP, "limit": max_depth},
                        )
                    )
                if operation.introspection_depth > INTROSPECTION_MAX_DEPTH:
                    context.report_error(
                        GraphQLError(
                            "The introspection query is nested more than "
                            f"{INTROSPECTION_MAX_DEPTH} levels deep.",
                            node,
                            extensions={"code": QUERY_TOO_DEEP, "limit": INTROSPECTION_MAX_DEPTH},
                        )
                    )
                aliases = min(max_aliases + 1, aliases + operation.aliases)
            if aliases > max_aliases:
                context.report_error(
                    GraphQLError(
                        f"The query uses more than {max_aliases} aliases.",
                        extensions={"code": TOO_MANY_ALIASES, "limit": max_aliases},
                    )
                )

    return ShapeLimits


class _NoIntrospection(NoSchemaIntrospectionCustomRule):
    """graphql-core's rule, with our code and message on its error."""

    def report_error(self, error: GraphQLError) -> None:
        super().report_error(
            GraphQLError(
                "Introspection is disabled on this server.",
                error.nodes,
                extensions={"code": INTROSPECTION_DISABLED},
            )
        )


def operations_rule(allowed: frozenset[OperationType], transport: str) -> type[ASTValidationRule]:
    """Refuse operation types this transport does not carry."""

    class OnlyOperations(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            if node.operation not in allowed:
                self.report_error(
                    GraphQLError(
                        "Subscriptions go over the WebSocket (graphql-transport-ws); queries "
                        "and mutations over HTTP POST.",
                        node,
                        extensions={"code": OPERATION_NOT_ALLOWED, "transport": transport},
                    )
                )

    return OnlyOperations


HTTP = "http"
WEBSOCKET = "websocket"


def _requested_operation(context: Any) -> str | None:
    """The ``operationName`` the caller sent.

    strawberry's ``operation_name`` falls back to the first operation's name, which would
    run the first of several operations when none is named (the spec requires an error);
    the name as given is kept in ``_provided_operation_name`` (tests/api/test_limits.py
    fails if that ever changes).
    """
    name = getattr(context, "_provided_operation_name", context.operation_name)
    return name if isinstance(name, str) else None


CACHED_QUERY_CHARS = 16 * 1024
"""Longest query text whose parse and validation are cached (most are a few hundred
characters); so the caches hold at most ``cache_size`` texts of this length and their
documents, whatever callers send up to the body limit."""


def hardening_extension(
    limits: Limits,
    *,
    introspection: bool,
    transport_of: Callable[[Any], str],
    cache_size: int = 256,
) -> type[SchemaExtension]:
    """A schema extension class carrying rules and caches built once (see the module docstring).

    ``transport_of(context)`` says whether an operation arrived over ``http`` or
    ``websocket``: queries and mutations go over HTTP (their reads are audited per
    request); the socket carries subscriptions only. Parsing and validation are
    cached by query text (a string hashes once; a parsed document hashes its whole
    tree on every lookup).
    """
    common: tuple[type[ASTValidationRule], ...] = (
        shape_rule(limits.max_depth, limits.max_aliases),
    )
    if not introspection:
        common += (_NoIntrospection,)
    rules = {
        HTTP: (
            *specified_rules,
            *common,
            operations_rule(frozenset({OperationType.QUERY, OperationType.MUTATION}), HTTP),
        ),
        WEBSOCKET: (
            *specified_rules,
            *common,
            operations_rule(frozenset({OperationType.SUBSCRIPTION}), WEBSOCKET),
        ),
    }
    max_tokens = limits.max_tokens

    def parse_text(query: str) -> DocumentNode | None:
        try:
            return parse(query, max_tokens=max_tokens)
        except GraphQLError:
            return None  # strawberry parses again and reports the error in its usual place

    def validate_text(
        document: DocumentNode, transport: str, schema: GraphQLSchema
    ) -> tuple[GraphQLError, ...]:
        return tuple(validate_document(schema, document, rules[transport]))

    def count_operations(document: DocumentNode) -> int:
        return sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)

    # The caches are bounded by count and, through the length of the texts they keep
    # (longer texts are parsed afresh every time), by bytes.
    @lru_cache(maxsize=cache_size)
    def _parsed(query: str) -> DocumentNode | None:
        return parse_text(query)

    @lru_cache(maxsize=cache_size * 2)
    def _validated(query: str, transport: str, schema: GraphQLSchema) -> tuple[GraphQLError, ...]:
        document = _parsed(query)
        assert document is not None
        return validate_text(document, transport, schema)

    @lru_cache(maxsize=cache_size)
    def _operations(query: str) -> int:
        document = _parsed(query)
        assert document is not None
        return count_operations(document)

    def cached(query: str) -> bool:
        return len(query) <= CACHED_QUERY_CHARS

    def parsed(query: str) -> DocumentNode | None:
        return _parsed(query) if cached(query) else parse_text(query)

    def validated(
        query: str, document: DocumentNode, transport: str, schema: GraphQLSchema
    ) -> tuple[GraphQLError, ...]:
        if cached(query):
            return _validated(query, transport, schema)
        return validate_text(document, transport, schema)

    def operations(query: str, document: DocumentNode) -> int:
        return _operations(query) if cached(query) else count_operations(document)

    class Hardening(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            context = self.execution_context
            context.parse_options["max_tokens"] = max_tokens
            yield
            result = context.result
            errors = getattr(result, "errors", None)
            if errors:
                request_id = getattr(context.context, "request_id", None)
                result.errors = [coded_graphql_error(e, request_id=request_id) for e in errors]  # type: ignore[union-attr]

        def on_parse(self) -> Iterator[None]:
            context = self.execution_context
            if context.query is not None and len(context.query) <= limits.max_body_bytes:
                context.graphql_document = parsed(context.query)
            yield

        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            query = context.query
            if query is not None and context.graphql_document is not None:
                transport = transport_of(context.context)
                schema = context.schema._schema
                document = context.graphql_document
                errors = list(validated(query, document, transport, schema))
                if _requested_operation(context) is None and operations(query, document) > 1:
                    errors.append(
                        GraphQLError(
                            "The document has several operations: name the one to run "
                            "in `operationName`.",
                            extensions={"code": OPERATION_NAME_REQUIRED},
                        )
                    )
                context.pre_execution_errors = errors
            yield

        def on_stream_result(self, result: Any) -> Iterator[None]:
            errors = getattr(result, "errors", None)
            if errors:
                request_id = getattr(self.execution_context.context, "request_id", None)
                result.errors = [coded_graphql_error(e, request_id=request_id) for e in errors]
            yield None

    return Hardening
