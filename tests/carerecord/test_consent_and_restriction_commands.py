"""Given / When / Then: consent decisions (granted, refused, withdrawn) and restrictions."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from care_world import (
    COMMUNITY_IG,
    GP,
    GP_PARTNER,
    HOUSING,
    MH_IG,
    NURSE,
    NURSE_2,
    POLICE_IG,
    SOCIAL_WORKER,
    World,
    named,
    payload,
)

from carerecord.values import AudienceSelector, ConsentDecision, ConsentScope, Restriction
from carerecord.vocab import (
    ConsentDecisionKind,
    ConsentGiver,
    Purpose,
    RestrictionRequester,
    Sector,
)

# --- record_consent ----------------------------------------------------------------------


def test_a_clients_consent_is_recorded_with_its_scope_and_who_gave_it(world: World) -> None:
    client = world.register(GP)
    decided = world.clock.now - timedelta(hours=1)
    expires = decided + timedelta(days=365)
    result = None

    def command() -> object:
        nonlocal result
        result = world.app.record_consent(
            GP.caller,
            client,
            decision="granted",
            categories=["physical_health", "medication"],
            sectors=["social_care"],
            agencies=["housing"],
            professions=["district_nurse"],
            purposes=["direct_care"],
            decided_at=decided,
            expires_at=expires,
        )
        return result

    then = world.when(client, command)

    assert named(then) == ["ConsentRecorded"]
    assert result is not None
    assert payload(then[0]) == {
        "decision": ConsentDecision(
            consent_id=str(result.id),
            decision=ConsentDecisionKind.GRANTED,
            scope=ConsentScope(
                categories=frozenset({"physical_health", "medication"}),
                audience=AudienceSelector(
                    agencies=frozenset({"housing"}),
                    sectors=frozenset({Sector.SOCIAL_CARE}),
                    professions=frozenset({"district_nurse"}),
                ),
                purposes=frozenset({Purpose.DIRECT_CARE}),
            ),
            given_by=ConsentGiver.CLIENT,
            representative_name=None,
            recorded_by=GP.practitioner_id,
            agency_id=GP.agency_id,
            decided_at=decided,
            expires_at=expires,
        )
    }
    assert world.app.load_client(client).sharing_state().consents == (then[0].decision,)


def test_a_representative_may_refuse_on_the_clients_behalf_for_everyone(world: World) -> None:
    client = world.register(GP)
    then = world.when(
        client,
        lambda: world.app.record_consent(
            GP.caller,
            client,
            decision="refused",
            given_by="lasting_power_of_attorney",
            representative_name="Jo Rowe",
            everyone=True,
        ),
    )
    decision = then[0].decision
    assert decision.decision is ConsentDecisionKind.REFUSED
    assert decision.given_by is ConsentGiver.LASTING_POWER_OF_ATTORNEY
    assert decision.representative_name == "Jo Rowe"
    assert decision.scope == ConsentScope(
        categories=None, audience=AudienceSelector(everyone=True), purposes=None
    )
    assert decision.decided_at == world.clock.now
    assert decision.expires_at is None


def consent(world: World, client: str, by: object = GP, **overrides: object) -> object:
    fields: dict[str, object] = {"decision": "granted", "everyone": True}
    fields.update(overrides)
    return world.app.record_consent(by.caller, client, **fields)  # type: ignore[attr-defined]


def test_recording_consent_without_a_care_relationship_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused("NO_CARE_RELATIONSHIP", lambda: consent(world, client, by=HOUSING))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"decision": "maybe"}, "UNKNOWN_VALUE"),
        ({"given_by": "neighbour", "representative_name": "Jo"}, "UNKNOWN_VALUE"),
        ({"given_by": "parent"}, "INVALID_INPUT"),
        ({"representative_name": "Jo Rowe"}, "INVALID_INPUT"),
        (
            {"given_by": "parent", "representative_name": "J" * 101},
            "TEXT_TOO_LONG",
        ),
        ({"categories": ["astrology"]}, "UNKNOWN_CATEGORY"),
        ({"categories": []}, "INVALID_INPUT"),
        ({"categories": "physical_health"}, "INVALID_INPUT"),
        ({"categories": ["physical_health"] * 51}, "TOO_LARGE"),
        ({"purposes": ["audit"]}, "UNKNOWN_VALUE"),
        ({"purposes": ["subject_access"]}, "UNKNOWN_VALUE"),
        ({"purposes": ["fun"]}, "UNKNOWN_VALUE"),
        ({"purposes": []}, "UNKNOWN_VALUE"),
        ({"everyone": False}, "INVALID_INPUT"),
        ({"everyone": False, "sectors": ["army"]}, "UNKNOWN_VALUE"),
        ({"everyone": False, "professions": ["wizard"]}, "UNKNOWN_PROFESSION"),
        ({"everyone": False, "agencies": ["no-such-agency"]}, "AGENCY_NOT_FOUND"),
        ({"everyone": False, "agencies": ["Not An Agency"]}, "INVALID_IDENTIFIER"),
        ({"everyone": False, "agencies": [f"a{i:02d}" for i in range(51)]}, "TOO_LARGE"),
        ({"decided_at": datetime(2026, 3, 1, 9, 0)}, "INVALID_DATE"),
    ],
)
def test_recording_consent_with_bad_input_is_refused(
    world: World, overrides: dict[str, object], code: str
) -> None:
    client = world.register(GP)
    world.refused(code, lambda: consent(world, client, **overrides))


def test_consent_decided_in_the_future_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "DATE_IN_FUTURE",
        lambda: consent(world, client, decided_at=world.clock.now + timedelta(hours=1)),
    )


@pytest.mark.parametrize(
    "expires_in", [timedelta(0), timedelta(days=-1), timedelta(days=366 * 10 + 1)]
)
def test_consent_must_expire_after_it_was_decided_and_within_ten_years(
    world: World, expires_in: timedelta
) -> None:
    client = world.register(GP)
    decided = world.clock.now - timedelta(days=1)
    world.refused(
        "INVALID_DATE",
        lambda: consent(world, client, decided_at=decided, expires_at=decided + expires_in),
    )


# --- withdraw_consent --------------------------------------------------------------------


def test_withdrawing_consent_records_who_withdrew_it_and_takes_it_out_of_force(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    consent_id = str(consent(world, client).id)  # type: ignore[attr-defined]

    then = world.when(
        client,
        lambda: world.app.withdraw_consent(
            NURSE.caller, client, consent_id, reason="Client changed their mind"
        ),
    )

    assert named(then) == ["ConsentWithdrawn"]
    assert payload(then[0]) == {
        "consent_id": consent_id,
        "reason": "Client changed their mind",
        "by": NURSE.practitioner_id,
        "agency_id": NURSE.agency_id,
        "at": world.clock.now,
    }
    assert world.app.load_client(client).sharing_state().consents == ()


def test_withdrawing_consent_twice_is_refused(world: World) -> None:
    client = world.register(GP)
    consent_id = str(consent(world, client).id)  # type: ignore[attr-defined]
    world.app.withdraw_consent(GP.caller, client, consent_id, reason="Changed mind")
    world.refused(
        "CONSENT_NOT_ACTIVE",
        lambda: world.app.withdraw_consent(GP.caller, client, consent_id, reason="Again"),
    )


def test_withdrawing_a_consent_the_record_never_had_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "CONSENT_NOT_ACTIVE",
        lambda: world.app.withdraw_consent(GP.caller, client, str(uuid4()), reason="Changed"),
    )


def test_withdrawing_consent_without_a_care_relationship_is_refused(world: World) -> None:
    client = world.register(GP)
    consent_id = str(consent(world, client).id)  # type: ignore[attr-defined]
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.withdraw_consent(HOUSING.caller, client, consent_id, reason="Asked"),
    )


@pytest.mark.parametrize(("consent_id", "reason"), [("abc", "Changed"), (None, "")])
def test_withdrawing_consent_with_bad_input_is_refused(
    world: World, consent_id: str | None, reason: str
) -> None:
    client = world.register(GP)
    real = str(consent(world, client).id)  # type: ignore[attr-defined]
    code = "INVALID_IDENTIFIER" if consent_id else "TEXT_EMPTY"
    world.refused(
        code,
        lambda: world.app.withdraw_consent(GP.caller, client, consent_id or real, reason=reason),
    )


# --- place_restriction -------------------------------------------------------------------


def test_a_client_may_have_any_agencys_entry_sealed_from_named_audiences(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    entry = world.contribute(client, GP)
    result = None

    def command() -> object:
        nonlocal result
        result = world.app.place_restriction(
            NURSE.caller,
            client,
            requested_by="client",
            reason="Client asked for this to be private",
            entry_id=entry,
            sectors=["housing"],
            agencies=["police"],
        )
        return result

    then = world.when(client, command)

    assert named(then) == ["RestrictionPlaced"]
    assert result is not None
    assert payload(then[0]) == {
        "restriction": Restriction(
            restriction_id=str(result.id),
            entry_id=entry,
            category=None,
            hidden_from=AudienceSelector(
                agencies=frozenset({"police"}), sectors=frozenset({Sector.HOUSING})
            ),
            requested_by=RestrictionRequester.CLIENT,
            placed_by=NURSE.practitioner_id,
            agency_id=NURSE.agency_id,
            placed_at=world.clock.now,
        ),
        "reason": "Client asked for this to be private",
    }


def test_a_client_may_have_a_whole_category_sealed_from_everyone_else(world: World) -> None:
    client = world.register(GP)
    then = world.when(
        client,
        lambda: world.app.place_restriction(
            GP.caller,
            client,
            requested_by="client",
            reason="Client request",
            category="substance_use",
            everyone=True,
        ),
    )
    restriction = then[0].restriction
    assert (restriction.category, restriction.entry_id) == ("substance_use", None)
    assert restriction.hidden_from == AudienceSelector(everyone=True)


def test_a_contributor_may_seal_an_entry_their_own_agency_contributed(world: World) -> None:
    client = world.register(GP)
    world.relate(client, GP_PARTNER)
    entry = world.contribute(client, GP)
    then = world.when(
        client,
        lambda: world.app.place_restriction(
            GP_PARTNER.caller,
            client,
            requested_by="contributor",
            reason="Third-party information",
            entry_id=entry,
            everyone=True,
        ),
    )
    assert then[0].restriction.requested_by is RestrictionRequester.CONTRIBUTOR


def test_a_contributor_may_not_seal_another_agencys_entry(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    entry = world.contribute(client, GP)
    error = world.refused(
        "NOT_PERMITTED",
        lambda: world.app.place_restriction(
            NURSE.caller,
            client,
            requested_by="contributor",
            reason="Not ours",
            entry_id=entry,
            everyone=True,
        ),
    )
    assert error.fields["reason"] == "not_contributor"


def test_a_contributor_may_not_seal_a_whole_category(world: World) -> None:
    client = world.register(GP)
    error = world.refused(
        "NOT_PERMITTED",
        lambda: world.app.place_restriction(
            GP.caller,
            client,
            requested_by="contributor",
            reason="Too broad",
            category="physical_health",
            everyone=True,
        ),
    )
    assert error.fields["reason"] == "contributor_entry_only"


def test_sealing_an_entry_the_record_does_not_have_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "CONTRIBUTION_NOT_FOUND",
        lambda: world.app.place_restriction(
            GP.caller,
            client,
            requested_by="client",
            reason="Private",
            entry_id=str(uuid4()),
            everyone=True,
        ),
    )


def test_placing_a_restriction_without_a_care_relationship_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.place_restriction(
            HOUSING.caller,
            client,
            requested_by="client",
            reason="Private",
            category="housing",
            everyone=True,
        ),
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"category": None}, "INVALID_INPUT"),
        ({"entry_id": "ENTRY"}, "INVALID_INPUT"),
        ({"category": "astrology"}, "UNKNOWN_CATEGORY"),
        ({"category": None, "entry_id": "not-a-uuid"}, "INVALID_IDENTIFIER"),
        ({"requested_by": "the-neighbour"}, "UNKNOWN_VALUE"),
        ({"everyone": False}, "INVALID_INPUT"),
        ({"everyone": False, "agencies": ["no-such-agency"]}, "AGENCY_NOT_FOUND"),
        ({"everyone": False, "professions": ["wizard"]}, "UNKNOWN_PROFESSION"),
        ({"reason": ""}, "TEXT_EMPTY"),
        ({"at": datetime(2026, 3, 1, 9, 0)}, "INVALID_DATE"),
    ],
)
def test_placing_a_restriction_with_bad_input_is_refused(
    world: World, overrides: dict[str, object], code: str
) -> None:
    client = world.register(GP)
    entry = world.contribute(client, GP)
    fields: dict[str, object] = {
        "requested_by": "client",
        "reason": "Private",
        "category": "physical_health",
        "everyone": True,
    }
    fields.update(overrides)
    if fields.get("entry_id") == "ENTRY":
        fields["entry_id"] = entry
    world.refused(code, lambda: world.app.place_restriction(GP.caller, client, **fields))  # type: ignore[arg-type]


# --- lift_restriction --------------------------------------------------------------------


def seal(world: World, client: str, by: object = GP) -> str:
    result = world.app.place_restriction(
        by.caller,  # type: ignore[attr-defined]
        client,
        requested_by="client",
        reason="Private",
        category="physical_health",
        everyone=True,
    )
    assert result.id is not None
    return result.id


def test_the_placing_agency_lifts_its_restriction(world: World) -> None:
    client = world.register(GP)
    world.relate(client, GP_PARTNER)
    restriction = seal(world, client, GP)

    then = world.when(
        client,
        lambda: world.app.lift_restriction(
            GP_PARTNER.caller, client, restriction, reason="Client withdrew the request"
        ),
    )

    assert named(then) == ["RestrictionLifted"]
    assert payload(then[0]) == {
        "restriction_id": restriction,
        "reason": "Client withdrew the request",
        "by": GP_PARTNER.practitioner_id,
        "agency_id": GP_PARTNER.agency_id,
        "at": world.clock.now,
    }
    assert world.app.load_client(client).sharing_state().restrictions == ()


def test_an_information_governance_officer_lifts_a_restriction_without_a_relationship(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    restriction = seal(world, client, NURSE)
    then = world.when(
        client,
        lambda: world.app.lift_restriction(
            COMMUNITY_IG.caller, client, restriction, reason="Reviewed by IG"
        ),
    )
    assert then[0].by == COMMUNITY_IG.practitioner_id


def test_another_agencys_information_governance_officer_may_not_lift_a_restriction(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    restriction = seal(world, client, NURSE)  # placed by community health
    for officer in (POLICE_IG, MH_IG):  # no standing towards the client: told nothing more
        world.refused(
            "NO_CARE_RELATIONSHIP",
            lambda officer=officer: world.app.lift_restriction(
                officer.caller, client, restriction, reason="Reviewed by IG"
            ),
        )
    assert len(world.app.load_client(client).sharing_state().restrictions) == 1


def test_another_agency_may_not_lift_a_restriction(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    restriction = seal(world, client, GP)
    world.refused(
        "NOT_PERMITTED",
        lambda: world.app.lift_restriction(NURSE.caller, client, restriction, reason="Tidy"),
    )


def test_the_placing_agency_needs_a_care_relationship_to_lift_it(world: World) -> None:
    client = world.register(NURSE)
    restriction = seal(world, client, NURSE)
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.lift_restriction(NURSE_2.caller, client, restriction, reason="Tidy"),
    )


def test_lifting_a_restriction_twice_is_refused(world: World) -> None:
    client = world.register(GP)
    restriction = seal(world, client, GP)
    world.app.lift_restriction(GP.caller, client, restriction, reason="Lifted")
    world.refused(
        "RESTRICTION_NOT_ACTIVE",
        lambda: world.app.lift_restriction(GP.caller, client, restriction, reason="Again"),
    )


@pytest.mark.parametrize(
    ("restriction", "reason", "code"),
    [
        ("0" * 31, "Lifted", "INVALID_IDENTIFIER"),
        ("3d5c1cc7-0000-4000-8000-000000000000", "Lifted", "RESTRICTION_NOT_ACTIVE"),
        (None, "\u2067", "INVALID_TEXT"),
        (None, "", "TEXT_EMPTY"),
    ],
)
def test_lifting_with_bad_input_is_refused(
    world: World, restriction: str | None, reason: str, code: str
) -> None:
    client = world.register(SOCIAL_WORKER)
    real = seal(world, client, SOCIAL_WORKER)
    world.refused(
        code,
        lambda: world.app.lift_restriction(
            SOCIAL_WORKER.caller, client, restriction or real, reason=reason
        ),
    )
