"""Given / When / Then: alerts (raised, resolved) and break-glass access (granted, reviewed)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from care_world import (
    GP,
    GP_PARTNER,
    HEALTH_VISITOR,
    HOUSING,
    MH_IG,
    NURSE,
    POLICE,
    POLICE_2,
    POLICE_IG,
    POLICE_IG_OFFICER_ON_DUTY,
    SAFEGUARDING_LEAD,
    SOCIAL_WORKER,
    TEACHER,
    World,
    named,
    payload,
)

from carerecord.values import BreakGlassGrant, Labels
from carerecord.vocab import BreakGlassOutcome, LawfulBasis, Purpose, Sector, Sensitivity

# --- raise_alert -------------------------------------------------------------------------


def test_an_alert_is_labelled_like_an_entry_of_its_kinds_category(world: World) -> None:
    client = world.register(HEALTH_VISITOR)
    occurred = world.clock.now - timedelta(hours=2)
    result = None

    def command() -> object:
        nonlocal result
        result = world.app.raise_alert(
            HEALTH_VISITOR.caller,
            client,
            kind="safeguarding_concern",
            severity="high",
            summary="Unexplained bruising seen at home visit.",
            occurred_at=occurred,
            lawful_basis="safeguarding",
        )
        return result

    then = world.when(client, command)

    assert named(then) == ["AlertRaised"]
    assert result is not None
    assert payload(then[0]) == {
        "labels": Labels(
            entry_id=str(result.id),
            agency_id=HEALTH_VISITOR.agency_id,
            sector=Sector.HEALTH,
            author_id=HEALTH_VISITOR.practitioner_id,
            profession="health_visitor",
            category="safeguarding",
            heading="Alert: safeguarding_concern",
            sensitivity=Sensitivity.SENSITIVE,
            lawful_basis=LawfulBasis.SAFEGUARDING,
            occurred_at=occurred,
        ),
        "kind": "safeguarding_concern",
        "severity": "high",
        "summary": "Unexplained bruising seen at home visit.",
    }


def test_the_alert_event_name_never_reveals_its_kind(world: World) -> None:
    client = world.register(GP)
    kinds = ["risk_to_self", "missing_episode", "access_needs"]
    for kind in kinds:
        then = world.when(
            client,
            lambda k=kind: world.app.raise_alert(
                GP.caller, client, kind=k, severity="medium", summary="See entry."
            ),
        )
        assert named(then) == ["AlertRaised"]
        assert kind not in then[0].__class__.__qualname__


def alert(world: World, client: str, by: object = GP, **overrides: object) -> object:
    fields: dict[str, object] = {
        "kind": "risk_to_lone_workers",
        "severity": "medium",
        "summary": "Dog at the property; visit in pairs.",
    }
    fields.update(overrides)
    return world.app.raise_alert(by.caller, client, **fields)  # type: ignore[attr-defined]


def test_raising_an_alert_without_a_care_relationship_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused("NO_CARE_RELATIONSHIP", lambda: alert(world, client, by=HOUSING))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"kind": "bad_vibes"}, "UNKNOWN_VALUE"),
        ({"severity": "extreme"}, "UNKNOWN_VALUE"),
        ({"sensitivity": "secret"}, "UNKNOWN_VALUE"),
        ({"lawful_basis": "hunch"}, "UNKNOWN_VALUE"),
        ({"kind": "safeguarding_concern", "sensitivity": "normal"}, "SENSITIVITY_TOO_LOW"),
        ({"summary": ""}, "TEXT_EMPTY"),
        ({"summary": "s" * 2001}, "TEXT_TOO_LONG"),
        ({"summary": "bell\x07"}, "INVALID_TEXT"),
        ({"occurred_at": datetime(2026, 3, 1, 9, 0)}, "INVALID_DATE"),
    ],
)
def test_raising_an_alert_with_bad_input_is_refused(
    world: World, overrides: dict[str, object], code: str
) -> None:
    client = world.register(GP)
    world.refused(code, lambda: alert(world, client, **overrides))


def test_raising_an_alert_for_a_future_time_is_refused(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "DATE_IN_FUTURE",
        lambda: alert(world, client, occurred_at=world.clock.now + timedelta(hours=2)),
    )


# --- resolve_alert -----------------------------------------------------------------------


def raised(world: World, client: str, by: object = GP) -> str:
    result = alert(world, client, by=by)
    assert result.id is not None  # type: ignore[attr-defined]
    return str(result.id)  # type: ignore[attr-defined]


def test_the_raising_agency_resolves_its_alert(world: World) -> None:
    client = world.register(GP)
    world.relate(client, GP_PARTNER)
    alert_id = raised(world, client, GP)
    then = world.when(
        client,
        lambda: world.app.resolve_alert(GP_PARTNER.caller, client, alert_id, reason="Dog rehomed"),
    )
    assert named(then) == ["AlertResolved"]
    assert payload(then[0]) == {
        "alert_id": alert_id,
        "reason": "Dog rehomed",
        "by": GP_PARTNER.practitioner_id,
        "agency_id": GP_PARTNER.agency_id,
        "at": world.clock.now,
    }
    assert alert_id not in world.app.load_client(client).alerts


def test_a_safeguarding_lead_with_a_relationship_resolves_another_agencys_alert(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, SAFEGUARDING_LEAD)
    alert_id = raised(world, client, GP)
    then = world.when(
        client,
        lambda: world.app.resolve_alert(
            SAFEGUARDING_LEAD.caller, client, alert_id, reason="Strategy meeting closed it"
        ),
    )
    assert then[0].agency_id == SAFEGUARDING_LEAD.agency_id


def test_another_agency_without_the_safeguarding_lead_role_may_not_resolve(
    world: World,
) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    alert_id = raised(world, client, GP)
    world.refused(
        "NOT_PERMITTED",
        lambda: world.app.resolve_alert(SOCIAL_WORKER.caller, client, alert_id, reason="Done"),
    )


def test_resolving_needs_a_care_relationship_even_for_a_safeguarding_lead(world: World) -> None:
    client = world.register(GP)
    alert_id = raised(world, client, GP)
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.resolve_alert(SAFEGUARDING_LEAD.caller, client, alert_id, reason="Done"),
    )
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.resolve_alert(GP_PARTNER.caller, client, alert_id, reason="Done"),
    )


def test_resolving_an_alert_twice_is_refused(world: World) -> None:
    client = world.register(GP)
    alert_id = raised(world, client, GP)
    world.app.resolve_alert(GP.caller, client, alert_id, reason="Done")
    world.refused(
        "ALERT_NOT_ACTIVE",
        lambda: world.app.resolve_alert(GP.caller, client, alert_id, reason="Again"),
    )


def test_a_contribution_is_not_an_alert_that_can_be_resolved(world: World) -> None:
    client = world.register(GP)
    entry = world.contribute(client, GP)
    world.refused(
        "ALERT_NOT_ACTIVE",
        lambda: world.app.resolve_alert(GP.caller, client, entry, reason="Done"),
    )


@pytest.mark.parametrize(
    ("alert_id", "reason", "code"),
    [
        ("alert-1", "Done", "INVALID_IDENTIFIER"),
        ("5f0c7d2e-1111-4222-8333-444455556666", "Done", "ALERT_NOT_ACTIVE"),
        (None, "", "TEXT_EMPTY"),
    ],
)
def test_resolving_with_bad_input_is_refused(
    world: World, alert_id: str | None, reason: str, code: str
) -> None:
    client = world.register(GP)
    real = raised(world, client, GP)
    world.refused(
        code,
        lambda: world.app.resolve_alert(GP.caller, client, alert_id or real, reason=reason),
    )


# --- break_glass -------------------------------------------------------------------------

REASON = "Person in mental health crisis on the bridge, immediate risk to life"


def test_break_glass_grants_time_boxed_emergency_access_without_a_relationship(
    world: World,
) -> None:
    client = world.register(GP)
    result = None

    def command() -> object:
        nonlocal result
        result = world.app.break_glass(POLICE.caller, client, reason=REASON, minutes=45)
        return result

    then = world.when(client, command)

    assert named(then) == ["BreakGlassGranted"]
    assert result is not None
    assert payload(then[0]) == {
        "grant": BreakGlassGrant(
            grant_id=str(result.id),
            practitioner_id=POLICE.practitioner_id,
            agency_id=POLICE.agency_id,
            profession="police_officer",
            purpose=Purpose.EMERGENCY,
            granted_at=world.clock.now,
            expires_at=world.clock.now + timedelta(minutes=45),
        ),
        "reason": REASON,
    }
    assert (
        world.app.load_client(client)
        .standing_of(world.app.resolve_actor(POLICE.caller), world.clock.now)
        .grant
        == then[0].grant
    )


def test_break_glass_lasts_the_protocols_default_when_no_duration_is_given(world: World) -> None:
    client = world.register(GP)
    then = world.when(client, lambda: world.app.break_glass(POLICE.caller, client, reason=REASON))
    grant = then[0].grant
    assert grant.expires_at - grant.granted_at == timedelta(minutes=60)


@pytest.mark.parametrize("who", [HOUSING, TEACHER])
def test_professions_the_protocol_does_not_name_may_not_break_glass(
    world: World, who: object
) -> None:
    client = world.register(GP)
    world.refused(
        "NOT_PERMITTED",
        lambda: world.app.break_glass(who.caller, client, reason=REASON),  # type: ignore[attr-defined]
    )


def test_break_glass_is_only_for_the_purposes_the_protocol_names(world: World) -> None:
    client = world.register(GP)
    world.refused(
        "NOT_PERMITTED",
        lambda: world.app.break_glass(POLICE.caller, client, reason=REASON, purpose="direct_care"),
    )
    world.refused(
        "UNKNOWN_VALUE",
        lambda: world.app.break_glass(POLICE.caller, client, reason=REASON, purpose="curiosity"),
    )


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "TEXT_EMPTY"),
        ("Crisis, need info", "INVALID_INPUT"),
        ("  short reason      " + " " * 30, "INVALID_INPUT"),
        ("r" * 2001, "TEXT_TOO_LONG"),
        (REASON + "\u202a", "INVALID_TEXT"),
    ],
)
def test_break_glass_needs_a_real_reason(world: World, reason: str, code: str) -> None:
    client = world.register(GP)
    world.refused(code, lambda: world.app.break_glass(POLICE.caller, client, reason=reason))


@pytest.mark.parametrize("minutes", [0, -5, 241, 10_000, True, 1.5, "60"])
def test_break_glass_duration_must_be_whole_minutes_within_the_protocols_maximum(
    world: World, minutes: object
) -> None:
    client = world.register(GP)
    error = world.refused(
        "INVALID_INPUT",
        lambda: world.app.break_glass(POLICE.caller, client, reason=REASON, minutes=minutes),  # type: ignore[arg-type]
    )
    assert error.fields == {"field": "minutes", "reason": "out_of_range", "limit": 240}


def test_breaking_glass_on_a_client_nobody_registered_is_refused(world: World) -> None:
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.break_glass(POLICE.caller, uuid4(), reason=REASON),
    )


# --- review_break_glass ------------------------------------------------------------------


def grant(world: World, client: str, by: object = POLICE) -> str:
    result = world.app.break_glass(by.caller, client, reason=REASON)  # type: ignore[attr-defined]
    assert result.id is not None
    return result.id


def test_the_accessing_agencys_governance_officer_reviews_a_grant(world: World) -> None:
    client = world.register(GP)
    grant_id = grant(world, client)
    world.clock.advance(days=1)

    then = world.when(
        client,
        lambda: world.app.review_break_glass(
            POLICE_IG.caller,
            client,
            grant_id,
            outcome="justified",
            note="Crisis confirmed by control room log",
        ),
    )

    assert named(then) == ["BreakGlassReviewed"]
    assert payload(then[0]) == {
        "grant_id": grant_id,
        "outcome": "justified",
        "note": "Crisis confirmed by control room log",
        "by": POLICE_IG.practitioner_id,
        "agency_id": POLICE_IG.agency_id,
        "at": world.clock.now,
    }
    reviewed = world.app.load_client(client).grants[grant_id]
    assert (reviewed.review_outcome, reviewed.reviewed_by) == (
        BreakGlassOutcome.JUSTIFIED,
        POLICE_IG.practitioner_id,
    )


@pytest.mark.parametrize("reviewer", [POLICE_2, MH_IG])
def test_only_a_governance_officer_of_the_accessing_agency_reviews(
    world: World, reviewer: object
) -> None:
    client = world.register(GP)
    grant_id = grant(world, client)
    # Without a standing towards the client the refusal says only that (no oracle).
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.review_break_glass(
            reviewer.caller,  # type: ignore[attr-defined]
            client,
            grant_id,
            outcome="justified",
            note="Fine",
        ),
    )


def test_nobody_reviews_their_own_break_glass(world: World) -> None:
    client = world.register(GP)
    grant_id = grant(world, client, by=POLICE_IG_OFFICER_ON_DUTY)
    error = world.refused(
        "NOT_PERMITTED",
        lambda: world.app.review_break_glass(
            POLICE_IG_OFFICER_ON_DUTY.caller, client, grant_id, outcome="justified", note="Fine"
        ),
    )
    assert error.fields["reason"] == "own_grant"


def test_a_grant_is_reviewed_once(world: World) -> None:
    client = world.register(GP)
    grant_id = grant(world, client)
    world.app.review_break_glass(
        POLICE_IG.caller, client, grant_id, outcome="not_justified", note="No crisis logged"
    )
    world.refused(
        "BREAK_GLASS_ALREADY_REVIEWED",
        lambda: world.app.review_break_glass(
            POLICE_IG.caller, client, grant_id, outcome="justified", note="Changed my mind"
        ),
    )


@pytest.mark.parametrize(
    ("grant_id", "outcome", "note", "code"),
    [
        (str(uuid4()), "justified", "Fine", "NO_CARE_RELATIONSHIP"),
        ("grant", "justified", "Fine", "INVALID_IDENTIFIER"),
        (None, "probably", "Fine", "UNKNOWN_VALUE"),
        (None, "justified", "", "TEXT_EMPTY"),
        (None, "justified", "n" * 2001, "TEXT_TOO_LONG"),
    ],
)
def test_reviewing_with_bad_input_is_refused(
    world: World, grant_id: str | None, outcome: str, note: str, code: str
) -> None:
    client = world.register(GP)
    real = grant(world, client)
    world.refused(
        code,
        lambda: world.app.review_break_glass(
            POLICE_IG.caller, client, grant_id or real, outcome=outcome, note=note
        ),
    )


def test_break_glass_standing_ends_when_the_grant_expires(world: World) -> None:
    client = world.register(GP)
    grant(world, client, by=NURSE)
    world.contribute(client, NURSE, heading="Wound care")
    world.clock.advance(minutes=60)
    world.refused(
        "NO_CARE_RELATIONSHIP", lambda: world.contribute(client, NURSE, heading="Wound care")
    )
