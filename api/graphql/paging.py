"""Cursor paging: page sizes checked against the configured cap, cursors sealed per caller."""

from __future__ import annotations

from typing import Any

from api.graphql.common import viewer_scope
from api.graphql.context import ApiContext
from carerecord.errors import InvalidInput


def page_size(context: ApiContext, first: int | None) -> int:
    """The requested page size, or the default; more than the cap is refused, not trimmed."""
    limits = context.services.api.limits
    if first is None:
        return limits.default_page_size
    if not 1 <= first <= limits.max_page_size:
        raise InvalidInput(field="first", reason="out_of_range", limit=limits.max_page_size)
    return first


def open_cursor(context: ApiContext, kind: str, cursor: str | None) -> Any:
    """The position sealed in a cursor this caller was given for this list (None: start)."""
    if cursor is None:
        return None
    return context.services.cursors.open(kind, viewer_scope(context.viewer), cursor)


def seal_cursor(context: ApiContext, kind: str, value: Any) -> str | None:
    if value is None:
        return None
    return context.services.cursors.seal(kind, viewer_scope(context.viewer), value)
