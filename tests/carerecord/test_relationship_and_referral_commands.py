"""Given / When / Then: care relationships (who is involved) and referrals between agencies."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from care_world import (
    GP,
    GP_PARTNER,
    HOUSING,
    LEAVER,
    NURSE,
    NURSE_2,
    NURSE_LEAD,
    OTHER_GP,
    SOCIAL_WORKER,
    World,
    has_left_service,
    named,
    payload,
)

from carerecord.values import CareRelationship
from carerecord.vocab import Urgency

# --- start_care_relationship -------------------------------------------------------------


def test_a_practitioner_declares_their_own_care_relationship(world: World) -> None:
    client = world.register(GP)
    result = None

    def command() -> object:
        nonlocal result
        result = world.app.start_care_relationship(
            NURSE.caller, client, reason="Referred for wound care"
        )
        return result

    then = world.when(client, command)

    assert named(then) == ["CareRelationshipStarted"]
    assert result is not None
    assert payload(then[0]) == {
        "relationship": CareRelationship(
            relationship_id=str(result.id),
            practitioner_id=NURSE.practitioner_id,
            team_id=None,
            agency_id=NURSE.agency_id,
            profession="district_nurse",
            reason="Referred for wound care",
            started_by=NURSE.practitioner_id,
            started_at=world.clock.now,
        )
    }


def test_a_team_lead_allocates_a_colleague_who_then_stands_in_a_care_relationship(
    world: World,
) -> None:
    client = world.register(GP)
    then = world.when(
        client,
        lambda: world.app.start_care_relationship(
            NURSE_LEAD.caller, client, reason="Allocated", practitioner_id=NURSE.practitioner_id
        ),
    )
    relationship = then[0].relationship
    assert (relationship.practitioner_id, relationship.profession, relationship.started_by) == (
        NURSE.practitioner_id,
        "district_nurse",
        NURSE_LEAD.practitioner_id,
    )
    world.contribute(client, NURSE, heading="Wound care")


def test_a_team_member_starts_a_relationship_for_their_team_and_every_member_may_act(
    world: World,
) -> None:
    client = world.register(GP)
    then = world.when(
        client,
        lambda: world.app.start_care_relationship(
            NURSE.caller, client, reason="Team caseload", team_id="dn-north"
        ),
    )
    relationship = then[0].relationship
    assert (relationship.practitioner_id, relationship.team_id, relationship.profession) == (
        None,
        "dn-north",
        None,
    )
    world.contribute(client, NURSE_2, heading="Wound care")


def test_a_team_lead_may_allocate_a_team_they_are_not_in(world: World) -> None:
    client = world.register(GP)
    then = world.when(
        client,
        lambda: world.app.start_care_relationship(
            NURSE_LEAD.caller, client, reason="Team caseload", team_id="dn-north"
        ),
    )
    assert then[0].relationship.team_id == "dn-north"


def test_a_plain_practitioner_may_not_allocate_a_colleague(world: World) -> None:
    client = world.register(GP)
    error = world.refused(
        "NOT_PERMITTED",
        lambda: world.app.start_care_relationship(
            NURSE.caller, client, reason="Allocated", practitioner_id=NURSE_2.practitioner_id
        ),
    )
    assert error.fields["reason"] == "not_allocator"


def test_a_plain_practitioner_may_not_allocate_a_team_they_are_not_in(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "NOT_PERMITTED",
        lambda: world.app.start_care_relationship(
            GP.caller, client, reason="Allocated", team_id="dn-north"
        ),
    )


def test_a_practitioner_of_another_agency_is_not_a_colleague(world: World) -> None:
    client = world.register(GP)
    error = world.refused(
        "NOT_PERMITTED",
        lambda: world.app.start_care_relationship(
            NURSE_LEAD.caller, client, reason="Allocated", practitioner_id=OTHER_GP.practitioner_id
        ),
    )
    assert error.fields["reason"] == "not_a_colleague"


def test_a_colleague_who_left_the_service_cannot_be_allocated(world: World) -> None:
    client = world.register(GP)
    has_left_service(world.app, LEAVER.practitioner_id)
    world.refused(
        "NOT_PERMITTED",
        lambda: world.app.start_care_relationship(
            GP.caller, client, reason="Allocated", practitioner_id=LEAVER.practitioner_id
        ),
    )


def test_allocating_a_practitioner_nobody_enrolled_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "PRACTITIONER_NOT_FOUND",
        lambda: world.app.start_care_relationship(
            NURSE_LEAD.caller, client, reason="Allocated", practitioner_id="nobody-here"
        ),
    )


def test_a_second_active_relationship_for_the_same_practitioner_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "RELATIONSHIP_ALREADY_ACTIVE",
        lambda: world.app.start_care_relationship(GP.caller, client, reason="Again"),
    )


def test_a_second_active_relationship_for_the_same_team_is_refused(world: World) -> None:
    client = world.register(GP)
    world.app.start_care_relationship(NURSE.caller, client, reason="Team", team_id="dn-north")
    world.refused(
        "RELATIONSHIP_ALREADY_ACTIVE",
        lambda: world.app.start_care_relationship(
            NURSE_2.caller, client, reason="Team", team_id="dn-north"
        ),
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"practitioner_id": "nurse-bo", "team_id": "dn-north"}, "INVALID_INPUT"),
        ({"team_id": "DN North"}, "INVALID_IDENTIFIER"),
        ({"practitioner_id": "Nurse Bo"}, "INVALID_IDENTIFIER"),
        ({"reason": ""}, "TEXT_EMPTY"),
        ({"reason": "r" * 201}, "TEXT_TOO_LONG"),
        ({"at": datetime(2026, 3, 1, 9, 0)}, "INVALID_DATE"),
    ],
)
def test_starting_a_relationship_with_bad_input_is_refused(
    world: World, overrides: dict[str, object], code: str
) -> None:
    client = world.register(GP)
    fields: dict[str, object] = {"reason": "Allocated"}
    fields.update(overrides)
    world.refused(
        code,
        lambda: world.app.start_care_relationship(NURSE_LEAD.caller, client, **fields),  # type: ignore[arg-type]
    )


def test_starting_a_relationship_in_the_future_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "DATE_IN_FUTURE",
        lambda: world.app.start_care_relationship(
            NURSE.caller, client, reason="Planned", at=world.clock.now + timedelta(days=7)
        ),
    )


# --- end_care_relationship ---------------------------------------------------------------


def relationship_of(world: World, client: str, practitioner_id: str | None = None) -> str:
    record = world.app.load_client(client)
    return next(
        r.relationship_id
        for r in record.relationships.values()
        if practitioner_id is None or r.practitioner_id == practitioner_id
    )


def test_a_practitioner_ends_their_own_relationship_and_loses_standing(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    relationship = relationship_of(world, client, NURSE.practitioner_id)

    then = world.when(
        client,
        lambda: world.app.end_care_relationship(
            NURSE.caller, client, relationship, reason="Discharged from caseload"
        ),
    )

    assert named(then) == ["CareRelationshipEnded"]
    assert payload(then[0]) == {
        "relationship_id": relationship,
        "reason": "Discharged from caseload",
        "by": NURSE.practitioner_id,
        "agency_id": NURSE.agency_id,
        "at": world.clock.now,
    }
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.contribute(client, NURSE, heading="Wound care"),
    )


def test_a_team_lead_ends_a_colleagues_relationship(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    relationship = relationship_of(world, client, NURSE.practitioner_id)
    then = world.when(
        client,
        lambda: world.app.end_care_relationship(
            NURSE_LEAD.caller, client, relationship, reason="Reallocated"
        ),
    )
    assert then[0].by == NURSE_LEAD.practitioner_id


def test_a_team_member_ends_their_teams_relationship(world: World) -> None:
    client = world.register(GP)
    team_relationship = world.app.start_care_relationship(
        NURSE.caller, client, reason="Team", team_id="dn-north"
    ).id
    assert team_relationship is not None
    then = world.when(
        client,
        lambda: world.app.end_care_relationship(
            NURSE_2.caller, client, team_relationship, reason="Closed to team"
        ),
    )
    assert then[0].relationship_id == team_relationship


def test_a_colleague_without_the_allocating_role_may_not_end_it(world: World) -> None:
    client = world.register(GP)
    world.relate(client, GP_PARTNER)
    relationship = relationship_of(world, client, GP.practitioner_id)
    error = world.refused(
        "NOT_PERMITTED",
        lambda: world.app.end_care_relationship(
            GP_PARTNER.caller, client, relationship, reason="Tidy up"
        ),
    )
    assert error.fields["reason"] == "not_allocator"


def test_another_agency_may_not_end_a_relationship(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE_LEAD)
    relationship = relationship_of(world, client, GP.practitioner_id)
    error = world.refused(
        "NOT_PERMITTED",
        lambda: world.app.end_care_relationship(
            NURSE_LEAD.caller, client, relationship, reason="Tidy up"
        ),
    )
    assert error.fields["reason"] == "other_agency"


def test_ending_a_relationship_twice_is_refused(world: World) -> None:
    client = world.register(GP)
    relationship = relationship_of(world, client)
    world.app.end_care_relationship(GP.caller, client, relationship, reason="Discharged")
    # Having ended their only relationship the GP has no standing left: told nothing more.
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.end_care_relationship(GP.caller, client, relationship, reason="Again"),
    )


@pytest.mark.parametrize(("relationship", "reason"), [("nope", "Ended"), (None, " ")])
def test_ending_a_relationship_with_bad_input_is_refused(
    world: World, relationship: str | None, reason: str
) -> None:
    client = world.register(GP)
    real = relationship_of(world, client)
    code = "INVALID_IDENTIFIER" if relationship else "TEXT_EMPTY"
    world.refused(
        code,
        lambda: world.app.end_care_relationship(
            GP.caller, client, relationship or real, reason=reason
        ),
    )


# --- referrals -----------------------------------------------------------------------------


def refer(world: World, client: str, by: object = GP, **overrides: object) -> str:
    fields: dict[str, object] = {
        "to_agency": "community-health",
        "category": "mobility",
        "reason": "Falls at home; please assess",
        "due_by": world.clock.now + timedelta(days=14),
    }
    fields.update(overrides)
    result = world.app.send_referral(by.caller, client, **fields)  # type: ignore[attr-defined]
    assert result.id is not None
    return result.id


def test_a_referral_is_sent_to_another_agency_with_a_deadline(world: World) -> None:
    client = world.register(GP)
    due = world.clock.now + timedelta(days=2)
    sent = world.clock.now - timedelta(minutes=10)
    result = None

    def command() -> object:
        nonlocal result
        result = world.app.send_referral(
            GP.caller,
            client,
            to_agency="community-health",
            category="mobility",
            reason="Falls at home; please assess",
            due_by=due,
            urgency="urgent",
            at=sent,
        )
        return result

    then = world.when(client, command)

    assert named(then) == ["ReferralSent"]
    assert result is not None
    assert payload(then[0]) == {
        "referral_id": result.id,
        "to_agency": "community-health",
        "category": "mobility",
        "reason": "Falls at home; please assess",
        "urgency": "urgent",
        "due_by": due,
        "by": GP.practitioner_id,
        "agency_id": GP.agency_id,
        "at": sent,
    }


def test_referring_to_ones_own_agency_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused("INVALID_INPUT", lambda: refer(world, client, to_agency="gp-north"))


def test_referring_without_a_care_relationship_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused("NO_CARE_RELATIONSHIP", lambda: refer(world, client, by=HOUSING))


def test_a_deadline_before_the_referral_was_sent_is_refused(world: World) -> None:
    client = world.register(GP)
    error = world.refused(
        "INVALID_DATE",
        lambda: refer(
            world,
            client,
            at=world.clock.now + timedelta(minutes=4),
            due_by=world.clock.now + timedelta(minutes=2),
        ),
    )
    assert error.fields["reason"] == "not_after_sent"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"to_agency": "no-such-agency"}, "AGENCY_NOT_FOUND"),
        ({"to_agency": "Community Health"}, "INVALID_IDENTIFIER"),
        ({"category": "astrology"}, "UNKNOWN_CATEGORY"),
        ({"reason": ""}, "TEXT_EMPTY"),
        ({"reason": "r" * 2001}, "TEXT_TOO_LONG"),
        ({"reason": "null\x00byte"}, "INVALID_TEXT"),
        ({"urgency": "whenever"}, "UNKNOWN_VALUE"),
        ({"due_by": datetime(2026, 4, 1, 9, 0)}, "INVALID_DATE"),
        ({"due_by": "next week"}, "INVALID_DATE"),
        ({"at": datetime(2026, 3, 1, 9, 0)}, "INVALID_DATE"),
    ],
)
def test_sending_a_referral_with_bad_input_is_refused(
    world: World, overrides: dict[str, object], code: str
) -> None:
    client = world.register(GP)
    world.refused(code, lambda: refer(world, client, **overrides))


@pytest.mark.parametrize("due_in", [timedelta(0), timedelta(hours=-1), timedelta(days=367)])
def test_a_referral_deadline_must_be_ahead_and_within_a_year(
    world: World, due_in: timedelta
) -> None:
    client = world.register(GP)
    world.refused("INVALID_DATE", lambda: refer(world, client, due_by=world.clock.now + due_in))


def test_the_receiving_agency_acknowledges_a_referral(world: World) -> None:
    client = world.register(GP)
    referral = refer(world, client)
    world.clock.advance(hours=3)
    then = world.when(
        client, lambda: world.app.acknowledge_referral(NURSE.caller, client, referral)
    )
    assert named(then) == ["ReferralAcknowledged"]
    assert payload(then[0]) == {
        "referral_id": referral,
        "by": NURSE.practitioner_id,
        "agency_id": NURSE.agency_id,
        "at": world.clock.now,
    }


def test_accepting_a_referral_starts_the_acceptors_care_relationship(world: World) -> None:
    client = world.register(GP)
    referral = refer(world, client)
    world.app.acknowledge_referral(NURSE.caller, client, referral)
    then = world.when(
        client,
        lambda: world.app.accept_referral(NURSE.caller, client, referral, note="Visit booked"),
    )
    assert named(then) == ["ReferralAccepted", "CareRelationshipStarted"]
    assert payload(then[0]) == {
        "referral_id": referral,
        "note": "Visit booked",
        "by": NURSE.practitioner_id,
        "agency_id": NURSE.agency_id,
        "at": world.clock.now,
    }
    relationship = then[1].relationship
    assert (relationship.practitioner_id, relationship.reason) == (
        NURSE.practitioner_id,
        "Accepted a referral",
    )
    world.contribute(client, NURSE, heading="Mobility and falls")


def test_accepting_without_starting_a_relationship_stores_only_the_acceptance(
    world: World,
) -> None:
    client = world.register(GP)
    referral = refer(world, client)
    then = world.when(
        client,
        lambda: world.app.accept_referral(NURSE.caller, client, referral, start_relationship=False),
    )
    assert named(then) == ["ReferralAccepted"]


def test_accepting_when_already_involved_starts_no_second_relationship(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    referral = refer(world, client)
    then = world.when(client, lambda: world.app.accept_referral(NURSE.caller, client, referral))
    assert named(then) == ["ReferralAccepted"]


def test_the_receiving_agency_declines_a_referral_with_a_reason(world: World) -> None:
    client = world.register(GP)
    referral = refer(world, client)
    then = world.when(
        client,
        lambda: world.app.decline_referral(
            NURSE.caller, client, referral, reason="Outside our criteria"
        ),
    )
    assert named(then) == ["ReferralDeclined"]
    assert payload(then[0]) == {
        "referral_id": referral,
        "reason": "Outside our criteria",
        "by": NURSE.practitioner_id,
        "agency_id": NURSE.agency_id,
        "at": world.clock.now,
    }


@pytest.mark.parametrize("closer", [GP, NURSE])
def test_either_party_closes_a_referral_with_an_outcome(world: World, closer: object) -> None:
    client = world.register(GP)
    referral = refer(world, client)
    world.app.accept_referral(NURSE.caller, client, referral)
    then = world.when(
        client,
        lambda: world.app.close_referral(
            closer.caller,  # type: ignore[attr-defined]
            client,
            referral,
            outcome="Assessment completed",
        ),
    )
    assert named(then) == ["ReferralClosed"]
    assert payload(then[0]) == {
        "referral_id": referral,
        "outcome": "Assessment completed",
        "by": closer.practitioner_id,  # type: ignore[attr-defined]
        "agency_id": closer.agency_id,  # type: ignore[attr-defined]
        "at": world.clock.now,
    }


def test_only_the_receiving_agency_responds_to_a_referral(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    referral = refer(world, client)
    for responder in (GP, SOCIAL_WORKER):
        world.refused(
            "NOT_PERMITTED",
            lambda r=responder: world.app.acknowledge_referral(r.caller, client, referral),
        )
        world.refused(
            "NOT_PERMITTED",
            lambda r=responder: world.app.accept_referral(r.caller, client, referral),
        )
        world.refused(
            "NOT_PERMITTED",
            lambda r=responder: world.app.decline_referral(r.caller, client, referral, reason="No"),
        )


def test_a_third_agency_may_not_close_a_referral(world: World) -> None:
    client = world.register(GP)
    referral = refer(world, client)
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.close_referral(SOCIAL_WORKER.caller, client, referral, outcome="Done"),
    )


@pytest.mark.parametrize(
    ("history", "response"),
    [
        (["acknowledge"], "acknowledge"),
        (["accept"], "acknowledge"),
        (["accept"], "accept"),
        (["accept"], "decline"),
        (["decline"], "accept"),
        (["decline"], "decline"),
        (["close"], "acknowledge"),
        (["close"], "accept"),
        (["close"], "close"),
    ],
)
def test_a_referral_moves_only_forward(world: World, history: list[str], response: str) -> None:
    client = world.register(GP)
    referral = refer(world, client)

    def respond(step: str) -> object:
        if step == "acknowledge":
            return world.app.acknowledge_referral(NURSE.caller, client, referral)
        if step == "accept":
            return world.app.accept_referral(NURSE.caller, client, referral)
        if step == "decline":
            return world.app.decline_referral(NURSE.caller, client, referral, reason="No")
        return world.app.close_referral(NURSE.caller, client, referral, outcome="Done")

    for step in history:
        respond(step)
    world.refused("INVALID_REFERRAL_TRANSITION", lambda: respond(response))


@pytest.mark.parametrize("response", ["acknowledge", "accept", "decline", "close"])
def test_responding_to_a_referral_the_record_does_not_have_is_refused(
    world: World, response: str
) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)  # with a standing: told the referral is not there
    unknown = str(uuid4())
    commands = {
        "acknowledge": lambda: world.app.acknowledge_referral(NURSE.caller, client, unknown),
        "accept": lambda: world.app.accept_referral(NURSE.caller, client, unknown),
        "decline": lambda: world.app.decline_referral(NURSE.caller, client, unknown, reason="No"),
        "close": lambda: world.app.close_referral(NURSE.caller, client, unknown, outcome="Done"),
    }
    world.refused("REFERRAL_NOT_FOUND", commands[response])


@pytest.mark.parametrize(
    ("response", "referral", "text", "code"),
    [
        ("acknowledge", "not-a-uuid", None, "INVALID_IDENTIFIER"),
        ("accept", "not-a-uuid", "ok", "INVALID_IDENTIFIER"),
        ("accept", None, "", "TEXT_EMPTY"),
        ("decline", None, "", "TEXT_EMPTY"),
        ("decline", None, "x\ny", "INVALID_TEXT"),
        ("close", None, "o" * 201, "TEXT_TOO_LONG"),
    ],
)
def test_responding_with_bad_input_is_refused(
    world: World, response: str, referral: str | None, text: str | None, code: str
) -> None:
    client = world.register(GP)
    real = refer(world, client)
    rid = referral or real
    commands = {
        "acknowledge": lambda: world.app.acknowledge_referral(NURSE.caller, client, rid),
        "accept": lambda: world.app.accept_referral(NURSE.caller, client, rid, note=text or ""),
        "decline": lambda: world.app.decline_referral(NURSE.caller, client, rid, reason=text or ""),
        "close": lambda: world.app.close_referral(NURSE.caller, client, rid, outcome=text or ""),
    }
    world.refused(code, commands[response])


def test_urgency_is_stored_as_its_vocabulary_value(world: World) -> None:
    client = world.register(GP)
    referral = refer(world, client, urgency=Urgency.EMERGENCY)
    assert world.app.load_client(client).referrals[referral].urgency is Urgency.EMERGENCY
