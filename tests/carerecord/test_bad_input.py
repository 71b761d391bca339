"""Bad input of every kind gets its coded error, names the field, echoes nothing, stores nothing.

The command specs test each command's own refusals; this is the cross-cutting catalogue
of hostile or malformed input, one line per kind, so the list can be read in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from care_world import GP, SECRET, World, fresh_nhs_number

from carerecord.agency import Agency
from carerecord.errors import InvalidInput
from carerecord.validation import MAX_ENTRY_TEXT

Attempt = Callable[[World, str], Any]


def register(**fields: Any) -> Attempt:
    def attempt(world: World, client: str) -> Any:
        values: dict[str, Any] = {
            "nhs_number": fresh_nhs_number(),
            "given_name": "Ann",
            "family_name": "Bell",
            "date_of_birth": date(1950, 1, 1),
        }
        values.update(fields)
        return world.app.register_client(GP.caller, **values)

    return attempt


def contribute(**fields: Any) -> Attempt:
    def attempt(world: World, client: str) -> Any:
        values: dict[str, Any] = {
            "heading": "History",
            "text": "Seen.",
            "occurred_at": world.clock.now - timedelta(hours=1),
        }
        values.update(fields)
        return world.app.record_contribution(GP.caller, values.pop("client", client), **values)

    return attempt


def consent(**fields: Any) -> Attempt:
    def attempt(world: World, client: str) -> Any:
        values: dict[str, Any] = {"decision": "granted"}
        values.update(fields)
        return world.app.record_consent(GP.caller, client, **values)

    return attempt


def in_the_future(world: World, client: str) -> Any:
    return contribute(occurred_at=world.clock.now + timedelta(days=1))(world, client)


def born_tomorrow(world: World, client: str) -> Any:
    return register(date_of_birth=world.clock.now.date() + timedelta(days=1))(world, client)


def enrol_unknown_profession(world: World, client: str) -> Any:
    return world.app.enrol_practitioner(
        practitioner_id=f"new-{uuid4().hex[:8]}",
        agency_id="gp-north",
        profession="astrologer",
        name="New Starter",
    )


CATALOGUE: list[tuple[str, Attempt, str]] = [
    (
        "NHS number with a wrong check digit",
        register(nhs_number="9434765918"),
        "INVALID_NHS_NUMBER",
    ),
    ("NHS number too short", register(nhs_number="943476591"), "INVALID_NHS_NUMBER"),
    ("NHS number too long", register(nhs_number="94347659190"), "INVALID_NHS_NUMBER"),
    (
        "NHS number in Arabic-Indic digits",
        register(nhs_number="\u0669\u0664\u0663\u0664\u0667\u0666\u0665\u0669\u0661\u0669"),
        "INVALID_NHS_NUMBER",
    ),
    (
        "NHS number whose check digit would be 10",
        register(nhs_number="0000000060"),
        "INVALID_NHS_NUMBER",
    ),
    ("birth date in the future", born_tomorrow, "DATE_IN_FUTURE"),
    ("birth date given as text", register(date_of_birth="1950-01-01"), "INVALID_DATE"),
    ("unknown category", contribute(category="horoscope"), "UNKNOWN_CATEGORY"),
    ("heading of another profession", contribute(heading="Tenancy"), "UNKNOWN_HEADING"),
    ("unknown profession", enrol_unknown_profession, "UNKNOWN_PROFESSION"),
    ("unknown sensitivity", contribute(sensitivity="hush-hush"), "UNKNOWN_VALUE"),
    ("unknown lawful basis", contribute(lawful_basis="curiosity"), "UNKNOWN_VALUE"),
    ("unknown consent decision", consent(decision="perhaps", everyone=True), "UNKNOWN_VALUE"),
    ("empty text", contribute(text=""), "TEXT_EMPTY"),
    ("whitespace-only text", contribute(text="\n \t"), "TEXT_EMPTY"),
    ("text over 20,000 characters", contribute(text="a" * (MAX_ENTRY_TEXT + 1)), "TEXT_TOO_LONG"),
    ("text of a million characters", contribute(text="a" * 1_000_000), "TEXT_TOO_LONG"),
    ("a NUL character", contribute(text=SECRET + "\x00"), "INVALID_TEXT"),
    ("an escape sequence", contribute(text=SECRET + "\x1b[2J"), "INVALID_TEXT"),
    ("a C1 control", contribute(text=SECRET + "\x9b"), "INVALID_TEXT"),
    ("a right-to-left override", contribute(text=SECRET + "\u202e"), "INVALID_TEXT"),
    ("a bidi isolate", contribute(text=SECRET + "\u2068"), "INVALID_TEXT"),
    ("a lone surrogate", contribute(text=SECRET + "\udc00"), "INVALID_TEXT"),
    ("a non-character", contribute(text=SECRET + "\uffff"), "INVALID_TEXT"),
    ("text that is not a string", contribute(text=12345), "INVALID_INPUT"),
    ("clinical time in the future", in_the_future, "DATE_IN_FUTURE"),
    ("naive clinical time", contribute(occurred_at=datetime(2026, 3, 1, 8, 0)), "INVALID_DATE"),
    ("clinical time given as text", contribute(occurred_at="yesterday"), "INVALID_DATE"),
    ("malformed client id", contribute(client="../etc/passwd"), "INVALID_IDENTIFIER"),
    ("client id nobody holds", contribute(client=str(uuid4())), "NO_CARE_RELATIONSHIP"),
    (
        "an agency's id used as a client id",
        contribute(client=str(Agency.id_for("gp-north"))),
        "NO_CARE_RELATIONSHIP",
    ),
    (
        "oversized category list",
        consent(categories=["medication"] * 51, everyone=True),
        "TOO_LARGE",
    ),
    ("oversized audience list", consent(sectors=["health"] * 51), "TOO_LARGE"),
    (
        "eleven local ids",
        register(local_ids={f"la-{i:02d}": f"X{i}" for i in range(11)}),
        "TOO_LARGE",
    ),
    ("a list given as a string", consent(categories="medication", everyone=True), "INVALID_INPUT"),
]


@pytest.mark.parametrize(
    ("kind", "attempt", "code"), CATALOGUE, ids=[kind for kind, _, _ in CATALOGUE]
)
def test_bad_input_is_refused_with_its_code_and_stores_nothing(
    world: World, kind: str, attempt: Attempt, code: str
) -> None:
    client = world.register(GP)

    error = world.refused(code, lambda: attempt(world, client))

    if isinstance(error, InvalidInput):
        assert error.fields.get("field"), f"{kind}: the error should name the field"
    assert all(SECRET not in str(value) for value in error.fields.values())
    assert SECRET not in error.message
