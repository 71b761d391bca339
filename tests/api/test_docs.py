"""The worked examples in docs/graphql.md are valid operations against the real schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import parse, validate

from api.graphql.schema import build_schema
from api.settings import ApiSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "graphql.md"
BLOCKS = re.findall(r"```graphql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_guide_has_examples() -> None:
    assert len(BLOCKS) >= 12


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.split("{")[0].strip() or "anonymous")
def test_each_example_is_a_valid_operation(block: str) -> None:
    schema = build_schema(ApiSettings())
    errors = validate(schema._schema, parse(block))
    assert errors == []
