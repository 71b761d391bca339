"""NHS number validation (ten digits, Modulus 11 check digit)."""

from __future__ import annotations

from carerecord.errors import InvalidNHSNumber

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_ASCII_DIGITS = frozenset("0123456789")


def check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit for nine ASCII digits, or None if no valid digit exists."""
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True))
    digit = 11 - (total % 11)
    if digit == 11:
        return 0
    if digit == 10:
        return None
    return digit


def normalise_nhs_number(raw: str) -> str:
    """Return the ten-digit NHS number, accepting the common ``943 476 5919`` spacing.

    Raises ``InvalidNHSNumber`` for anything else: wrong length, non-ASCII digits
    (e.g. Arabic-Indic numerals, which ``str.isdigit`` would accept), or a wrong
    check digit. The offending value is never echoed in the error.
    """
    if not isinstance(raw, str) or len(raw) > 16:
        raise InvalidNHSNumber(field="nhs_number", reason="length")
    compact = raw.replace(" ", "").replace("-", "")
    if len(compact) != 10:
        raise InvalidNHSNumber(field="nhs_number", reason="length")
    if not set(compact) <= _ASCII_DIGITS:
        raise InvalidNHSNumber(field="nhs_number", reason="not_ascii_digits")
    expected = check_digit(compact[:9])
    if expected is None or expected != int(compact[9]):
        raise InvalidNHSNumber(field="nhs_number", reason="check_digit")
    return compact


def is_valid_nhs_number(raw: str) -> bool:
    try:
        normalise_nhs_number(raw)
    except InvalidNHSNumber:
        return False
    return True
