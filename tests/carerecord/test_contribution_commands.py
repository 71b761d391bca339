"""Given / When / Then: recording contributions, amending them, marking them entered in error."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from care_world import (
    GP,
    GP_PARTNER,
    HOUSING,
    MH_PRACTITIONER,
    NURSE,
    POLICE,
    SECRET,
    World,
    named,
    payload,
)

from carerecord.validation import MAX_ENTRY_TEXT
from carerecord.values import Labels
from carerecord.vocab import LawfulBasis, Sector, Sensitivity

# --- record_contribution -----------------------------------------------------------------


def test_a_contribution_is_labelled_from_the_authors_own_heading_and_the_protocol(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    occurred = world.clock.now - timedelta(days=1)

    result = None

    def command() -> object:
        nonlocal result
        result = world.app.record_contribution(
            NURSE.caller,
            client,
            heading="Mobility and falls",
            text="Two falls this month; walking frame issued.",
            occurred_at=occurred,
        )
        return result

    then = world.when(client, command)

    assert named(then) == ["ContributionRecorded"]
    assert result is not None
    assert payload(then[0]) == {
        "labels": Labels(
            entry_id=str(result.id),
            agency_id=NURSE.agency_id,
            sector=Sector.HEALTH,
            author_id=NURSE.practitioner_id,
            profession="district_nurse",
            category="mobility",
            heading="Mobility and falls",
            sensitivity=Sensitivity.NORMAL,
            lawful_basis=LawfulBasis.CONSENT,
            occurred_at=occurred,
        ),
        "text": "Two falls this month; walking frame issued.",
    }


def test_a_sensitive_category_gets_at_least_its_minimum_sensitivity(world: World) -> None:
    client = world.register(MH_PRACTITIONER)
    then = world.when(
        client,
        lambda: world.app.record_contribution(
            MH_PRACTITIONER.caller,
            client,
            heading="Mental state",
            text="Low mood.",
            occurred_at=world.clock.now,
        ),
    )
    assert then[0].labels.category == "mental_health"
    assert then[0].labels.sensitivity is Sensitivity.SENSITIVE


def test_a_contributor_may_label_more_sensitively_with_another_basis_and_an_exemption(
    world: World,
) -> None:
    client = world.register(GP)
    then = world.when(
        client,
        lambda: world.app.record_contribution(
            GP.caller,
            client,
            heading="Safeguarding",
            category="safeguarding",
            text="Concern discussed with the safeguarding lead.",
            occurred_at=world.clock.now,
            sensitivity="restricted",
            lawful_basis="safeguarding",
            subject_access_exemption="serious_harm",
        ),
    )
    labels = then[0].labels
    assert (labels.sensitivity, labels.lawful_basis, labels.subject_access_exemption) == (
        Sensitivity.RESTRICTED,
        LawfulBasis.SAFEGUARDING,
        "serious_harm",
    )


def test_text_is_stored_in_normal_form_c_up_to_the_documented_limit(world: World) -> None:
    client = world.register(GP)
    decomposed = "Cafe\u0301 visit. " + "x" * (MAX_ENTRY_TEXT - 12)
    assert len(decomposed) == MAX_ENTRY_TEXT + 1  # one over, until normalised
    assert len(unicodedata.normalize("NFC", decomposed)) == MAX_ENTRY_TEXT
    then = world.when(
        client,
        lambda: world.app.record_contribution(
            GP.caller, client, heading="History", text=decomposed, occurred_at=world.clock.now
        ),
    )
    assert then[0].text.startswith("Caf\u00e9 visit.")
    assert len(then[0].text) == MAX_ENTRY_TEXT


def test_a_practitioner_with_active_break_glass_may_contribute_until_it_expires(
    world: World,
) -> None:
    client = world.register(GP)
    world.app.break_glass(
        POLICE.caller, client, reason="Person in crisis on the bridge, immediate risk", minutes=30
    )
    then = world.when(
        client,
        lambda: world.app.record_contribution(
            POLICE.caller,
            client,
            heading="Incident summary",
            text="Detained under s136.",
            occurred_at=world.clock.now,
        ),
    )
    assert then[0].labels.author_id == POLICE.practitioner_id

    world.clock.advance(minutes=31)
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.record_contribution(
            POLICE.caller,
            client,
            heading="Incident summary",
            text="Later note.",
            occurred_at=world.clock.now,
        ),
    )


def record(world: World, client: str, by: object = GP, **overrides: object) -> object:
    fields: dict[str, object] = {
        "heading": "History",
        "text": "Seen today.",
        "occurred_at": world.clock.now - timedelta(minutes=5),
    }
    fields.update(overrides)
    return world.app.record_contribution(by.caller, client, **fields)  # type: ignore[attr-defined]


def test_contributing_without_a_care_relationship_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "NO_CARE_RELATIONSHIP", lambda: record(world, client, by=HOUSING, heading="Tenancy")
    )


def test_contributing_to_a_client_nobody_registered_is_refused(world: World) -> None:
    world.refused("NO_CARE_RELATIONSHIP", lambda: record(world, str(uuid4())))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"heading": "Tenancy"}, "UNKNOWN_HEADING"),
        ({"heading": "history"}, "UNKNOWN_HEADING"),
        ({"heading": ""}, "TEXT_EMPTY"),
        ({"heading": "H" * 81}, "TEXT_TOO_LONG"),
        ({"category": "astrology"}, "UNKNOWN_CATEGORY"),
        ({"category": "medication"}, "INVALID_INPUT"),
        ({"heading": "Mental state", "sensitivity": "normal"}, "SENSITIVITY_TOO_LOW"),
        ({"heading": "Sexual health", "sensitivity": "sensitive"}, "SENSITIVITY_TOO_LOW"),
        ({"sensitivity": "top-secret"}, "UNKNOWN_VALUE"),
        ({"lawful_basis": "because"}, "UNKNOWN_VALUE"),
        ({"subject_access_exemption": "embarrassing"}, "UNKNOWN_VALUE"),
        ({"text": ""}, "TEXT_EMPTY"),
        ({"text": " \n\t "}, "TEXT_EMPTY"),
        ({"text": "x" * (MAX_ENTRY_TEXT + 1)}, "TEXT_TOO_LONG"),
        ({"text": "x" * (MAX_ENTRY_TEXT * 5)}, "TEXT_TOO_LONG"),
        ({"text": SECRET + "\x00"}, "INVALID_TEXT"),
        ({"text": SECRET + "\x1b[31m"}, "INVALID_TEXT"),
        ({"text": SECRET + "\u202e"}, "INVALID_TEXT"),
        ({"text": SECRET + "\u2066"}, "INVALID_TEXT"),
        ({"text": SECRET + "\ud800"}, "INVALID_TEXT"),
        ({"text": SECRET + "\x85"}, "INVALID_TEXT"),
        ({"text": b"bytes are not text"}, "INVALID_INPUT"),
        ({"occurred_at": datetime(2026, 3, 1, 9, 0)}, "INVALID_DATE"),
        ({"occurred_at": "2026-03-01T09:00:00+00:00"}, "INVALID_DATE"),
        ({"occurred_at": datetime(1899, 12, 31, tzinfo=UTC)}, "INVALID_DATE"),
    ],
)
def test_contributing_with_bad_input_is_refused_without_echoing_it(
    world: World, overrides: dict[str, object], code: str
) -> None:
    client = world.register(GP)
    error = world.refused(code, lambda: record(world, client, **overrides))
    assert all(SECRET not in str(v) for v in error.fields.values())


def test_contributing_with_a_future_clinical_time_is_refused_beyond_the_clock_skew(
    world: World,
) -> None:
    client = world.register(GP)
    record(world, client, occurred_at=world.clock.now + timedelta(minutes=4))
    world.refused(
        "DATE_IN_FUTURE",
        lambda: record(world, client, occurred_at=world.clock.now + timedelta(minutes=6)),
    )


# --- amend_contribution ------------------------------------------------------------------


def test_the_author_amends_their_entry_as_a_new_fact_on_top_of_the_old(world: World) -> None:
    client = world.register(GP)
    entry = world.contribute(client, GP, text="BP 150/90.")
    world.clock.advance(hours=2)

    then = world.when(
        client,
        lambda: world.app.amend_contribution(
            GP.caller, client, entry, text="BP 130/90.", reason="Transcription error"
        ),
    )

    assert named(then) == ["ContributionAmended"]
    assert payload(then[0]) == {
        "entry_id": entry,
        "text": "BP 130/90.",
        "reason": "Transcription error",
        "by": GP.practitioner_id,
        "agency_id": GP.agency_id,
        "at": world.clock.now,
    }


def test_amending_someone_elses_entry_is_refused_even_in_the_same_practice(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, GP_PARTNER)
    entry = world.contribute(client, GP)
    world.refused(
        "NOT_AUTHOR",
        lambda: world.app.amend_contribution(
            GP_PARTNER.caller, client, entry, text="Changed.", reason="Tidy up"
        ),
    )


def test_amending_an_entry_that_does_not_exist_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "CONTRIBUTION_NOT_FOUND",
        lambda: world.app.amend_contribution(
            GP.caller, client, str(uuid4()), text="Changed.", reason="Tidy up"
        ),
    )


def test_an_alert_is_not_an_entry_that_can_be_amended(world: World) -> None:
    client = world.register(GP)
    alert = world.app.raise_alert(
        GP.caller, client, kind="access_needs", severity="low", summary="Uses BSL."
    ).id
    world.refused(
        "CONTRIBUTION_NOT_FOUND",
        lambda: world.app.amend_contribution(
            GP.caller, client, alert, text="Changed.", reason="Tidy up"
        ),
    )


def test_amending_an_entry_marked_entered_in_error_is_refused(world: World) -> None:
    client = world.register(GP)
    entry = world.contribute(client, GP)
    world.app.enter_contribution_in_error(GP.caller, client, entry, reason="Wrong patient")
    world.refused(
        "CONTRIBUTION_NOT_CURRENT",
        lambda: world.app.amend_contribution(
            GP.caller, client, entry, text="Changed.", reason="Tidy up"
        ),
    )


@pytest.mark.parametrize(
    ("entry", "text", "reason", "code"),
    [
        ("not-a-uuid", "Changed.", "Tidy up", "INVALID_IDENTIFIER"),
        (None, "", "Tidy up", "TEXT_EMPTY"),
        (None, "x" * (MAX_ENTRY_TEXT + 1), "Tidy up", "TEXT_TOO_LONG"),
        (None, "bidi \u202d", "Tidy up", "INVALID_TEXT"),
        (None, "Changed.", "", "TEXT_EMPTY"),
        (None, "Changed.", "two\nlines", "INVALID_TEXT"),
    ],
)
def test_amending_with_bad_input_is_refused(
    world: World, entry: str | None, text: str, reason: str, code: str
) -> None:
    client = world.register(GP)
    real = world.contribute(client, GP)
    world.refused(
        code,
        lambda: world.app.amend_contribution(
            GP.caller, client, entry or real, text=text, reason=reason
        ),
    )


def test_amending_at_a_future_time_is_refused(world: World) -> None:
    client = world.register(GP)
    entry = world.contribute(client, GP)
    world.refused(
        "DATE_IN_FUTURE",
        lambda: world.app.amend_contribution(
            GP.caller,
            client,
            entry,
            text="Changed.",
            reason="Tidy up",
            at=world.clock.now + timedelta(days=1),
        ),
    )


# --- enter_contribution_in_error ---------------------------------------------------------


def test_the_author_marks_their_entry_entered_in_error_and_it_stays_in_the_log(
    world: World,
) -> None:
    client = world.register(GP)
    entry = world.contribute(client, GP)
    earlier = world.clock.now - timedelta(minutes=30)

    then = world.when(
        client,
        lambda: world.app.enter_contribution_in_error(
            GP.caller, client, entry, reason="Recorded on the wrong patient", at=earlier
        ),
    )

    assert named(then) == ["ContributionEnteredInError"]
    assert payload(then[0]) == {
        "entry_id": entry,
        "reason": "Recorded on the wrong patient",
        "by": GP.practitioner_id,
        "agency_id": GP.agency_id,
        "at": earlier,
    }
    assert world.app.load_client(client).contributions[entry].in_error


def test_marking_an_entry_in_error_twice_is_refused(world: World) -> None:
    client = world.register(GP)
    entry = world.contribute(client, GP)
    world.app.enter_contribution_in_error(GP.caller, client, entry, reason="Wrong patient")
    world.refused(
        "CONTRIBUTION_NOT_CURRENT",
        lambda: world.app.enter_contribution_in_error(
            GP.caller, client, entry, reason="Wrong patient"
        ),
    )


def test_marking_someone_elses_entry_in_error_is_refused(world: World) -> None:
    client = world.register(GP)
    world.relate(client, GP_PARTNER)
    entry = world.contribute(client, GP)
    world.refused(
        "NOT_AUTHOR",
        lambda: world.app.enter_contribution_in_error(
            GP_PARTNER.caller, client, entry, reason="Wrong patient"
        ),
    )


@pytest.mark.parametrize(
    ("entry", "reason", "code"),
    [
        ("12345", "Wrong patient", "INVALID_IDENTIFIER"),
        ("8c6b1e0e-1111-4444-8888-000000000000", "Wrong patient", "CONTRIBUTION_NOT_FOUND"),
        (None, "", "TEXT_EMPTY"),
        (None, "r" * 201, "TEXT_TOO_LONG"),
    ],
)
def test_marking_in_error_with_bad_input_is_refused(
    world: World, entry: str | None, reason: str, code: str
) -> None:
    client = world.register(GP)
    real = world.contribute(client, GP)
    world.refused(
        code,
        lambda: world.app.enter_contribution_in_error(
            GP.caller, client, entry or real, reason=reason
        ),
    )
