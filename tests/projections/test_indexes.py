"""Involvement index, caseloads, referrals and concern aggregation through the repository."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from views_world import (
    GP,
    GP_COLLEAGUE,
    HOUSING,
    NURSE,
    NURSE_TEAMMATE,
    OTHER_GP,
    POLICE,
    POLICE_LEAD,
    SAFEGUARDING_LEAD,
    SECRET,
    SOCIAL_WORKER,
    World,
)

from carerecord import errors


def refer(world: World, client: str, by: object, to: str, days: float = 3) -> str:
    now = world.tick()
    result = world.app.send_referral(
        world.caller(by),  # type: ignore[arg-type]
        client,
        to_agency=to,
        category="housing",
        reason="Needs a housing assessment",
        due_by=now + timedelta(days=days),
    )
    assert result.id is not None
    return result.id


# --- involvement ------------------------------------------------------------------------


def test_involvement_lists_agencies_workers_and_open_referrals_without_content(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    world.note(client, GP, "History", SECRET)
    referral = refer(world, client, SOCIAL_WORKER, "housing")
    world.project()

    involvement = world.reads.involvement(world.caller(SOCIAL_WORKER), client)

    by_agency = {a.agency_id: a for a in involvement.agencies}
    assert set(by_agency) == {"gp-north", "adult-care", "housing"}
    (gp,) = by_agency["gp-north"].workers
    assert (gp.practitioner_id, gp.name, gp.email) == (
        "dr-north",
        "Dr North",
        "dr-north@example.org",
    )
    assert by_agency["gp-north"].name == "Northgate Surgery"
    assert [r.referral_id for r in by_agency["housing"].referrals] == [referral]
    assert SECRET not in repr(involvement)
    record = involvement.access_record(request_id="r", action="involvement", at=world.clock())
    assert record.items == ()
    assert record.basis == "care_relationship"


def test_the_receiving_agency_of_an_open_referral_may_see_who_is_involved_until_it_closes(
    world: World,
) -> None:
    client = world.register(GP)
    referral = refer(world, client, GP, "housing")
    world.project()
    housing = world.caller(HOUSING)

    assert world.reads.involvement(housing, client).basis.kind == "open_referral"
    with pytest.raises(errors.ClientNotFound):
        world.reads.client_slice(housing, client)  # the referral is not a care relationship

    world.tick()
    world.app.decline_referral(housing, client, referral, reason="Not eligible")
    # Not projected yet: the read-time state already says the referral is closed.
    with pytest.raises(errors.ClientNotFound):
        world.reads.involvement(housing, client)


def test_an_ended_relationship_leaves_the_index_even_before_the_view_catches_up(
    world: World,
) -> None:
    client = world.register(GP)
    relationship = world.relate(client, SOCIAL_WORKER).id
    world.project()
    assert "adult-care" in {
        a.agency_id for a in world.reads.involvement(world.caller(GP), client).agencies
    }

    world.tick()
    world.app.end_care_relationship(
        world.caller(SOCIAL_WORKER), client, relationship, reason="Case closed"
    )
    lagging = world.reads.involvement(world.caller(GP), client)
    assert {a.agency_id for a in lagging.agencies} == {"gp-north"}


# --- caseloads --------------------------------------------------------------------------


def test_a_caseload_holds_only_clients_with_an_active_relationship_and_pages(
    world: World,
) -> None:
    mine = [world.register(GP, family_name=f"Family{i:02d}") for i in range(5)]
    other = world.register(OTHER_GP, family_name="Elsewhere")
    world.project()
    gp = world.caller(GP)

    first = world.reads.caseload(gp, limit=3)
    second = world.reads.caseload(gp, after=first.next_after, limit=3)

    assert [c.family_name for c in first.items] == ["Family00", "Family01", "Family02"]
    assert [c.family_name for c in second.items] == ["Family03", "Family04"]
    assert second.next_after is None
    assert other not in {c.client_id for c in first.items + second.items}
    assert {str(c.client_id) for c in first.items + second.items} == set(mine)
    assert world.reads.caseload(world.caller(GP_COLLEAGUE)).items == ()  # no browsing


def test_a_team_caseload_is_for_team_members_only(world: World) -> None:
    client = world.register(GP)
    world.relate(client, NURSE, team_id="dn-north")
    world.project()

    page = world.reads.caseload(world.caller(NURSE_TEAMMATE), team_id="dn-north")
    assert [str(c.client_id) for c in page.items] == [client]
    assert page.items[0].via_team == "dn-north"
    with pytest.raises(errors.NotPermitted):
        world.reads.caseload(world.caller(GP), team_id="dn-north")
    with pytest.raises(errors.NotPermitted):
        world.reads.caseload(world.system("gp-north"))
    with pytest.raises(errors.InvalidInput):
        world.reads.caseload(world.caller(GP), after="not a cursor")


# --- referrals --------------------------------------------------------------------------


def test_referrals_incoming_outgoing_overdue_and_response_times(world: World) -> None:
    client = world.register(GP)
    late = refer(world, client, GP, "housing", days=1)
    on_time = refer(world, client, GP, "housing", days=5)
    answered = refer(world, client, GP, "housing", days=5)
    world.clock.advance(hours=2)
    world.app.accept_referral(world.caller(HOUSING), client, answered)
    world.project()
    housing, gp = world.caller(HOUSING), world.caller(GP)

    incoming = world.reads.referrals(housing, "incoming")
    assert [r.referral_id for r in incoming.items] == [late, on_time, answered]
    assert [r.referral_id for r in world.reads.referrals(gp, "outgoing").items] == [
        late,
        on_time,
        answered,
    ]
    assert world.reads.referrals(housing, "overdue").items == ()

    world.clock.advance(days=2)
    overdue = world.reads.referrals(housing, "overdue")
    assert [r.referral_id for r in overdue.items] == [late]
    assert overdue.items[0].overdue
    stats = world.reads.referral_stats(housing)
    assert (stats.total, stats.open, stats.overdue, stats.responded) == (3, 3, 1, 1)
    assert stats.median_response_seconds == pytest.approx(2 * 3600 + 60, abs=120)
    assert world.reads.referrals(world.caller(POLICE), "incoming").items == ()
    with pytest.raises(errors.NotPermitted):
        world.reads.referrals(world.client(client), "incoming")


def test_referral_pages_follow_the_cursor(world: World) -> None:
    client = world.register(GP)
    sent = [refer(world, client, GP, "housing", days=1 + i) for i in range(5)]
    world.project()
    housing = world.caller(HOUSING)

    first = world.reads.referrals(housing, "incoming", limit=2)
    rest = world.reads.referrals(housing, "incoming", after=first.next_after, limit=10)

    assert [r.referral_id for r in first.items + rest.items] == sent
    assert rest.next_after is None


# --- concerns ---------------------------------------------------------------------------


def raise_alert(world: World, client: str, by: object, kind: str = "safeguarding_concern") -> str:
    world.tick()
    result = world.app.raise_alert(
        world.caller(by),  # type: ignore[arg-type]
        client,
        kind=kind,
        severity="high",
        summary="Unexplained bruising",
        lawful_basis="safeguarding",
    )
    assert result.id is not None
    return result.id


def test_concerns_from_two_agencies_within_the_window_flag_the_client_for_leads(
    world: World,
) -> None:
    flagged = world.register(GP)
    world.relate(flagged, SOCIAL_WORKER)
    world.relate(flagged, POLICE)
    single = world.register(GP)
    world.relate(single, SOCIAL_WORKER)
    raise_alert(world, flagged, SOCIAL_WORKER)
    raise_alert(world, flagged, POLICE)
    raise_alert(world, single, SOCIAL_WORKER)
    raise_alert(world, single, SOCIAL_WORKER, kind="risk_to_self")
    world.project()

    page = world.reads.concerns(world.caller(SAFEGUARDING_LEAD))
    assert [str(c.client_id) for c in page.items] == [flagged]
    (summary,) = page.items
    assert summary.agencies == ("adult-care", "police")
    assert summary.concern_count == 2
    assert summary.open_count == 2
    # The lead has no relationship of their own: existence and agency, not the detail.
    assert all(c.kind is None for c in summary.concerns)
    assert world.reads.concerns(world.caller(POLICE_LEAD)).items == page.items
    for not_a_lead in (SOCIAL_WORKER, GP):
        with pytest.raises(errors.NotPermitted):
            world.reads.concerns(world.caller(not_a_lead))


def test_concerns_further_apart_than_the_window_do_not_flag(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    world.relate(client, POLICE)
    raise_alert(world, client, SOCIAL_WORKER)
    world.clock.advance(days=world.config.concern_window_days + 1)
    raise_alert(world, client, POLICE)
    world.project()

    assert world.reads.concerns(world.caller(SAFEGUARDING_LEAD)).items == ()


def test_a_lead_with_a_relationship_sees_the_concern_detail_the_policy_allows(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, SAFEGUARDING_LEAD)
    world.relate(client, POLICE)
    mine = raise_alert(world, client, SAFEGUARDING_LEAD)
    theirs = raise_alert(world, client, POLICE)
    world.project()

    (summary,) = world.reads.concerns(world.caller(SAFEGUARDING_LEAD)).items
    kinds = {c.entry_id: c.kind for c in summary.concerns}
    assert kinds == {mine: "safeguarding_concern", theirs: "safeguarding_concern"}
    record = summary.access_record(
        world.caller(SAFEGUARDING_LEAD), request_id="r", action="concerns", at=world.clock()
    )
    assert record.purpose == "safeguarding"
    assert record.client_id == client
    assert orjson.loads(orjson.dumps(summary.to_json()))["flagged"] is True
