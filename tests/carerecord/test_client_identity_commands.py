"""Given / When / Then: registering clients, finding them by identifier, correcting who they are."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

import pytest
from care_world import (
    GP,
    HOUSING,
    NURSE,
    SECRET,
    SOCIAL_WORKER,
    World,
    fresh_local_id,
    fresh_nhs_number,
    named,
    payload,
    stored_events,
)

from carerecord.identifier_claim import IdentifierClaim
from carerecord.values import CareRelationship, Demographics

BORN = date(1948, 5, 17)


def register(world: World, **overrides: object) -> object:
    fields: dict[str, object] = {
        "nhs_number": fresh_nhs_number(),
        "given_name": "Alex",
        "family_name": "Rowe",
        "date_of_birth": BORN,
    }
    fields.update(overrides)
    return world.app.register_client(GP.caller, **fields)  # type: ignore[arg-type]


# --- register_client ---------------------------------------------------------------------


def test_registering_a_client_stores_who_they_are_and_gives_the_registrar_a_relationship(
    world: World,
) -> None:
    nhs = fresh_nhs_number()
    result = world.app.register_client(
        GP.caller,
        nhs_number=f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}",
        local_ids={"north-shire": "NS1001"},
        given_name="  Alex ",
        family_name="Rowe",
        date_of_birth=BORN,
        gender="female",
        postcode="ns1 4ab",
        preferred_language="Welsh",
        phone="01632 960123",
    )

    events = stored_events(world.app, str(result.id))
    assert named(events) == ["Registered", "CareRelationshipStarted"]
    registered, started = (payload(e) for e in events)
    assert registered == {
        "nhs_number": nhs,
        "local_ids": {"north-shire": "NS1001"},
        "demographics": Demographics(
            "Alex", "Rowe", BORN, "female", "NS1 4AB", "Welsh", "01632 960123"
        ),
        "by": GP.practitioner_id,
        "agency_id": GP.agency_id,
        "at": world.clock.now,
    }
    relationship = started["relationship"]
    assert relationship == CareRelationship(
        relationship_id=relationship.relationship_id,
        practitioner_id=GP.practitioner_id,
        team_id=None,
        agency_id=GP.agency_id,
        profession="gp",
        reason="Registered the client",
        started_by=GP.practitioner_id,
        started_at=world.clock.now,
    )
    assert result.position == world.app.recorder.max_notification_id()


def test_registering_a_client_claims_each_identifier_so_an_exact_lookup_finds_them(
    world: World,
) -> None:
    nhs, local = fresh_nhs_number(), fresh_local_id()
    client = str(register(world, nhs_number=nhs, local_ids={"north-shire": local}).id)  # type: ignore[attr-defined]

    assert world.app.lookup_client(nhs_number=nhs) == UUID(client)
    assert world.app.lookup_client(authority="north-shire", local_id=local) == UUID(client)
    claim = world.app.repository.get(
        world.app._claim_ids(nhs, {})[0]  # the claim is keyed by a keyed hash
    )
    assert isinstance(claim, IdentifierClaim)
    assert claim.client_id == client
    assert nhs not in str(claim.id)


def test_a_client_may_be_registered_with_a_local_authority_id_alone(world: World) -> None:
    local = fresh_local_id()
    result = world.app.register_client(
        SOCIAL_WORKER.caller,
        local_ids={"north-shire": local},
        given_name="Sam",
        family_name="Lee",
        date_of_birth=date(2015, 1, 2),
    )
    (registered, _) = stored_events(world.app, str(result.id))
    assert registered.nhs_number is None
    assert registered.local_ids == {"north-shire": local}


def test_registering_an_nhs_number_already_held_is_refused_as_a_duplicate(world: World) -> None:
    nhs = fresh_nhs_number()
    register(world, nhs_number=nhs)
    world.refused("DUPLICATE_IDENTIFIER", lambda: register(world, nhs_number=nhs))


def test_a_duplicate_local_id_refuses_the_whole_registration_even_with_a_new_nhs_number(
    world: World,
) -> None:
    local = fresh_local_id()
    register(world, local_ids={"north-shire": local})
    new_nhs = fresh_nhs_number()
    world.refused(
        "DUPLICATE_IDENTIFIER",
        lambda: register(world, nhs_number=new_nhs, local_ids={"north-shire": local}),
    )
    assert world.app.lookup_client(nhs_number=new_nhs) is None


def test_registering_without_any_identifier_is_refused(world: World) -> None:
    world.refused("INVALID_INPUT", lambda: register(world, nhs_number=None))


def test_registering_with_more_than_ten_local_ids_is_refused(world: World) -> None:
    many = {f"authority-{i}": f"L{i}" for i in range(11)}
    world.refused("TOO_LARGE", lambda: register(world, local_ids=many))


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("nhs_number", "9434765918", "INVALID_NHS_NUMBER"),
        ("local_ids", {"North Shire": "NS1"}, "INVALID_IDENTIFIER"),
        ("local_ids", {"north-shire": "NS 1"}, "INVALID_IDENTIFIER"),
        ("given_name", "   ", "TEXT_EMPTY"),
        ("family_name", "R" * 101, "TEXT_TOO_LONG"),
        ("family_name", "Rowe\u202e", "INVALID_TEXT"),
        ("given_name", "Alex\nRowe", "INVALID_TEXT"),
        ("gender", "unspecified-" + SECRET[:5], "UNKNOWN_VALUE"),
        ("postcode", "12345", "INVALID_INPUT"),
        ("phone", "call me", "INVALID_INPUT"),
        ("date_of_birth", "1948-05-17", "INVALID_DATE"),
        ("date_of_birth", datetime(1948, 5, 17), "INVALID_DATE"),
        ("date_of_birth", date(1879, 12, 31), "INVALID_DATE"),
        ("preferred_language", "x" * 41, "TEXT_TOO_LONG"),
        ("relationship_reason", "", "TEXT_EMPTY"),
    ],
)
def test_registering_with_bad_demographics_or_identifiers_is_refused(
    world: World, field: str, value: object, code: str
) -> None:
    error = world.refused(code, lambda: register(world, **{field: value}))
    assert error.fields["field"] is not None


def test_registering_a_client_born_in_the_future_is_refused(world: World) -> None:
    tomorrow = world.clock.now.date() + timedelta(days=1)
    world.refused("DATE_IN_FUTURE", lambda: register(world, date_of_birth=tomorrow))


# --- lookup_client ------------------------------------------------------------------------


def test_looking_up_an_identifier_nobody_holds_finds_nobody(world: World) -> None:
    assert world.app.lookup_client(nhs_number=fresh_nhs_number()) is None
    assert world.app.lookup_client(authority="north-shire", local_id=fresh_local_id()) is None


def test_lookup_matches_exact_identifiers_only_never_partially(world: World) -> None:
    nhs = fresh_nhs_number()
    register(world, nhs_number=nhs)
    local = fresh_local_id()
    register(world, local_ids={"north-shire": local})

    assert world.app.lookup_client(authority="east-vale", local_id=local) is None
    assert world.app.lookup_client(authority="north-shire", local_id=local[:-1]) is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"nhs_number": "1234567890"}, "INVALID_NHS_NUMBER"),
        ({}, "INVALID_INPUT"),
        ({"authority": "north-shire"}, "INVALID_INPUT"),
        ({"authority": "North Shire", "local_id": "NS1"}, "INVALID_IDENTIFIER"),
        ({"authority": "north-shire", "local_id": "NS 1"}, "INVALID_IDENTIFIER"),
    ],
)
def test_a_malformed_lookup_is_refused_with_a_coded_error(
    world: World, query: dict[str, str], code: str
) -> None:
    world.refused(code, lambda: world.app.lookup_client(**query))


# --- correct_demographics ---------------------------------------------------------------


def correct(world: World, client: str, by: object = GP, **overrides: object) -> object:
    fields: dict[str, object] = {
        "reason": "Name spelt wrongly at registration",
        "given_name": "Alexa",
        "family_name": "Rowe",
        "date_of_birth": BORN,
    }
    fields.update(overrides)
    return world.app.correct_demographics(by.caller, client, **fields)  # type: ignore[attr-defined]


def test_correcting_demographics_adds_a_new_fact_and_keeps_the_old(world: World) -> None:
    client = world.register(GP, given_name="Alex", family_name="Rowe", date_of_birth=BORN)
    world.clock.advance(days=2)
    occurred = world.clock.now - timedelta(hours=3)

    then = world.when(client, lambda: correct(world, client, at=occurred, postcode="NS2 9ZZ"))

    assert named(then) == ["DemographicsCorrected"]
    assert payload(then[0]) == {
        "demographics": Demographics("Alexa", "Rowe", BORN, postcode="NS2 9ZZ"),
        "reason": "Name spelt wrongly at registration",
        "by": GP.practitioner_id,
        "agency_id": GP.agency_id,
        "at": occurred,
    }
    first = stored_events(world.app, client)[0]
    assert first.demographics.given_name == "Alex"
    assert world.app.client_identity(UUID(client)).given_name == "Alexa"


def test_correcting_demographics_without_a_care_relationship_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused("NO_CARE_RELATIONSHIP", lambda: correct(world, client, by=HOUSING))


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("reason", "", "TEXT_EMPTY"),
        ("reason", "x" * 201, "TEXT_TOO_LONG"),
        ("given_name", "", "TEXT_EMPTY"),
        ("gender", "robot", "UNKNOWN_VALUE"),
        ("date_of_birth", date(3000, 1, 1), "DATE_IN_FUTURE"),
        ("at", datetime(2026, 3, 1, 9, 0), "INVALID_DATE"),
    ],
)
def test_correcting_demographics_with_bad_input_is_refused(
    world: World, field: str, value: object, code: str
) -> None:
    client = world.register(GP)
    world.refused(code, lambda: correct(world, client, **{field: value}))


def test_correcting_demographics_at_a_future_time_is_refused(world: World) -> None:
    client = world.register(GP)
    later = world.clock.now + timedelta(hours=1)
    world.refused("DATE_IN_FUTURE", lambda: correct(world, client, at=later))


# --- record_local_identifier -------------------------------------------------------------


def test_recording_a_local_identifier_stores_it_and_claims_it(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    local = fresh_local_id()

    then = world.when(
        client,
        lambda: world.app.record_local_identifier(
            SOCIAL_WORKER.caller, client, authority="north-shire", local_id=local
        ),
    )

    assert named(then) == ["LocalIdentifierRecorded"]
    assert payload(then[0]) == {
        "authority": "north-shire",
        "local_id": local,
        "by": SOCIAL_WORKER.practitioner_id,
        "agency_id": SOCIAL_WORKER.agency_id,
        "at": world.clock.now,
    }
    assert world.app.lookup_client(authority="north-shire", local_id=local) == UUID(client)


def test_recording_a_second_id_from_the_same_authority_is_refused(world: World) -> None:
    client = world.register(GP, local_ids={"north-shire": fresh_local_id()})
    world.refused(
        "ALREADY_EXISTS",
        lambda: world.app.record_local_identifier(
            GP.caller, client, authority="north-shire", local_id=fresh_local_id()
        ),
    )


def test_recording_a_local_id_another_client_holds_is_refused_as_a_duplicate(
    world: World,
) -> None:
    local = fresh_local_id()
    world.register(GP, local_ids={"east-vale": local})
    client = world.register(GP)
    world.refused(
        "DUPLICATE_IDENTIFIER",
        lambda: world.app.record_local_identifier(
            GP.caller, client, authority="east-vale", local_id=local
        ),
    )


def test_recording_a_local_identifier_without_a_care_relationship_is_refused(
    world: World,
) -> None:
    client = world.register(GP)
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.record_local_identifier(
            NURSE.caller, client, authority="north-shire", local_id=fresh_local_id()
        ),
    )


@pytest.mark.parametrize(
    ("authority", "local_id"),
    [("North Shire", "NS1"), ("north-shire", "NS 1"), ("north-shire", ""), ("x", "NS1")],
)
def test_recording_a_malformed_local_identifier_is_refused(
    world: World, authority: str, local_id: str
) -> None:
    client = world.register(GP)
    world.refused(
        "INVALID_IDENTIFIER",
        lambda: world.app.record_local_identifier(
            GP.caller, client, authority=authority, local_id=local_id
        ),
    )
