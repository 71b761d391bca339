"""The ``DateTime`` and ``Date`` scalars: every time and date enters the API here.

They replace strawberry's own (``scalar_overrides`` in ``api.graphql.schema``) so that a
bad value - written inline or sent as a variable - is refused with our coded
``INVALID_DATE`` the same way: text in ISO 8601, a ``DateTime`` with a timezone and
within the range ``carerecord.validation`` accepts (times at the very ends of the
calendar overflow when converted to UTC). Values reach resolvers already in UTC.
"""

from __future__ import annotations

from datetime import date, datetime

from strawberry.types.scalar import ScalarDefinition

from carerecord import validation


def _iso(value: date) -> str:
    return value.isoformat()


def parse_datetime(value: object) -> datetime:
    return validation.parse_time(value, field=None)


def parse_date(value: object) -> date:
    return validation.parse_date(value, field=None)


DATE_TIME = ScalarDefinition(
    name="DateTime",
    description="An ISO 8601 date and time with a timezone offset (e.g. 2026-03-02T09:30:00Z).",
    specified_by_url=None,
    serialize=_iso,
    parse_value=parse_datetime,
    parse_literal=None,
    origin=datetime,
)

DATE = ScalarDefinition(
    name="Date",
    description="An ISO 8601 calendar date (YYYY-MM-DD).",
    specified_by_url=None,
    serialize=_iso,
    parse_value=parse_date,
    parse_literal=None,
    origin=date,
)

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {datetime: DATE_TIME, date: DATE}
