"""The depth and alias limits measure a document in linear time: each selection is walked once,
however often its fragment is spread (fragments spreading the next twice used to double the
work at every step), and neither fragment cycles nor long chains recurse."""

from __future__ import annotations

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    Visitor,
    build_schema,
    get_introspection_query,
    parse,
    specified_rules,
    validate,
    visit,
)

from api.graphql.hardening import INTROSPECTION_MAX_DEPTH, shape_rule
from api.graphql.shape import measure

SCHEMA = build_schema("type Query { a: Int, q: Query }")


def doubling(fragments: int, *, last: str = "__typename") -> str:
    """``query{...F0} fragment F0 on Query{...F1 ...F1} ... fragment Fn on Query{<last>}``."""
    chain = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(fragments)
    )
    return f"query {{ ...F0 }} {chain} fragment F{fragments} on Query {{ {last} }}"


def selection_nodes(document: DocumentNode) -> int:
    class Count(Visitor):
        seen = 0

        def enter(self, node: object, *_: object) -> None:
            if isinstance(node, FieldNode | FragmentSpreadNode | InlineFragmentNode):
                Count.seen += 1

    visit(document, Count())
    return Count.seen


def errors(query: str, *, depth: int = 10, aliases: int = 15) -> list[str]:
    found = validate(SCHEMA, parse(query), [shape_rule(depth, aliases)])
    return [str((e.extensions or {}).get("code")) for e in found]


def test_forty_doubling_fragments_are_walked_once_each() -> None:
    document = parse(doubling(40))
    shape = measure(document, alias_cap=16)
    # Following every spread would visit 2**40 nodes; the walk visits each node once.
    assert shape.visited == selection_nodes(document) == 1 + 2 * 40 + 1
    assert shape.operations[0].depth == 0
    assert shape.operations[0].aliases == 0


def test_forty_doubling_fragments_with_an_alias_count_it_per_spread_but_capped() -> None:
    document = parse(doubling(40, last="x: __typename"))
    shape = measure(document, alias_cap=16)
    assert shape.operations[0].aliases == 16  # 2**40 spreads, counted no further than the cap
    assert shape.visited == selection_nodes(document)
    assert errors(doubling(40, last="x: __typename")) == ["TOO_MANY_ALIASES"]


@pytest.mark.timeout(60)  # without the fix this never finishes (2**40 walks)
def test_forty_doubling_fragments_pass_every_rule_or_are_refused() -> None:
    rules = (*specified_rules, shape_rule(10, 15))
    assert validate(SCHEMA, parse(doubling(40)), rules) == []
    deep = doubling(40, last="q { q { q { q { q { q { q { q { q { q { q { a } } } } } } } } } } }")
    assert [e.extensions for e in validate(SCHEMA, parse(deep), rules)] == [
        {"code": "QUERY_TOO_DEEP", "limit": 10}
    ]


def test_aliases_count_once_per_spread() -> None:
    query = "{ ...A ...A q { ...A } } fragment A on Query { x: a y: a }"
    assert measure(parse(query), alias_cap=100).operations[0].aliases == 6
    assert errors(query, aliases=5) == ["TOO_MANY_ALIASES"]
    assert errors(query, aliases=6) == []


def test_depth_follows_fragments_at_the_depth_they_are_spread() -> None:
    query = "{ q { ...A } } fragment A on Query { q { ...B } } fragment B on Query { q { a } }"
    assert measure(parse(query), alias_cap=1).operations[0].depth == 3
    assert errors(query, depth=2) == ["QUERY_TOO_DEEP"]
    assert errors(query, depth=3) == []


def test_inline_fragments_add_no_level() -> None:
    query = "{ ... on Query { q { ... on Query { q { a } } } } }"
    assert measure(parse(query), alias_cap=1).operations[0].depth == 2


def test_each_operation_is_measured_and_aliases_summed_over_the_document() -> None:
    query = "query A { x: a q { q { a } } } query B { y: a z: a }"
    shape = measure(parse(query), alias_cap=100)
    assert [(s.depth, s.aliases) for s in shape.operations.values()] == [(2, 1), (0, 2)]
    assert errors(query, aliases=2) == ["TOO_MANY_ALIASES"]


def test_fragment_cycles_end_without_recursing() -> None:
    query = "{ ...A } fragment A on Query { q { ...B } } fragment B on Query { x: a ...A }"
    shape = measure(parse(query), alias_cap=100)
    assert shape.operations[0].depth == 1
    assert shape.operations[0].aliases == 1
    self_spread = "{ ...A } fragment A on Query { ...A q { ...A } }"
    assert measure(parse(self_spread), alias_cap=10).operations[0].depth == 1


def test_a_long_fragment_chain_does_not_exhaust_the_stack() -> None:
    chain = " ".join(f"fragment F{i} on Query {{ q {{ ...F{i + 1} }} }}" for i in range(3000))
    query = f"{{ ...F0 }} {chain} fragment F3000 on Query {{ a }}"
    assert measure(parse(query), alias_cap=1).operations[0].depth == 3000


def test_unknown_fragments_count_nothing() -> None:
    assert measure(parse("{ q { ...Missing } }"), alias_cap=1).operations[0].depth == 1


def test_introspection_is_measured_against_its_own_cap() -> None:
    standard = parse(get_introspection_query())
    shape = measure(standard, alias_cap=1).operations[0]
    assert shape.depth == 0
    assert 10 <= shape.introspection_depth <= INTROSPECTION_MAX_DEPTH
    nested = '{ __type(name: "Query") { ' + "ofType { " * 20 + "name" + " }" * 22
    found = validate(SCHEMA, parse(nested), [shape_rule(10, 15)])
    assert [e.extensions for e in found] == [
        {"code": "QUERY_TOO_DEEP", "limit": INTROSPECTION_MAX_DEPTH}
    ]


def test_fields_beside_introspection_still_count_against_the_query_limit() -> None:
    query = "{ __schema { types { name } } q { q { q { a } } } }"
    assert errors(query, depth=2) == ["QUERY_TOO_DEEP"]
    assert errors(query, depth=3) == []
