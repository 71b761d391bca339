"""The ids the application generates are never reused on a record, whatever the id source.

The aggregate refuses an entry, consent, restriction, relationship, referral, alert or
grant whose id the record already holds. The application draws ids from its id
factory; an application given a factory that repeats itself shows the guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from care_world import GP, NURSE, NURSE_LEAD, POLICE, SOCIAL_WORKER, World, open_app

from carerecord.application import CareRecord

REPEATED = "00000000-0000-4000-8000-00000000cafe"
REASON = "Person in crisis in the street, risk to life, need history now"


@pytest.fixture
def repeating(world: World) -> Iterator[CareRecord]:
    """A second application on the same store whose id factory always gives one id."""
    app = open_app(world.settings, world.app.clock, id_factory=lambda: REPEATED)
    try:
        yield app
    finally:
        app.close()


COMMANDS: dict[str, Callable[[CareRecord, World, str], Any]] = {
    "record_contribution": lambda app, w, client: app.record_contribution(
        GP.caller, client, heading="Plan", text="Review.", occurred_at=w.clock.now
    ),
    "raise_alert": lambda app, w, client: app.raise_alert(
        GP.caller, client, kind="access_needs", severity="low", summary="Interpreter needed"
    ),
    "record_consent": lambda app, w, client: app.record_consent(
        GP.caller, client, decision="granted", everyone=True
    ),
    "place_restriction": lambda app, w, client: app.place_restriction(
        GP.caller,
        client,
        requested_by="client",
        reason="Private",
        category="housing",
        everyone=True,
    ),
    "send_referral": lambda app, w, client: app.send_referral(
        GP.caller,
        client,
        to_agency="housing",
        category="housing",
        reason="Damp",
        due_by=w.clock.now + timedelta(days=5),
    ),
    "break_glass": lambda app, w, client: app.break_glass(POLICE.caller, client, reason=REASON),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_second_thing_with_an_id_the_record_already_holds_is_refused(
    world: World, repeating: CareRecord, command: str
) -> None:
    client = world.register(GP)
    assert COMMANDS[command](repeating, world, client).id == REPEATED

    world.refused("ALREADY_EXISTS", lambda: COMMANDS[command](repeating, world, client))


def test_an_alert_may_not_take_the_id_of_a_contribution(
    world: World, repeating: CareRecord
) -> None:
    client = world.register(GP)
    COMMANDS["record_contribution"](repeating, world, client)
    world.refused("ALREADY_EXISTS", lambda: COMMANDS["raise_alert"](repeating, world, client))


def test_a_contribution_may_not_take_the_id_of_an_alert(
    world: World, repeating: CareRecord
) -> None:
    client = world.register(GP)
    COMMANDS["raise_alert"](repeating, world, client)
    world.refused(
        "ALREADY_EXISTS", lambda: COMMANDS["record_contribution"](repeating, world, client)
    )


def test_a_second_relationship_with_an_id_already_held_is_refused(
    world: World, repeating: CareRecord
) -> None:
    client = world.register(GP)
    repeating.start_care_relationship(NURSE.caller, client, reason="Allocated")
    world.refused(
        "ALREADY_EXISTS",
        lambda: repeating.start_care_relationship(
            NURSE_LEAD.caller, client, reason="Allocated", practitioner_id="nurse-bo"
        ),
    )
    world.refused(
        "ALREADY_EXISTS",
        lambda: repeating.start_care_relationship(SOCIAL_WORKER.caller, client, reason="Allocated"),
    )
