"""Input validation shared by every command. Errors carry the field name, never the value.

**Free text** (names, headings, reasons, notes, entry text, alert summaries, referral
reasons, break-glass reasons, protocol titles...) all passes through ``text`` (or
``single_line``, built on it). The policy, for names and text in English and in the
other languages people in the UK write:

- it is normalised to NFC (canonical composition only: what was typed is kept, an
  ``e`` plus a combining acute and a precomposed ``é`` compare equal; NFKC would rewrite
  ligatures and full-width forms, which is not ours to do in a clinical record);
- characters that are invisible or that change how other text is shown are refused,
  never silently removed (an entry is attributable and permanent: we store what was
  written, or nothing): C0/C1 controls except tab, newline and carriage return (and
  those three in single-line fields); every *format* character (Unicode category Cf:
  zero-width space U+200B, word joiner U+2060, the byte order mark U+FEFF, LRM/RLM
  U+200E/U+200F, bidi embeddings, overrides and isolates, soft hyphen, tag
  characters...); the line and paragraph separators U+2028/U+2029 (use a newline);
  lone surrogates and non-characters;
- the one exception: zero-width non-joiner and joiner (U+200C, U+200D) are part of
  correct spelling in Persian, Urdu, Arabic-script and Indic names and text, and of
  emoji sequences, so they are accepted between two letters, marks or symbols when the
  one before is outside the Latin, Greek, Cyrillic and Armenian blocks (below U+0590),
  where they would only hide a difference ("Jo\u200dhn" is refused);
- a refusal is ``INVALID_TEXT`` naming the field, the ``reason`` and the first
  offending ``code_point`` (``U+200B``) - never the text.
"""

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

_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_FORMAT = (  # Unicode category Cf (Unicode 15), except U+200C/U+200D (see the docstring)
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
)
_SEPARATOR = "\u2028\u2029"
_SURROGATE = "\ud800-\udfff"
_NONCHARACTER = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_FORBIDDEN = re.compile(f"[{_CONTROL}{_FORMAT}{_SEPARATOR}{_SURROGATE}{_NONCHARACTER}]")
_REASONS = (
    (re.compile(f"[{_CONTROL}]"), "control_character"),
    (re.compile(f"[{_FORMAT}]"), "format_character"),
    (re.compile(f"[{_SEPARATOR}]"), "line_separator"),
    (re.compile(f"[{_SURROGATE}]"), "lone_surrogate"),
)
_JOINERS = re.compile("[\u200c\u200d]")
_JOINABLE = ("L", "M", "So", "Sk")  # categories (or their first letter) either side of a joiner
_FIRST_JOINING_SCRIPT = 0x0590  # Hebrew onwards: below are Latin, Greek, Cyrillic, Armenian
_VIRAMA = 9  # canonical combining class: a joiner may end a word after one (RFC 5892 A.1/A.2)

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
    check_characters(normalised, field=field)
    return normalised


def check_characters(value: str, *, field: str) -> None:
    """Refuse the characters the module docstring lists (one pass each, linear)."""
    found = _FORBIDDEN.search(value)
    if found is not None:
        char = found.group()
        reason = next((r for pattern, r in _REASONS if pattern.match(char)), "noncharacter")
        raise errors.InvalidText(field=field, reason=reason, code_point=f"U+{ord(char):04X}")
    for joiner in _JOINERS.finditer(value):
        at = joiner.start()
        before = value[at - 1] if at > 0 else ""
        after = value[at + 1] if at + 1 < len(value) else ""
        after_virama = bool(before) and unicodedata.combining(before) == _VIRAMA
        if not (
            before
            and ord(before) >= _FIRST_JOINING_SCRIPT
            and _joinable(before)
            and (after_virama or (after and _joinable(after)))
        ):
            raise errors.InvalidText(
                field=field, reason="format_character", code_point=f"U+{ord(joiner.group()):04X}"
            )


def check_strings(document: object, *, field: str) -> None:
    """``check_characters`` over every key and string of a JSON-like document (iteratively);
    ``field`` in the refusal is the path to the offending string."""
    stack: list[tuple[object, str]] = [(document, field)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            check_characters(value, field=path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    check_characters(key, field=path)
                stack.append((item, f"{path}.{key}"))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))


def _joinable(char: str) -> bool:
    category = unicodedata.category(char)
    return category in _JOINABLE or category[0] in _JOINABLE


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
