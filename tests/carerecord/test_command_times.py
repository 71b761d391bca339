"""Every command's event or clinical time is checked the same way: timezone-aware, not in the
future beyond the clock skew, not before 1900; refused times store nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from care_world import GP, NURSE, POLICE_IG, Scene, World, build_scene, named

Dated = Callable[[World, Scene, datetime], Any]

DATED: dict[str, Dated] = {
    "correct_demographics": lambda w, s, at: w.app.correct_demographics(
        GP.caller,
        s.client,
        reason="Typo",
        given_name="Ann",
        family_name="Bell",
        date_of_birth=datetime(1950, 1, 1).date(),
        at=at,
    ),
    "record_local_identifier": lambda w, s, at: w.app.record_local_identifier(
        GP.caller, s.client, authority="east-vale", local_id=f"EV{at.microsecond}", at=at
    ),
    "record_contribution": lambda w, s, at: w.app.record_contribution(
        GP.caller, s.client, heading="Plan", text="Review.", occurred_at=at
    ),
    "amend_contribution": lambda w, s, at: w.app.amend_contribution(
        GP.caller, s.client, s.entry, text="Corrected.", reason="Typo", at=at
    ),
    "enter_contribution_in_error": lambda w, s, at: w.app.enter_contribution_in_error(
        GP.caller, s.client, s.entry, reason="Wrong client", at=at
    ),
    "record_consent": lambda w, s, at: w.app.record_consent(
        GP.caller, s.client, decision="granted", everyone=True, decided_at=at
    ),
    "withdraw_consent": lambda w, s, at: w.app.withdraw_consent(
        GP.caller, s.client, s.consent, reason="Changed mind", at=at
    ),
    "place_restriction": lambda w, s, at: w.app.place_restriction(
        GP.caller,
        s.client,
        requested_by="client",
        reason="Private",
        category="housing",
        everyone=True,
        at=at,
    ),
    "lift_restriction": lambda w, s, at: w.app.lift_restriction(
        GP.caller, s.client, s.restriction, reason="Lifted", at=at
    ),
    "start_care_relationship": lambda w, s, at: w.app.start_care_relationship(
        NURSE.caller, s.client, reason="Team", team_id="dn-north", at=at
    ),
    "end_care_relationship": lambda w, s, at: w.app.end_care_relationship(
        NURSE.caller, s.client, s.relationship, reason="Discharged", at=at
    ),
    "send_referral": lambda w, s, at: w.app.send_referral(
        GP.caller,
        s.client,
        to_agency="housing",
        category="housing",
        reason="Damp",
        due_by=w.clock.now + timedelta(days=3),
        at=at,
    ),
    "acknowledge_referral": lambda w, s, at: w.app.acknowledge_referral(
        NURSE.caller, s.client, s.referral, at=at
    ),
    "accept_referral": lambda w, s, at: w.app.accept_referral(
        NURSE.caller, s.client, s.referral, at=at
    ),
    "decline_referral": lambda w, s, at: w.app.decline_referral(
        NURSE.caller, s.client, s.referral, reason="Full", at=at
    ),
    "close_referral": lambda w, s, at: w.app.close_referral(
        GP.caller, s.client, s.referral, outcome="Withdrawn", at=at
    ),
    "raise_alert": lambda w, s, at: w.app.raise_alert(
        GP.caller, s.client, kind="risk_to_self", severity="high", summary="Risk", occurred_at=at
    ),
    "resolve_alert": lambda w, s, at: w.app.resolve_alert(
        GP.caller, s.client, s.alert, reason="Resolved", at=at
    ),
    "review_break_glass": lambda w, s, at: w.app.review_break_glass(
        POLICE_IG.caller, s.client, s.grant, outcome="justified", note="Checked", at=at
    ),
}


@pytest.mark.parametrize("command", sorted(DATED))
def test_a_command_refuses_a_time_in_the_future_naive_or_before_1900(
    world: World, command: str
) -> None:
    scene = build_scene(world)
    run = DATED[command]
    bad_times = [
        ("DATE_IN_FUTURE", world.clock.now + timedelta(minutes=6)),
        ("INVALID_DATE", world.clock.now.replace(tzinfo=None)),
        ("INVALID_DATE", datetime(1899, 12, 31, tzinfo=UTC)),
    ]
    for code, at in bad_times:
        world.refused(code, lambda at=at: run(world, scene, at))

    earlier = world.clock.now - timedelta(days=3)
    then = world.when(scene.client, lambda: run(world, scene, earlier))

    first = then[0]
    stored = getattr(first, "at", None) or next(
        getattr(v, attr)
        for v in vars(first).values()
        for attr in ("occurred_at", "decided_at", "placed_at", "started_at")
        if hasattr(v, attr)
    )
    assert stored == earlier, named(then)
