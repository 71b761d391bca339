"""Validated construction of the care record's values from command input.

The application service calls these with raw input; each returns a value or
raises a coded ``CareRecordError`` naming the field (never echoing the value).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date

from carerecord import errors
from carerecord.ids import parse_agency_id, parse_code
from carerecord.protocol import AGENCY_SYSTEM, Protocol
from carerecord.validation import (
    MAX_SHORT_TEXT,
    birth_date,
    bounded_list,
    choice,
    choices,
    optional_line,
    single_line,
)
from carerecord.values import AudienceSelector, ConsentScope, Demographics
from carerecord.vocab import Purpose, Sector

GENDERS = frozenset({"female", "male", "other", "unknown"})
_POSTCODE = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}")
_PHONE = re.compile(r"\+?[0-9 ()-]{6,20}")
CONSENTABLE_PURPOSES = frozenset({Purpose.DIRECT_CARE, Purpose.SAFEGUARDING, Purpose.EMERGENCY})


def demographics(
    *,
    given_name: object,
    family_name: object,
    date_of_birth: object,
    gender: object = None,
    postcode: object = None,
    preferred_language: object = None,
    phone: object = None,
    today: date,
) -> Demographics:
    """Demographics with names, a real birth date, and well-formed contact fields."""
    gender_value = optional_line(gender, field="gender", max_len=20)
    if gender_value is not None and gender_value not in GENDERS:
        raise errors.UnknownValue(field="gender")
    postcode_value = optional_line(postcode, field="postcode", max_len=10)
    if postcode_value is not None:
        postcode_value = postcode_value.upper()
        if not _POSTCODE.fullmatch(postcode_value):
            raise errors.InvalidInput(field="postcode", reason="format")
    phone_value = optional_line(phone, field="phone", max_len=20)
    if phone_value is not None and not _PHONE.fullmatch(phone_value):
        raise errors.InvalidInput(field="phone", reason="format")
    return Demographics(
        given_name=single_line(given_name, field="given_name", max_len=100),
        family_name=single_line(family_name, field="family_name", max_len=100),
        date_of_birth=birth_date(date_of_birth, field="date_of_birth", today=today),
        gender=gender_value,
        postcode=postcode_value,
        preferred_language=optional_line(
            preferred_language, field="preferred_language", max_len=40
        ),
        phone=phone_value,
    )


def categories(
    protocol: Protocol, values: Iterable[object] | None, *, field: str
) -> frozenset[str] | None:
    """A set of shared categories (None means all)."""
    if values is None:
        return None
    result = set()
    for value in bounded_list(values, field=field):
        if not isinstance(value, str) or value not in protocol.categories:
            raise errors.UnknownCategory(field=field)
        result.add(value)
    if not result:
        raise errors.InvalidInput(field=field, reason="empty")
    return frozenset(result)


def category(protocol: Protocol, value: object, *, field: str = "category") -> str:
    if not isinstance(value, str) or value not in protocol.categories:
        raise errors.UnknownCategory(field=field)
    return value


def profession(protocol: Protocol, value: object, *, field: str = "profession") -> str:
    if not isinstance(value, str) or (value not in protocol.professions and value != AGENCY_SYSTEM):
        raise errors.UnknownProfession(field=field)
    return value


def audience(
    protocol: Protocol,
    agency_exists: Callable[[str], bool],
    *,
    agencies: Iterable[object] = (),
    sectors: Iterable[object] = (),
    professions: Iterable[object] = (),
    everyone: bool = False,
    field: str,
) -> AudienceSelector:
    """An audience selector naming registered agencies, sectors and protocol professions."""
    agency_ids = frozenset(
        parse_agency_id(a, field=f"{field}.agencies") for a in bounded_list(agencies, field=field)
    )
    if not all(agency_exists(a) for a in agency_ids):
        raise errors.AgencyNotFound(field=f"{field}.agencies")
    selector = AudienceSelector(
        agencies=agency_ids,
        sectors=choices(Sector, list(sectors), field=f"{field}.sectors"),
        professions=frozenset(
            profession(protocol, p, field=f"{field}.professions")
            for p in bounded_list(professions, field=field)
        ),
        everyone=bool(everyone),
    )
    if selector.is_empty():
        raise errors.InvalidInput(field=field, reason="empty")
    return selector


def consent_scope(
    protocol: Protocol,
    audience_selector: AudienceSelector,
    *,
    categories_value: Iterable[object] | None,
    purposes: Iterable[object] | None,
) -> ConsentScope:
    purpose_set = None
    if purposes is not None:
        purpose_set = choices(Purpose, list(purposes), field="purposes")
        if not purpose_set or not purpose_set <= CONSENTABLE_PURPOSES:
            raise errors.UnknownValue(field="purposes")
    return ConsentScope(
        categories=categories(protocol, categories_value, field="categories"),
        audience=audience_selector,
        purposes=purpose_set,
    )


def reason(value: object, *, field: str = "reason") -> str:
    """A short, single-line reason (never clinical detail: it may appear in audit views)."""
    return single_line(value, field=field, max_len=MAX_SHORT_TEXT)


def code(value: object, *, field: str) -> str:
    return parse_code(value, field=field)


__all__ = [
    "CONSENTABLE_PURPOSES",
    "audience",
    "categories",
    "category",
    "choice",
    "code",
    "consent_scope",
    "demographics",
    "profession",
    "reason",
]
