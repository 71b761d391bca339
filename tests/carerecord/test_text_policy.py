"""The free-text policy (``carerecord.validation``): invisible and display-changing characters are
refused - with the field, the reason and the code point, never the text - in every free-text
input of every command; zero-width (non-)joiners are accepted where real scripts need them."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from care_world import (
    COMMUNITY_IG,
    GP,
    NURSE,
    POLICE_IG,
    SECRET,
    World,
    build_scene,
    fresh_nhs_number,
)

from carerecord import validation
from carerecord.errors import InvalidText
from carerecord.protocol import bundled_document

REFUSED = [
    ("\u200b", "format_character"),  # zero-width space
    ("\u200c", "format_character"),  # ZWNJ between Latin letters
    ("\u200d", "format_character"),  # ZWJ between Latin letters
    ("\u200e", "format_character"),  # left-to-right mark
    ("\u200f", "format_character"),  # right-to-left mark
    ("\u2060", "format_character"),  # word joiner
    ("\ufeff", "format_character"),  # byte order mark
    ("\u00ad", "format_character"),  # soft hyphen
    ("\u202e", "format_character"),  # right-to-left override
    ("\u2067", "format_character"),  # right-to-left isolate
    ("\U000e0041", "format_character"),  # tag character
    ("\u2028", "line_separator"),
    ("\u2029", "line_separator"),
    ("\x1b", "control_character"),
    ("\x85", "control_character"),  # next line (C1)
    ("\udc00", "lone_surrogate"),
    ("\ufdd0", "noncharacter"),
    ("\U0010ffff", "noncharacter"),
]


@pytest.mark.parametrize(("char", "reason"), REFUSED, ids=[f"U+{ord(c):04X}" for c, _ in REFUSED])
def test_an_invisible_or_display_changing_character_is_refused_by_its_code_point(
    char: str, reason: str
) -> None:
    for value in (f"Ann{char}Bell", f"{char}Ann Bell", f"Ann Bell{char}"):
        with pytest.raises(InvalidText) as refused:
            validation.text(value, field="given_name", max_len=100)
        assert refused.value.fields == {
            "field": "given_name",
            "reason": reason,
            "code_point": f"U+{ord(char):04X}",
        }
        assert "Ann" not in str(refused.value)


def test_every_format_character_python_knows_is_refused_except_the_joiners() -> None:
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) != "Cf" or char in "\u200c\u200d":
            continue
        with pytest.raises(InvalidText):
            validation.check_characters(f"a{char}b", field="text")


@pytest.mark.parametrize(
    "value",
    [
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: ZWNJ inside a word
        "\u0915\u094d\u200d\u0937",  # Devanagari: ZWJ after a virama
        "\u0d28\u0d4d\u200d",  # Malayalam chillu (older spelling): ZWJ ending a word
        "\U0001f469\u200d\u2695\ufe0f",  # emoji: woman health worker
        "Zo\u00eb O'Brien-Sm\u00edth",
        "\u0645\u062d\u0645\u062f",  # Arabic, no joiner
        "Line one\nLine two\ttabbed",
    ],
)
def test_real_scripts_and_plain_text_are_accepted(value: str) -> None:
    assert validation.text(value, field="text", max_len=100) == value


@pytest.mark.parametrize(
    "value",
    [
        "Jo\u200dhn",  # a joiner inside a Latin name hides a difference
        "\u200c\u0645\u06cc",  # nothing before it
        "\u0645\u06cc\u200c",  # nothing after it
        "\u0645\u06cc\u200c \u0645",  # a space after it
        "\u0645\u200c\u200d\u0645",  # two in a row
    ],
)
def test_joiners_out_of_a_joining_context_are_refused(value: str) -> None:
    with pytest.raises(InvalidText) as refused:
        validation.text(value, field="text", max_len=100)
    assert refused.value.fields["reason"] == "format_character"


def test_text_is_stored_in_nfc() -> None:
    assert validation.text("Zoe\u0308", field="given_name", max_len=100) == "Zo\u00eb"
    assert validation.single_line("\ufb01sh", field="name") == "\ufb01sh"  # not NFKC


def test_the_check_is_linear_and_finds_a_character_at_the_end_of_long_text() -> None:
    with pytest.raises(InvalidText):
        validation.text("a" * 19_999 + "\u200b", field="text", max_len=20_000)
    joined = "\u0645\u06cc\u200c" * 6_000 + "\u0645"
    assert validation.text(joined, field="text", max_len=20_000) == joined


# --- every free-text input of every command --------------------------------------------------

HIDDEN = "Allocated to the\u200bteam"
Command = Callable[[World, Any], object]


def _register(**fields: Any) -> Command:
    def run(world: World, _: Any) -> object:
        values: dict[str, Any] = {
            "nhs_number": fresh_nhs_number(),
            "given_name": "Ann",
            "family_name": "Bell",
            "date_of_birth": date(1950, 1, 1),
            **fields,
        }
        return world.app.register_client(GP.caller, **values)

    return run


def _correct(**fields: Any) -> Command:
    def run(world: World, scene: Any) -> object:
        values: dict[str, Any] = {
            "reason": "Spelling",
            "given_name": "Ann",
            "family_name": "Bell",
            "date_of_birth": date(1950, 1, 1),
            **fields,
        }
        return world.app.correct_demographics(GP.caller, scene.client, **values)

    return run


def _directory(kind: str, **fields: Any) -> Command:
    def run(world: World, _: Any) -> object:
        if kind == "agency":
            values: dict[str, Any] = {
                "code": f"new-{fresh_nhs_number()}",
                "name": "New Agency",
                "sector": "health",
                "local_authority_area": "north-shire",
                "phone": "01234 567890",
                "email": "team@example.org",
                **fields,
            }
            return world.app.register_agency(**values)
        values = {
            "practitioner_id": f"new-{fresh_nhs_number()}",
            "agency_id": "gp-north",
            "profession": "gp",
            "name": "New Starter",
            **fields,
        }
        return world.app.enrol_practitioner(**values)

    return run


def _protocol(world: World, _: Any) -> object:
    document = bundled_document(1)
    document["version"] = 99
    document["title"] = "North Shire\u200b protocol"
    return world.app.adopt_protocol(document)


COMMANDS: list[tuple[str, str, Command]] = [
    ("register: given name", "given_name", _register(given_name=HIDDEN)),
    ("register: family name", "family_name", _register(family_name=HIDDEN)),
    ("register: gender", "gender", _register(gender="fe\u200bmale")),
    ("register: preferred language", "preferred_language", _register(preferred_language=HIDDEN)),
    ("register: relationship reason", "reason", _register(relationship_reason=HIDDEN)),
    ("correct demographics: reason", "reason", _correct(reason=HIDDEN)),
    ("correct demographics: family name", "family_name", _correct(family_name=HIDDEN)),
    (
        "start care relationship: reason",
        "reason",
        lambda w, s: w.app.start_care_relationship(NURSE.caller, s.client, reason=HIDDEN),
    ),
    (
        "end care relationship: reason",
        "reason",
        lambda w, s: w.app.end_care_relationship(
            NURSE.caller, s.client, s.relationship, reason=HIDDEN
        ),
    ),
    (
        "record contribution: heading",
        "heading",
        lambda w, s: w.app.record_contribution(
            GP.caller, s.client, heading="Hist\u200bory", text=SECRET, occurred_at=w.now
        ),
    ),
    (
        "record contribution: text",
        "text",
        lambda w, s: w.app.record_contribution(
            GP.caller, s.client, heading="History", text=HIDDEN, occurred_at=w.now
        ),
    ),
    (
        "amend contribution: text",
        "text",
        lambda w, s: w.app.amend_contribution(
            GP.caller, s.client, s.entry, text=HIDDEN, reason="Typo"
        ),
    ),
    (
        "amend contribution: reason",
        "reason",
        lambda w, s: w.app.amend_contribution(
            GP.caller, s.client, s.entry, text=SECRET, reason=HIDDEN
        ),
    ),
    (
        "enter in error: reason",
        "reason",
        lambda w, s: w.app.enter_contribution_in_error(GP.caller, s.client, s.entry, reason=HIDDEN),
    ),
    (
        "raise alert: summary",
        "summary",
        lambda w, s: w.app.raise_alert(
            GP.caller, s.client, kind="access_needs", severity="low", summary=HIDDEN
        ),
    ),
    (
        "resolve alert: reason",
        "reason",
        lambda w, s: w.app.resolve_alert(GP.caller, s.client, s.alert, reason=HIDDEN),
    ),
    (
        "record consent: representative name",
        "representative_name",
        lambda w, s: w.app.record_consent(
            GP.caller,
            s.client,
            decision="granted",
            given_by="parent",
            representative_name=HIDDEN,
            everyone=True,
        ),
    ),
    (
        "withdraw consent: reason",
        "reason",
        lambda w, s: w.app.withdraw_consent(GP.caller, s.client, s.consent, reason=HIDDEN),
    ),
    (
        "place restriction: reason",
        "reason",
        lambda w, s: w.app.place_restriction(
            GP.caller,
            s.client,
            requested_by="client",
            reason=HIDDEN,
            entry_id=s.entry,
            everyone=True,
        ),
    ),
    (
        "lift restriction: reason",
        "reason",
        lambda w, s: w.app.lift_restriction(GP.caller, s.client, s.restriction, reason=HIDDEN),
    ),
    (
        "send referral: reason",
        "reason",
        lambda w, s: w.app.send_referral(
            GP.caller,
            s.client,
            to_agency="community-health",
            category="mobility",
            reason=HIDDEN,
            due_by=w.now + timedelta(days=3),
        ),
    ),
    (
        "accept referral: note",
        "note",
        lambda w, s: w.app.accept_referral(NURSE.caller, s.client, s.referral, note=HIDDEN),
    ),
    (
        "decline referral: reason",
        "reason",
        lambda w, s: w.app.decline_referral(NURSE.caller, s.client, s.referral, reason=HIDDEN),
    ),
    (
        "close referral: outcome",
        "outcome",
        lambda w, s: w.app.close_referral(GP.caller, s.client, s.referral, outcome=HIDDEN),
    ),
    (
        "break glass: reason",
        "reason",
        lambda w, s: w.app.break_glass(
            COMMUNITY_IG.caller, s.client, reason="Person in crisis\u2028risk to life now"
        ),
    ),
    (
        "review break glass: note",
        "note",
        lambda w, s: w.app.review_break_glass(
            POLICE_IG.caller, s.client, s.grant, outcome="justified", note=HIDDEN
        ),
    ),
    ("register agency: name", "name", _directory("agency", name=HIDDEN)),
    ("register agency: email", "email", _directory("agency", email="team\u200b@example.org")),
    ("enrol practitioner: name", "name", _directory("practitioner", name=HIDDEN)),
    ("enrol practitioner: phone", "phone", _directory("practitioner", phone="0123\u2060456")),
    ("adopt protocol: title", "title", _protocol),
]


@pytest.mark.parametrize(
    ("field", "command"), [c[1:] for c in COMMANDS], ids=[c[0] for c in COMMANDS]
)
def test_every_free_text_input_refuses_hidden_characters_and_stores_nothing(
    world: World, field: str, command: Command
) -> None:
    scene = build_scene(world)
    code = "INVALID_PROTOCOL" if field == "title" else "INVALID_TEXT"
    error = world.refused(code, lambda: command(world, scene))
    assert error.fields["field"] in (field, f"document.{field}")
    assert error.fields["reason"] in ("format_character", "line_separator")
    assert str(error.fields["code_point"]).startswith("U+")
