"""Every client command refuses callers the directory does not vouch for, and ids of no client.

Each command is tried with arguments that are valid for its rightful caller; every
impostor variant of that caller is refused with its code and stores nothing, and then
the rightful caller succeeds with the very same arguments (so the refusals were about
the caller or the client id, nothing else).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest
from care_world import (
    GP,
    LEAVER,
    NURSE,
    POLICE,
    POLICE_IG,
    Person,
    Scene,
    World,
    build_scene,
    fresh_nhs_number,
    has_left_service,
)

from carerecord.agency import Agency
from carerecord.practitioner import Practitioner
from carerecord.sharing_protocol import SharingProtocol
from carerecord.values import Viewer
from carerecord.vocab import ViewerKind

REASON = "Person in crisis in the street, risk to life, need history now"

Command = Callable[[World, Viewer, Any, Scene], Any]

COMMANDS: dict[str, tuple[Person, Command]] = {
    "register_client": (
        GP,
        lambda w, c, _, s: w.app.register_client(
            c,
            nhs_number=fresh_nhs_number(),
            given_name="Ann",
            family_name="Bell",
            date_of_birth=date(1950, 1, 1),
        ),
    ),
    "correct_demographics": (
        GP,
        lambda w, c, cid, s: w.app.correct_demographics(
            c,
            cid,
            reason="Typo",
            given_name="Ann",
            family_name="Bell",
            date_of_birth=date(1950, 1, 1),
        ),
    ),
    "record_local_identifier": (
        GP,
        lambda w, c, cid, s: w.app.record_local_identifier(
            c, cid, authority="east-vale", local_id=f"EV{uuid4().hex[:8]}"
        ),
    ),
    "record_contribution": (
        GP,
        lambda w, c, cid, s: w.app.record_contribution(
            c, cid, heading="Plan", text="Review in a month.", occurred_at=w.clock.now
        ),
    ),
    "amend_contribution": (
        GP,
        lambda w, c, cid, s: w.app.amend_contribution(
            c, cid, s.entry, text="Corrected.", reason="Typo"
        ),
    ),
    "enter_contribution_in_error": (
        GP,
        lambda w, c, cid, s: w.app.enter_contribution_in_error(c, cid, s.entry, reason="Wrong"),
    ),
    "record_consent": (
        GP,
        lambda w, c, cid, s: w.app.record_consent(c, cid, decision="refused", everyone=True),
    ),
    "withdraw_consent": (
        GP,
        lambda w, c, cid, s: w.app.withdraw_consent(c, cid, s.consent, reason="Changed mind"),
    ),
    "place_restriction": (
        GP,
        lambda w, c, cid, s: w.app.place_restriction(
            c, cid, requested_by="client", reason="Private", category="housing", everyone=True
        ),
    ),
    "lift_restriction": (
        GP,
        lambda w, c, cid, s: w.app.lift_restriction(c, cid, s.restriction, reason="Lifted"),
    ),
    "start_care_relationship": (
        POLICE,
        lambda w, c, cid, s: w.app.start_care_relationship(c, cid, reason="Allocated"),
    ),
    "end_care_relationship": (
        NURSE,
        lambda w, c, cid, s: w.app.end_care_relationship(c, cid, s.relationship, reason="Done"),
    ),
    "send_referral": (
        GP,
        lambda w, c, cid, s: w.app.send_referral(
            c,
            cid,
            to_agency="housing",
            category="housing",
            reason="Damp flat",
            due_by=w.clock.now + timedelta(days=3),
        ),
    ),
    "acknowledge_referral": (
        NURSE,
        lambda w, c, cid, s: w.app.acknowledge_referral(c, cid, s.referral),
    ),
    "accept_referral": (NURSE, lambda w, c, cid, s: w.app.accept_referral(c, cid, s.referral)),
    "decline_referral": (
        NURSE,
        lambda w, c, cid, s: w.app.decline_referral(c, cid, s.referral, reason="Full"),
    ),
    "close_referral": (
        GP,
        lambda w, c, cid, s: w.app.close_referral(c, cid, s.referral, outcome="Withdrawn"),
    ),
    "raise_alert": (
        GP,
        lambda w, c, cid, s: w.app.raise_alert(
            c, cid, kind="risk_to_self", severity="high", summary="Overdose last week"
        ),
    ),
    "resolve_alert": (
        GP,
        lambda w, c, cid, s: w.app.resolve_alert(c, cid, s.alert, reason="No longer needed"),
    ),
    "break_glass": (POLICE, lambda w, c, cid, s: w.app.break_glass(c, cid, reason=REASON)),
    "review_break_glass": (
        POLICE_IG,
        lambda w, c, cid, s: w.app.review_break_glass(
            c, cid, s.grant, outcome="justified", note="Checked"
        ),
    ),
}


def impostors(person: Person, client: str) -> list[tuple[str, Viewer, str]]:
    """Callers that claim to be (or stand in for) ``person``, with the code each must get."""
    rightful = person.caller
    other_agency = "police" if person.agency_id != "police" else "housing"
    other_profession = "paramedic" if person.profession != "paramedic" else "gp"
    return [
        (
            "unknown practitioner",
            replace(rightful, practitioner_id="ghost-1"),
            "PRACTITIONER_NOT_FOUND",
        ),
        (
            "malformed practitioner id",
            replace(rightful, practitioner_id="Dr X"),
            "INVALID_IDENTIFIER",
        ),
        ("no practitioner id", replace(rightful, practitioner_id=None), "IDENTITY_MISMATCH"),
        ("claims another agency", replace(rightful, agency_id=other_agency), "IDENTITY_MISMATCH"),
        (
            "claims another profession",
            replace(rightful, profession=other_profession),
            "IDENTITY_MISMATCH",
        ),
        ("left the service", LEAVER.caller, "PRACTITIONER_INACTIVE"),
        (
            "the agency's own system",
            Viewer(kind=ViewerKind.AGENCY_SYSTEM, agency_id=person.agency_id),
            "NOT_PERMITTED",
        ),
        (
            "an unregistered agency's system",
            Viewer(kind=ViewerKind.AGENCY_SYSTEM, agency_id="rogue-agency"),
            "AGENCY_NOT_FOUND",
        ),
        ("the client", Viewer(kind=ViewerKind.CLIENT, client_id=client), "NOT_PERMITTED"),
    ]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_only_an_enrolled_active_practitioner_matching_the_directory_may_command(
    world: World, command: str
) -> None:
    person, run = COMMANDS[command]
    scene = build_scene(world)
    has_left_service(world.app, LEAVER.practitioner_id)

    for label, caller, code in impostors(person, scene.client):
        error = world.refused(code, lambda c=caller: run(world, c, scene.client, scene))
        assert error.code == code, label

    assert run(world, person.caller, scene.client, scene).position > 0


NOT_CLIENTS: list[tuple[str, Callable[[], Any], str]] = [
    ("a malformed id", lambda: "client-42", "INVALID_IDENTIFIER"),
    ("a UUID with a typo", lambda: str(uuid4())[:-1] + "g", "INVALID_IDENTIFIER"),
    ("an id nobody holds", lambda: str(uuid4()), "CLIENT_NOT_FOUND"),
    ("an agency's id", lambda: str(Agency.id_for("gp-north")), "CLIENT_NOT_FOUND"),
    ("a practitioner's id", lambda: Practitioner.id_for("dr-north"), "CLIENT_NOT_FOUND"),
    ("the protocol's id", lambda: str(SharingProtocol.id_for("north-shire")), "CLIENT_NOT_FOUND"),
    ("not even text", lambda: 42, "INVALID_IDENTIFIER"),
]


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"register_client"}))
def test_a_command_on_something_that_is_not_a_client_record_is_refused(
    world: World, command: str
) -> None:
    person, run = COMMANDS[command]
    scene = build_scene(world)

    for label, make_id, code in NOT_CLIENTS:
        not_a_client = make_id()
        error = world.refused(code, lambda i=not_a_client: run(world, person.caller, i, scene))
        assert error.code == code, label

    assert run(world, person.caller, scene.client, scene).position > 0
