"""Break-glass is emergency read access: a grant never authorises a command that changes
who may see what; what its holder may record is named by the protocol
(``break_glass.may_record``, contribution + alert when a version does not say)."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pytest
from care_world import (
    COMMANDS,
    POLICE,
    POLICE_2,
    World,
    build_directory,
    build_scene,
    log_head,
)

from carerecord.application import CareRecord, CommandResult
from carerecord.errors import CareRecordError
from carerecord.protocol import bundled_document, parse_protocol
from carerecord.vocab import DEFAULT_BREAK_GLASS_RECORDS, RecordKind

DIRECTORY_COMMANDS = {"register_agency", "enrol_practitioner", "adopt_protocol"}
RECORDED_UNDER_A_GRANT = {"record_contribution", "raise_alert"}
"""What the bundled protocol (no ``may_record``: the default) lets a grant record."""
STANDING_FREE = {"start_care_relationship", "break_glass"}
"""Commands any practitioner may run without a standing (declaring a relationship, breaking
glass): a grant neither adds nor takes anything - checked against a colleague with none."""


def client_commands() -> set[str]:
    """Every client command of the application, from the ``@command`` registry."""
    return {
        name
        for name, method in inspect.getmembers(CareRecord, inspect.isfunction)
        if getattr(method, "is_command", False) and name not in DIRECTORY_COMMANDS
    } - {"register_client"}


def outcome(world: World, command: Any) -> tuple[str, int]:
    """("accepted" or the refusal code, how many log positions the command stored)."""
    before = log_head(world.app)
    try:
        command()
    except CareRecordError as exc:
        return exc.code, log_head(world.app) - before
    return "accepted", log_head(world.app) - before


def police_record(world: World, client: str) -> CommandResult:
    return world.app.record_contribution(
        POLICE.caller,
        client,
        heading="Incident summary",
        text="Found on the bridge; taken to a place of safety.",
        occurred_at=world.clock.now,
    )


def police_alert(world: World, client: str) -> CommandResult:
    return world.app.raise_alert(
        POLICE.caller, client, kind="risk_to_self", severity="high", summary="On the bridge"
    )


def test_the_registry_of_commands_is_the_one_the_property_runs_over() -> None:
    assert client_commands() == set(COMMANDS) - {"register_client"}


@pytest.mark.parametrize("command", sorted(client_commands() - RECORDED_UNDER_A_GRANT))
def test_a_grant_authorises_no_command_that_changes_sharing(world: World, command: str) -> None:
    """For every client command but what the protocol lets a grant record: the holder of a
    break-glass grant (and nothing else) is refused and nothing is stored, or - for the
    commands that need no standing - fares exactly as a colleague without any grant."""
    _, run = COMMANDS[command]
    scene = build_scene(world)  # POLICE holds an active break-glass grant on scene.client
    assert (
        world.app.load_client(scene.client).standing_of(POLICE.caller, world.clock.now).kind.value
        == "break_glass"
    )

    with_grant = outcome(world, lambda: run(world, POLICE.caller, scene.client, scene))

    if command in STANDING_FREE:
        other = build_scene(world)  # a fresh client on which POLICE_2 has no standing at all
        without = outcome(world, lambda: run(world, POLICE_2.caller, other.client, other))
        assert with_grant[0] == without[0], (command, with_grant, without)
        return
    code, stored = with_grant
    assert code != "accepted", f"{command} was accepted under a break-glass grant"
    assert stored == 0, f"{command} stored something under a break-glass grant"


@pytest.mark.parametrize(
    "command", ["record_consent", "withdraw_consent", "place_restriction", "correct_demographics"]
)
def test_a_sharing_command_under_a_grant_says_the_grant_is_read_only(
    world: World, command: str
) -> None:
    _, run = COMMANDS[command]
    scene = build_scene(world)
    error = world.refused("NOT_PERMITTED", lambda: run(world, POLICE.caller, scene.client, scene))
    assert error.fields["reason"] == "break_glass_read_only"


def test_by_default_a_grant_records_an_entry_and_raises_an_alert(world: World) -> None:
    scene = build_scene(world)
    assert parse_protocol(bundled_document(1)).break_glass.may_record == (
        DEFAULT_BREAK_GLASS_RECORDS
    )
    assert police_record(world, scene.client).position > 0
    assert police_alert(world, scene.client).position > 0


def test_without_a_grant_the_same_entry_is_refused(world: World) -> None:
    fresh = build_scene(world)  # POLICE_2 has no standing towards this client
    world.refused(
        "NO_CARE_RELATIONSHIP",
        lambda: world.app.record_contribution(
            POLICE_2.caller,
            fresh.client,
            heading="Incident summary",
            text="Found on the bridge.",
            occurred_at=world.clock.now,
        ),
    )


def adopt_with(app: CareRecord, may_record: list[str]) -> None:
    document = bundled_document(1)
    document["break_glass"] = dict(document["break_glass"], may_record=may_record)
    app.adopt_protocol(document)


@pytest.mark.parametrize(
    ("may_record", "allowed"),
    [
        ([], set()),
        (["referral"], {"send_referral"}),
        (["contribution"], {"record_contribution"}),
        (["alert", "referral"], {"raise_alert", "send_referral"}),
    ],
)
def test_the_protocol_names_what_a_grant_may_record(
    fresh_app: CareRecord, clock: Any, may_record: list[str], allowed: set[str]
) -> None:
    adopt_with(fresh_app, may_record)
    build_directory(fresh_app)
    world = World(app=fresh_app, clock=clock, settings=None)  # type: ignore[arg-type]
    assert fresh_app.protocol().break_glass.may_record == frozenset(
        RecordKind(k) for k in may_record
    )
    scene = build_scene(world)
    attempts = {
        "record_contribution": lambda: police_record(world, scene.client),
        "raise_alert": lambda: police_alert(world, scene.client),
        "send_referral": lambda: world.app.send_referral(
            POLICE.caller,
            scene.client,
            to_agency="mh-trust",
            category="mental_health",
            reason="Street triage follow-up",
            due_by=world.clock.now + timedelta(days=1),
        ),
    }
    for name, attempt in attempts.items():
        code, stored = outcome(world, attempt)
        if name in allowed:
            assert code == "accepted", name
        else:
            assert (code, stored) == ("NOT_PERMITTED", 0), name


def test_may_record_takes_only_the_fixed_vocabulary(fresh_app: CareRecord) -> None:
    document = bundled_document(1)
    document["break_glass"] = dict(document["break_glass"], may_record=["consent"])
    with pytest.raises(CareRecordError) as info:
        fresh_app.adopt_protocol(document)
    assert info.value.code == "INVALID_PROTOCOL"
    assert info.value.fields.get("field") == "break_glass.may_record"


def test_an_absent_may_record_leaves_the_adopted_versions_hashes_alone() -> None:
    for version in (1, 2):
        document = bundled_document(version)
        assert "may_record" not in document["break_glass"]
        parsed = parse_protocol(document)
        assert parsed.break_glass.may_record == DEFAULT_BREAK_GLASS_RECORDS
        with_default = dict(document)
        with_default["break_glass"] = dict(
            document["break_glass"], may_record=["contribution", "alert"]
        )
        # The same rules, but another document: only an absent field keeps the hash.
        assert parse_protocol(with_default).content_hash != parsed.content_hash
        assert parse_protocol(with_default).break_glass == parsed.break_glass
