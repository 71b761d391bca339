"""NHS numbers: ten ASCII digits whose last is the Modulus 11 check digit of the first nine."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carerecord.errors import InvalidNHSNumber
from carerecord.nhs import check_digit, is_valid_nhs_number, normalise_nhs_number


def modulus_11(nine: str) -> int | None:
    """The check digit as NHS Digital describes it: weights 10..2, 11 - remainder;
    11 becomes 0 and 10 means no valid number exists."""
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    result = 11 - total % 11
    return {11: 0, 10: None}.get(result, result)


@pytest.mark.parametrize("number", ["9434765919", "4010232137", "9876543210", "0000000000"])
def test_numbers_with_a_correct_check_digit_are_valid(number: str) -> None:
    assert normalise_nhs_number(number) == number
    assert is_valid_nhs_number(number)


@pytest.mark.parametrize(
    ("written", "number"),
    [
        ("943 476 5919", "9434765919"),
        ("943-476-5919", "9434765919"),
        (" 4010232137 ", "4010232137"),
    ],
)
def test_the_usual_spacing_is_accepted_and_removed(written: str, number: str) -> None:
    assert normalise_nhs_number(written) == number


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("9434765918", "check_digit"),
        ("9434765910", "check_digit"),
        ("4010232138", "check_digit"),
        ("943476591", "length"),
        ("94347659190", "length"),
        ("", "length"),
        ("9 4 3 4 7 6 5 9 1 9 9", "length"),
        ("943  476  5919  00", "length"),
        ("\u0669\u0664\u0663\u0664\u0667\u0666\u0665\u0669\u0661\u0669", "not_ascii_digits"),
        ("\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19", "not_ascii_digits"),
        ("943476591\u00b9", "not_ascii_digits"),
        ("943476591X", "not_ascii_digits"),
        ("+434765919", "not_ascii_digits"),
    ],
)
def test_invalid_numbers_are_refused_with_the_reason_and_never_echoed(
    number: str, reason: str
) -> None:
    with pytest.raises(InvalidNHSNumber) as info:
        normalise_nhs_number(number)
    assert info.value.code == "INVALID_NHS_NUMBER"
    assert info.value.fields == {"field": "nhs_number", "reason": reason}
    if number.strip():
        assert number not in str(info.value)
    assert not is_valid_nhs_number(number)


@pytest.mark.parametrize("last", "0123456789")
def test_when_the_check_digit_would_be_ten_no_number_is_valid(last: str) -> None:
    nine = "000000006"  # 6 x 2 = 12, remainder 1: the check digit would be 10
    assert modulus_11(nine) is None
    assert check_digit(nine) is None
    assert not is_valid_nhs_number(nine + last)


@pytest.mark.parametrize("value", [9434765919, None, b"9434765919", ["9434765919"]])
def test_anything_but_text_is_refused(value: object) -> None:
    with pytest.raises(InvalidNHSNumber):
        normalise_nhs_number(value)  # type: ignore[arg-type]


@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.integers(0, 9))
def test_exactly_the_numbers_modulus_11_accepts_are_valid(nine: str, last: int) -> None:
    assert is_valid_nhs_number(f"{nine}{last}") == (modulus_11(nine) == last)
