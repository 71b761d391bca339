"""Input validation shared by every command. Errors carry the field name, never the value."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TypeVar

from carerecord import errors

MAX_ENTRY_TEXT = 20_000
"""Longest contribution text, in characters (documented in docs/architecture.md)."""
MAX_REASON_TEXT = 2_000
MAX_SHORT_TEXT = 200
MAX_LIST_ITEMS = 50
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST_EVENT = datetime(1900, 1, 1, tzinfo=UTC)
EARLIEST_BIRTH = date(1880, 1, 1)
EARLIEST_INSTANT = datetime(1, 1, 2, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC)
"""Any time accepted at all lies in this range (UTC): a day inside what ``datetime`` can
hold, so converting an offset or stepping a day or month never overflows. Times nearer
the ends (``9999-12-31T23:59:59-14:00`` is in year 10000 in UTC) are ``INVALID_DATE``."""
MAX_TIME_TEXT = 64

# C0/C1 controls other than tab, newline and carriage return; bidirectional
# overrides and isolates ("Trojan source"); lone surrogates; non-characters.
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)

E = TypeVar("E", bound=Enum)


def text(value: object, *, field: str, max_len: int, allow_empty: bool = False) -> str:
    """Normalise (NFC) and check free text: not empty, not too long, no hostile characters."""
    if not isinstance(value, str):
        raise errors.InvalidInput(field=field, reason="not_text")
    if len(value) > max_len * 4:
        raise errors.TextTooLong(field=field, limit=max_len)
    normalised = unicodedata.normalize("NFC", value)
    if not allow_empty and not normalised.strip():
        raise errors.TextEmpty(field=field)
    if len(normalised) > max_len:
        raise errors.TextTooLong(field=field, limit=max_len)
    if _FORBIDDEN.search(normalised):
        raise errors.InvalidText(field=field)
    return normalised


def single_line(value: object, *, field: str, max_len: int = MAX_SHORT_TEXT) -> str:
    result = text(value, field=field, max_len=max_len).strip()
    if "\n" in result or "\r" in result or "\t" in result:
        raise errors.InvalidText(field=field, reason="single_line")
    return result


def optional_line(value: object, *, field: str, max_len: int = MAX_SHORT_TEXT) -> str | None:
    if value is None:
        return None
    return single_line(value, field=field, max_len=max_len)


def aware(value: object, *, field: str | None) -> datetime:
    """A timezone-aware time within the representable range, in UTC (every time enters here)."""
    if not isinstance(value, datetime):
        raise _invalid_date(field, "not_a_datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _invalid_date(field, "no_timezone")
    try:
        when = value.astimezone(UTC)
    except OverflowError:
        raise _invalid_date(field, "out_of_range") from None
    if not EARLIEST_INSTANT <= when <= LATEST_INSTANT:
        raise _invalid_date(field, "out_of_range")
    return when


def parse_time(value: object, *, field: str | None) -> datetime:
    """An ISO 8601 time with a timezone, from text (the API's scalar, REST and CLI inputs)."""
    if not isinstance(value, str) or len(value) > MAX_TIME_TEXT:
        raise _invalid_date(field, "not_iso8601")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid_date(field, "not_iso8601") from None
    return aware(parsed, field=field)


def parse_date(value: object, *, field: str | None) -> date:
    """An ISO 8601 calendar date (``YYYY-MM-DD``), from text."""
    if not isinstance(value, str) or len(value) > MAX_TIME_TEXT:
        raise _invalid_date(field, "not_iso8601")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid_date(field, "not_iso8601") from None


def _invalid_date(field: str | None, reason: str) -> errors.InvalidDate:
    if field is None:  # the GraphQL scalars: the edge names the variable or the location
        return errors.InvalidDate(reason=reason)
    return errors.InvalidDate(field=field, reason=reason)


def event_time(value: object, *, field: str, now: datetime) -> datetime:
    """A time something happened: timezone-aware, after 1900, not in the future."""
    when = aware(value, field=field)
    if when < EARLIEST_EVENT:
        raise errors.InvalidDate(field=field, reason="too_early")
    if when > now + CLOCK_SKEW:
        raise errors.DateInFuture(field=field)
    return when


def future_time(value: object, *, field: str, now: datetime, limit: timedelta) -> datetime:
    """A deadline or expiry: after now, within ``limit``."""
    when = aware(value, field=field)
    if when <= now:
        raise errors.InvalidDate(field=field, reason="not_in_future")
    if when > now + limit:
        raise errors.InvalidDate(field=field, reason="too_far_ahead")
    return when


def birth_date(value: object, *, field: str, today: date) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise errors.InvalidDate(field=field, reason="not_a_date")
    if value > today:
        raise errors.DateInFuture(field=field)
    if value < EARLIEST_BIRTH:
        raise errors.InvalidDate(field=field, reason="too_early")
    return value


def choice(enum: type[E], value: object, *, field: str) -> E:
    """An enum member from itself or its value; unknown values get ``UNKNOWN_VALUE``."""
    if isinstance(value, enum):
        return value
    try:
        return enum(value)
    except ValueError:
        raise errors.UnknownValue(field=field) from None


def choices(enum: type[E], values: object, *, field: str) -> frozenset[E]:
    return frozenset(choice(enum, v, field=field) for v in bounded_list(values, field=field))


def bounded_list(values: object, *, field: str, limit: int = MAX_LIST_ITEMS) -> list[object]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, set, frozenset)):
        raise errors.InvalidInput(field=field, reason="not_a_list")
    if len(values) > limit:
        raise errors.TooLarge(field=field, limit=limit)
    return list(values)
