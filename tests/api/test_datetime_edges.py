"""Times at the ends of the calendar are refused as ``INVALID_DATE`` (400) wherever a ``DateTime``
enters - every argument and input field of every query and mutation, found by walking the
schema - as a variable and written inline; they used to overflow into internal errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from api_stack import Stack
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
    is_composite_type,
    is_required_argument,
    is_required_input_field,
)
from typer.testing import CliRunner
from world import GP

from api.graphql.schema import build_schema
from api.settings import ApiSettings
from entrypoint.cli import app as cli

EDGES = (
    "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC
    "0001-01-01T00:00:00Z",  # usageReport stepped back a microsecond from it
)
VALID_TIME = "2026-01-05T09:00:00Z"


class Enum(str):
    """An enum value: printed bare in a literal."""


@dataclass(frozen=True)
class Target:
    """One DateTime position: a root field, its argument, the path inside the argument."""

    operation: str
    field: str
    argument: str
    path: tuple[str | int, ...]


def _dummy(type_: GraphQLInputType, path: tuple[str | int, ...], edge: str) -> Any:
    """A value of ``type_`` with ``edge`` at ``path`` and valid values elsewhere."""
    if isinstance(type_, GraphQLNonNull):
        return _dummy(type_.of_type, path, edge)
    if isinstance(type_, GraphQLList):
        return [_dummy(type_.of_type, path[1:], edge)]
    if isinstance(type_, GraphQLInputObjectType):
        value: dict[str, Any] = {}
        for name, field in type_.fields.items():
            if path and path[0] == name:
                value[name] = _dummy(field.type, path[1:], edge)
            elif is_required_input_field(field):
                value[name] = _dummy(field.type, (), VALID_TIME)
        return value
    if isinstance(type_, GraphQLEnumType):
        return Enum(next(iter(type_.values)))
    assert isinstance(type_, GraphQLScalarType)
    return {
        "DateTime": edge,
        "Date": "2000-01-01",
        "Int": 1,
        "Boolean": True,
    }.get(type_.name, "x")


def _datetime_paths(
    type_: GraphQLInputType, seen: frozenset[str] = frozenset()
) -> Iterator[tuple[str | int, ...]]:
    named = get_named_type(type_)
    if isinstance(named, GraphQLScalarType) and named.name == "DateTime":
        yield _list_prefix(type_)
    elif isinstance(named, GraphQLInputObjectType) and named.name not in seen:
        for name, field in named.fields.items():
            for rest in _datetime_paths(field.type, seen | {named.name}):
                yield (*_list_prefix(type_), name, *rest)


def _list_prefix(type_: GraphQLInputType) -> tuple[int, ...]:
    if isinstance(type_, GraphQLNonNull):
        return _list_prefix(type_.of_type)
    if isinstance(type_, GraphQLList):
        return (0, *_list_prefix(type_.of_type))
    return ()


SCHEMA = build_schema(ApiSettings())._schema


def targets() -> list[Target]:
    found = []
    for operation, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            for argument, arg in field.args.items():
                for path in _datetime_paths(arg.type):
                    found.append(Target(operation, name, argument, path))
    return found


TARGETS = targets()


def _literal(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def operation(target: Target, edge: str, *, inline: bool) -> tuple[str, dict[str, Any]]:
    """The target field with every required argument given, the edge value in its place."""
    root = SCHEMA.query_type if target.operation == "query" else SCHEMA.mutation_type
    assert root is not None
    field: GraphQLField = root.fields[target.field]
    values = {}
    for name, arg in field.args.items():
        if name == target.argument:
            values[name] = _dummy(arg.type, target.path, edge)
        elif is_required_argument(arg):
            values[name] = _dummy(arg.type, (), VALID_TIME)
    selection = " { __typename }" if is_composite_type(get_named_type(field.type)) else ""
    if inline:
        arguments = ", ".join(f"{k}: {_literal(v)}" for k, v in values.items())
        return f"{target.operation} {{ {target.field}({arguments}){selection} }}", {}
    signature = ", ".join(f"${k}: {field.args[k].type}" for k in values)
    arguments = ", ".join(f"{k}: ${k}" for k in values)
    query = f"{target.operation}({signature}) {{ {target.field}({arguments}){selection} }}"
    return query, {k: _plain(v) for k, v in values.items()}


def test_the_walk_finds_every_time_argument() -> None:
    mutations = {t.field for t in TARGETS if t.operation == "mutation"}
    queries = {t.field for t in TARGETS if t.operation == "query"}
    assert len(mutations) >= 18, sorted(mutations)
    assert {"recordContribution", "sendReferral", "recordConsent", "withdrawConsent"} <= mutations
    assert {"accessAudit", "usageReport", "recordAsOf"} <= queries


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.field}.{t.argument}")
def test_every_datetime_refuses_the_ends_of_the_calendar(stack: Stack, target: Target) -> None:
    token = stack.token(GP)
    head = stack.app.recorder.max_notification_id()
    for edge in EDGES:
        for inline in (False, True):
            query, variables = operation(target, edge, inline=inline)
            response = httpx.post(
                f"{stack.server.url}/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert response.status_code == 400, (query, response.text)
            codes = [e["extensions"]["code"] for e in response.json()["errors"]]
            assert codes == ["INVALID_DATE"], (query, response.text)
            assert response.json()["errors"][0]["extensions"]["fields"]["reason"] == "out_of_range"
    assert stack.app.recorder.max_notification_id() == head


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "as-of", "--client", "c", "--at"],
        ["audit", "who-saw", "--client", "c", "--from"],
        ["report", "usage", "--to"],
    ],
    ids=["as-of --at", "who-saw --from", "report usage --to"],
)
def test_the_command_line_refuses_them_as_usage_errors(args: list[str]) -> None:
    for edge in EDGES:
        result = CliRunner().invoke(cli, [*args, edge])
        assert result.exit_code == 2, result.output
        assert "out" in result.output
        assert "range" in result.output
        assert "Traceback" not in result.output
