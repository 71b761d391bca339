"""The shape of a GraphQL document: how deep each operation nests and how many aliases it uses.

The depth and alias limits (``api.graphql.hardening``) read this. It is computed in
time linear in the document: every definition's selections are walked once, without
following fragment spreads; then each fragment's figures are combined once, in
dependency order, and reused wherever it is spread. Following spreads instead would
walk a fragment again for every spread, and fragments that each spread the next twice
double the work at every step (20 such fragments, under 2 KB, cost seconds of CPU).

- **Depth** counts nested selection sets below the operation's own (``{ me { kind } }``
  is 1 deep); fragments add no level of their own. The nesting inside the introspection
  fields ``__schema`` and ``__type`` is measured apart (``introspection_depth``, from the
  introspection field), so schema tools' standard introspection query is held to its
  own cap rather than the query depth limit.
- **Aliases** count once per spread of the fragment holding them (what the executor
  would resolve). Spreads multiply, so counts are capped at ``alias_cap``: the figure
  says "at least this many" and never grows into a huge number.
- **Cycles** (which graphql-core's ``NoFragmentCyclesRule`` refuses) and spreads of
  unknown fragments (``KnownFragmentNamesRule``) contribute nothing here; nothing in this
  module recurses, so neither a cycle nor deep nesting can exhaust the stack.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class Shape:
    """One operation's (or fragment's) figures, relative to where it starts."""

    depth: int = 0
    """Deepest nesting outside introspection fields."""
    introspection_depth: int = 0
    """Deepest nesting inside an introspection field, counted from that field."""
    total_depth: int = 0
    """Deepest nesting of anything (a fragment spread inside introspection uses this)."""
    aliases: int = 0
    """Aliased fields, each spread counted (capped at the ``alias_cap`` given)."""


@dataclass(frozen=True)
class DocumentShape:
    operations: dict[int, Shape]
    """Each operation's shape, by its index among the document's definitions."""
    visited: int
    """Selection nodes walked (each node of the document once: the work is linear)."""


@dataclass
class _Local:
    """What one definition says by itself, its spreads not followed."""

    depth: int = 0
    introspection_depth: int = 0
    total_depth: int = 0
    aliases: int = 0
    # (fragment name, depth of the spread, depth of the enclosing introspection field or None)
    spreads: list[tuple[str, int, int | None]] = field(default_factory=list)
    spread_counts: Counter[str] = field(default_factory=Counter)


def measure(document: DocumentNode, *, alias_cap: int) -> DocumentShape:
    """Every operation's depth, introspection depth and (capped) aliases, in linear time."""
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments.setdefault(definition.name.value, definition)
    visited = 0
    local: dict[str, _Local] = {}
    for name, fragment in fragments.items():
        local[name], count = _walk(fragment.selection_set)
        visited += count
    resolved = _resolve(local, alias_cap)
    operations: dict[int, Shape] = {}
    for index, definition in enumerate(document.definitions):
        if isinstance(definition, OperationDefinitionNode):
            own, count = _walk(definition.selection_set)
            visited += count
            operations[index] = _combine(own, resolved, alias_cap)
    return DocumentShape(operations=operations, visited=visited)


def _walk(selections: SelectionSetNode) -> tuple[_Local, int]:
    """One definition's own figures (spreads recorded, not followed); iterative."""
    result = _Local()
    visited = 0
    # (selection set, its depth, depth of the enclosing introspection field or None)
    stack: list[tuple[SelectionSetNode, int, int | None]] = [(selections, 0, None)]
    while stack:
        selection_set, depth, base = stack.pop()
        for node in selection_set.selections:
            visited += 1
            if isinstance(node, FieldNode):
                if node.alias is not None:
                    result.aliases += 1
                if node.selection_set is None:
                    continue
                inner = depth + 1
                inner_base = base
                if base is None and node.name.value in INTROSPECTION_FIELDS:
                    inner_base = depth
                if inner_base is None:
                    result.depth = max(result.depth, inner)
                else:
                    result.introspection_depth = max(result.introspection_depth, inner - inner_base)
                result.total_depth = max(result.total_depth, inner)
                stack.append((node.selection_set, inner, inner_base))
            elif isinstance(node, InlineFragmentNode):
                stack.append((node.selection_set, depth, base))
            elif isinstance(node, FragmentSpreadNode):
                result.spreads.append((node.name.value, depth, base))
                result.spread_counts[node.name.value] += 1
    return result, visited


def _resolve(local: dict[str, _Local], alias_cap: int) -> dict[str, Shape]:
    """Each fragment's shape with its spreads followed, once per fragment (post-order)."""
    resolved: dict[str, Shape] = {}
    on_path: set[str] = set()
    for start in local:
        if start in resolved:
            continue
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            name, children_done = stack.pop()
            if children_done:
                on_path.discard(name)
                resolved[name] = _combine(local[name], resolved, alias_cap)
                continue
            if name in resolved or name in on_path:
                continue  # done already, or a cycle (refused by NoFragmentCyclesRule)
            on_path.add(name)
            stack.append((name, True))
            for target in local[name].spread_counts:
                if target in local and target not in resolved and target not in on_path:
                    stack.append((target, False))
    return resolved


def _combine(own: _Local, resolved: dict[str, Shape], alias_cap: int) -> Shape:
    """A definition's figures with the (already resolved) fragments it spreads."""
    depth, introspection, total = own.depth, own.introspection_depth, own.total_depth
    for name, at, base in own.spreads:
        spread = resolved.get(name)
        if spread is None:
            continue  # unknown, or part of a cycle
        total = max(total, at + spread.total_depth)
        if base is None:
            depth = max(depth, at + spread.depth)
            introspection = max(introspection, spread.introspection_depth)
        else:
            introspection = max(introspection, at - base + spread.total_depth)
    aliases = min(own.aliases, alias_cap)
    for name, times in own.spread_counts.items():
        spread = resolved.get(name)
        if spread is not None and spread.aliases:
            aliases = min(alias_cap, aliases + times * spread.aliases)
    return Shape(depth=depth, introspection_depth=introspection, total_depth=total, aliases=aliases)
