"""Curated slices through the read repository: each caller sees exactly their slice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from views_world import (
    GP,
    GP_COLLEAGUE,
    MENTAL_HEALTH,
    NURSE,
    OTHER_GP,
    POLICE,
    SECRET,
    SOCIAL_WORKER,
    SUPPORT,
    World,
)

from carerecord import errors
from carerecord.policy import purpose_open, viewer_key
from carerecord.protocol import bundled_document
from carerecord.slice import slice_hash
from carerecord.vocab import Purpose


def ids(entries: object) -> set[str]:
    return {e.entry_id for e in entries}  # type: ignore[attr-defined]


def test_another_practice_and_a_colleague_without_a_relationship_cannot_read_a_patient(
    world: World,
) -> None:
    client = world.register(GP)
    world.note(client, GP, "History", SECRET)
    world.project()

    assert ids(world.reads.client_slice(world.caller(GP), client).entries)
    for stranger in (OTHER_GP, GP_COLLEAGUE, SOCIAL_WORKER):
        with pytest.raises(errors.ClientNotFound):
            world.reads.client_slice(world.caller(stranger), client)


def test_not_found_and_not_permitted_are_the_same_answer(world: World) -> None:
    client = world.register(GP)
    world.project()
    missing = "7f3a1c52-9d4e-4b7a-8c1e-2f5d6a7b8c9d"

    with pytest.raises(errors.ClientNotFound) as not_permitted:
        world.reads.client_slice(world.caller(OTHER_GP), client)
    with pytest.raises(errors.ClientNotFound) as not_found:
        world.reads.client_slice(world.caller(OTHER_GP), missing)

    assert type(not_permitted.value) is type(not_found.value)
    assert str(not_permitted.value) == str(not_found.value)
    assert not_permitted.value.fields == not_found.value.fields == {}
    for read in (world.reads.involvement, world.reads.overview):
        with pytest.raises(errors.ClientNotFound):
            read(world.caller(OTHER_GP), client)  # type: ignore[operator]
    with pytest.raises(errors.ClientNotFound):
        world.reads.explain(world.caller(OTHER_GP), client, "7f3a1c52-9d4e-4b7a-8c1e-2f5d6a7b8c9d")


def test_a_social_worker_sees_health_entries_only_with_consent_and_not_after_withdrawal(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    entry = world.note(client, GP, "History", SECRET)
    world.project()
    sw = world.caller(SOCIAL_WORKER)
    assert world.reads.client_slice(sw, client).entries == ()  # no consent, not implied

    consent = world.consent(client, GP, everyone=True)
    world.project()
    assert ids(world.reads.client_slice(sw, client).entries) == {entry}

    world.tick()
    world.app.withdraw_consent(world.caller(GP), client, consent, reason="Client asked")
    world.project()
    assert world.reads.client_slice(sw, client).entries == ()
    # The GP's own agency still sees its entry (it is the controller).
    assert ids(world.reads.client_slice(world.caller(GP), client).entries) == {entry}


def test_the_read_time_check_hides_what_a_lagging_view_still_holds(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    consent = world.consent(client, GP, everyone=True)
    entry = world.note(client, GP, "History")
    world.project()
    sw = world.caller(SOCIAL_WORKER)
    assert ids(world.reads.client_slice(sw, client).entries) == {entry}

    world.tick()
    world.app.withdraw_consent(world.caller(GP), client, consent, reason="Client asked")
    # Not projected: the view still holds the entry, the read must not show it.
    lagging = world.reads.client_slice(sw, client)

    assert lagging.entries == ()
    assert lagging.view_version < lagging.state_version


def test_a_refusal_beats_implied_consent_between_health_services(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    entry = world.note(client, GP, "History")
    world.project()
    nurse = world.caller(NURSE)
    assert ids(world.reads.client_slice(nurse, client).entries) == {entry}

    world.consent(client, GP, decision="refused", agencies=["community-health"])
    world.project()
    assert world.reads.client_slice(nurse, client).entries == ()


def test_a_restriction_seals_an_entry_from_the_named_audience_only(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    world.relate(client, MENTAL_HEALTH)
    sealed = world.note(client, GP, "History")
    other = world.note(client, GP, "Examination")
    world.project()

    world.tick()
    restriction = world.app.place_restriction(
        world.caller(GP),
        client,
        requested_by="client",
        reason="Client request",
        entry_id=sealed,
        agencies=["community-health"],
    ).id
    world.project()
    assert ids(world.reads.client_slice(world.caller(NURSE), client).entries) == {other}
    assert ids(world.reads.client_slice(world.caller(MENTAL_HEALTH), client).entries) == {
        sealed,
        other,
    }

    world.tick()
    world.app.lift_restriction(world.caller(GP), client, restriction, reason="Lifted")
    world.project()
    assert ids(world.reads.client_slice(world.caller(NURSE), client).entries) == {sealed, other}


def test_entries_in_error_leave_the_views_and_amendments_show_marked(world: World) -> None:
    client = world.register(GP)
    wrong = world.note(client, GP, "History", "wrong patient")
    fixed = world.note(client, GP, "Plan", "first text")
    world.tick()
    world.app.enter_contribution_in_error(world.caller(GP), client, wrong, reason="Wrong record")
    world.tick()
    world.app.amend_contribution(world.caller(GP), client, fixed, text="second text", reason="Typo")
    world.project()

    (shown,) = world.reads.client_slice(world.caller(GP), client).entries
    assert shown.entry_id == fixed
    assert shown.text == "second text"
    assert shown.amended is True
    # Still in the log.
    events = list(world.app.events.get(world.app.load_client(client).id))
    assert any(getattr(e, "text", None) == "wrong patient" for e in events)


def test_a_new_protocol_version_widens_exactly_what_it_says(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SUPPORT)
    world.consent(client, GP, everyone=True)
    mental = world.note(client, GP, "Mental state", sensitivity="sensitive")
    plan = world.note(client, GP, "Plan")
    world.project()
    support = world.caller(SUPPORT)
    assert ids(world.reads.client_slice(support, client).entries) == {plan}

    world.app.adopt_protocol(bundled_document(2), at=world.tick())
    world.project()
    assert ids(world.reads.client_slice(support, client).entries) == {plan, mental}


def test_reads_wait_for_the_views_to_catch_up_with_a_protocol_change(world: World) -> None:
    world.config = world.config.__class__(view_wait_seconds=0.05)
    world.start_views()
    client = world.register(GP)
    world.project()
    world.app.adopt_protocol(bundled_document(2), at=world.tick())

    from projections.engine.errors import ViewsBehind

    with pytest.raises(ViewsBehind):
        world.reads.client_slice(world.caller(GP), client)
    world.project()
    assert world.reads.client_slice(world.caller(GP), client).protocol_version == 2


def test_break_glass_gives_a_time_boxed_emergency_view_only(world: World) -> None:
    client = world.register(GP)
    risk = world.note(client, GP, "Mental state", sensitivity="sensitive")
    history = world.note(client, GP, "History")
    world.project()
    officer = world.caller(POLICE)
    with pytest.raises(errors.ClientNotFound):
        world.reads.client_slice(officer, client, Purpose.EMERGENCY)

    world.tick()
    grant = world.app.break_glass(
        officer, client, reason="Person in crisis on the bridge, need risks now", minutes=30
    ).id
    world.project()
    read = world.reads.client_slice(officer, client, Purpose.EMERGENCY)
    assert read.basis.kind == "break_glass"
    assert read.basis.grant_id == grant
    assert ids(read.entries) == {risk, history}
    assert all(e.heading is None and e.author_id is None for e in read.entries)  # redacted
    # Another purpose under the grant is refused outright, not answered with an empty record.
    with pytest.raises(errors.NotPermitted) as refused:
        world.reads.client_slice(officer, client, Purpose.DIRECT_CARE)
    assert refused.value.code == "NOT_PERMITTED"
    assert refused.value.fields["reason"] == "purpose_not_granted"

    world.clock.advance(minutes=31)
    with pytest.raises(errors.ClientNotFound):
        world.reads.client_slice(officer, client, Purpose.EMERGENCY)


def test_the_client_reads_their_own_record_except_exempt_entries(world: World) -> None:
    client = world.register(GP)
    other_client = world.register(GP, given_name="Bob")
    shown = world.note(client, GP, "History")
    world.note(client, GP, "Plan", subject_access_exemption="serious_harm")
    world.project()

    me = world.client(client)
    read = world.reads.client_slice(me, client, Purpose.SUBJECT_ACCESS)
    assert ids(read.entries) == {shown}
    assert read.basis.kind == "subject_access"
    with pytest.raises(errors.ClientNotFound):
        world.reads.client_slice(me, other_client, Purpose.SUBJECT_ACCESS)
    with pytest.raises(errors.NotPermitted):
        world.reads.client_slice(me, client, Purpose.DIRECT_CARE)
    with pytest.raises(errors.NotPermitted):
        world.reads.client_slice(world.caller(GP), client, Purpose.SUBJECT_ACCESS)
    with pytest.raises(errors.NotPermitted):
        world.reads.client_slice(world.caller(GP), client, Purpose.AUDIT)


def test_every_slice_equals_the_core_curate_over_the_log(world: World) -> None:
    client = world.register(GP)
    for person in (NURSE, SOCIAL_WORKER, MENTAL_HEALTH, SUPPORT):
        world.relate(client, person)
    world.consent(client, GP, everyone=True, categories=["physical_health", "daily_living"])
    world.consent(client, GP, decision="refused", agencies=["mh-trust"])
    for heading in ("History", "Mental state", "Social context", "Plan"):
        world.note(client, GP, heading)
    world.note(client, SOCIAL_WORKER, "Needs assessment")
    world.note(client, NURSE, "Wound care")
    world.project()

    for person in (GP, NURSE, SOCIAL_WORKER, MENTAL_HEALTH, SUPPORT):
        caller = world.caller(person)
        for purpose in (Purpose.DIRECT_CARE, Purpose.EMERGENCY):
            expected = world.oracle(client, caller, purpose)
            if not purpose_open(world.app.protocol(), viewer_key(caller), purpose):
                # A purpose the protocol does not open to the caller is refused outright.
                with pytest.raises(errors.NotPermitted) as refused:
                    world.reads.client_slice(caller, client, purpose)
                assert refused.value.fields["reason"] == "purpose_not_open"
                assert expected == [], (person, purpose)
                continue
            read = world.reads.client_slice(caller, client, purpose)
            assert list(read.entries) == expected, (person, purpose)
            assert read.response_hash == slice_hash(expected)


def test_the_access_record_carries_what_an_auditor_needs_to_replay_the_read(
    world: World,
) -> None:
    client = world.register(GP)
    entry = world.note(client, GP, "History")
    world.project()
    read = world.reads.client_slice(world.caller(GP), client)
    at = world.clock()

    record = read.access_record(request_id="req-1", action="clientSlice", at=at)

    assert record.client_id == client
    assert record.practitioner_id == GP.practitioner_id
    assert record.items == ((entry, read.entries[0].version),)
    assert record.response_hash == slice_hash(read.entries)
    assert (record.view_version, record.state_version) == (read.view_version, read.state_version)
    assert record.protocol_version == 1
    assert record.basis == "care_relationship"
    assert record.purpose == "direct_care"
    assert record.at == at


def test_the_overview_summarises_the_callers_slice_by_shared_category(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE)
    first = world.note(client, GP, "History")
    latest = world.note(client, NURSE, "Wound care")
    world.note(client, NURSE, "Mobility and falls")
    world.project()

    overview = world.reads.overview(world.caller(NURSE), client)

    physical = next(s for s in overview.sections if s.category == "physical_health")
    assert physical.entry_count == 2
    assert physical.latest is not None
    assert physical.latest.entry_id == latest
    assert {e.entry_id for e in physical.latest_by_profession} == {first, latest}
    assert physical.headings == ("Wound care",)  # the nurse's own heading for the category
    assert physical.agencies == ("community-health", "gp-north")
    order = list(world.app.protocol().categories)
    assert [s.category for s in overview.sections] == sorted(
        ["physical_health", "mobility"], key=order.index
    )
    assert sum(s.entry_count for s in overview.sections) == len(overview.slice.entries)


def test_explain_says_why_an_entry_is_hidden_only_to_those_involved(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    entry = world.note(client, GP, "History")
    world.project()

    why = world.reads.explain(world.caller(SOCIAL_WORKER), client, entry)
    assert why.found
    assert not why.visible
    assert why.decision is not None
    assert why.decision.rule == "no-consent"
    mine = world.reads.explain(world.caller(GP), client, entry)
    assert mine.visible
    assert mine.decision is not None
    assert mine.decision.rule == "own-agency"
    with pytest.raises(errors.ClientNotFound):
        world.reads.explain(world.caller(OTHER_GP), client, entry)


def test_time_limits_apply_at_read_time_even_though_the_view_ignores_them(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    entry = world.note(client, GP, "History")
    world.consent(client, GP, everyone=True, expires_at=world.clock() + timedelta(days=1))
    world.project()
    sw = world.caller(SOCIAL_WORKER)
    assert ids(world.reads.client_slice(sw, client).entries) == {entry}

    world.clock.advance(days=2)
    assert world.reads.client_slice(sw, client).entries == ()
