"""Every client command refuses callers the directory does not vouch for, and ids of no client.

Each command is tried with arguments that are valid for its rightful caller; every
impostor variant of that caller is refused with its code and stores nothing, and then
the rightful caller succeeds with the very same arguments (so the refusals were about
the caller or the client id, nothing else).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from uuid import uuid4

import pytest
from care_world import (
    COMMANDS,
    LEAVER,
    Person,
    World,
    build_scene,
    has_left_service,
)

from carerecord.agency import Agency
from carerecord.practitioner import Practitioner
from carerecord.sharing_protocol import SharingProtocol
from carerecord.values import Viewer
from carerecord.vocab import ViewerKind


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
    # A command never tells whether a client exists: the answer of a client the caller
    # has no standing towards.
    ("an id nobody holds", lambda: str(uuid4()), "NO_CARE_RELATIONSHIP"),
    ("an agency's id", lambda: str(Agency.id_for("gp-north")), "NO_CARE_RELATIONSHIP"),
    ("a practitioner's id", lambda: Practitioner.id_for("dr-north"), "NO_CARE_RELATIONSHIP"),
    (
        "the protocol's id",
        lambda: str(SharingProtocol.id_for("north-shire")),
        "NO_CARE_RELATIONSHIP",
    ),
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
