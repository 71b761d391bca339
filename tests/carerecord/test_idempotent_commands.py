"""Idempotency keys: a command retried with its key returns the first outcome and stores
nothing; other input under the key is refused; a key is its caller's own; it holds across
processes and restarts, and when the same key arrives from several writers at once."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from care_world import (
    COMMANDS,
    GP,
    GP_PARTNER,
    LEAVER,
    NURSE,
    SECRET,
    Person,
    World,
    build_scene,
    has_left_service,
    log_head,
    named,
    open_app,
    run_together,
    stored_events,
    version_of,
)
from eventsourcing.utils import get_topic

from carerecord.application import CareRecord, CommandResult
from carerecord.errors import ProtocolVersionNotNewer
from carerecord.idempotency import MAX_KEY_LENGTH, IdempotencyKey
from carerecord.protocol import bundled_document

KEY_TOPIC = get_topic(IdempotencyKey.Used)
WRITERS = 4


@pytest.fixture
def key() -> str:
    """A key no caller has used yet (the store is shared by the tests of this module)."""
    return f"visit-{uuid4()}"


def note(
    world: World,
    client: str,
    by: Person = GP,
    *,
    key: str | None,
    text: str = "Dressing changed.",
    app: CareRecord | None = None,
) -> CommandResult:
    """A contribution by ``by`` under ``key`` (the same input each time it is called)."""
    return (app or world.app).record_contribution(
        by.caller,
        client,
        heading="History",
        text=text,
        occurred_at=world.clock.now - timedelta(hours=1),
        idempotency_key=key,
    )


def texts(world: World, client: str) -> list[str]:
    events = stored_events(world.app, client)
    return [e.text for e in events if type(e).__name__ == "ContributionRecorded"]


def writes_since(app: CareRecord, position: int) -> list[Any]:
    return list(app.recorder.select_notifications(start=position + 1, limit=10_000))


# --- retries --------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_and_input_returns_the_first_outcome_and_stores_nothing(
    world: World, key: str
) -> None:
    client = world.register(GP)
    first = note(world, client, key=key)
    head, version = log_head(world.app), version_of(world.app, client)

    again = note(world, client, key=key)

    assert again == first  # the same position and the same entry id
    assert log_head(world.app) == head
    assert version_of(world.app, client) == version
    assert texts(world, client) == ["Dressing changed."]


def test_without_a_key_a_repeated_command_is_stored_again(world: World) -> None:
    client = world.register(GP)
    first = note(world, client, key=None)
    second = note(world, client, key=None)
    assert second.position > first.position
    assert texts(world, client) == ["Dressing changed.", "Dressing changed."]


def test_the_key_is_saved_with_the_commands_events_and_says_nothing_sensitive(
    world: World, key: str
) -> None:
    client = world.register(GP)
    before = log_head(world.app)
    result = note(world, client, text=SECRET, key=key)

    written = writes_since(world.app, before)
    assert [n.topic.rsplit(".", 1)[-1] for n in written] == ["ContributionRecorded", "Used"]
    key_event = written[-1]
    assert key_event.topic == KEY_TOPIC
    assert key_event.id == result.position  # the command's position is its key's
    assert key.encode() not in key_event.state  # only a keyed hash of it, as the id
    assert SECRET.encode() not in key_event.state  # and of the input
    used = world.app.mapper.to_domain_event(key_event)
    assert (used.command, used.by, used.result_id) == (
        "record_contribution",
        "practitioner:dr-north",
        result.id,
    )
    assert isinstance(used.at, datetime)


def test_the_same_key_with_other_input_or_for_another_command_is_refused(
    world: World, key: str
) -> None:
    client = world.register(GP)
    other_client = world.register(GP)
    first = note(world, client, key=key)

    for attempt in (
        lambda: note(world, client, text="Something else.", key=key),
        lambda: note(world, other_client, key=key),
        lambda: world.app.raise_alert(
            GP.caller,
            client,
            kind="access_needs",
            severity="low",
            summary="Hearing loop",
            idempotency_key=key,
        ),
    ):
        error = world.refused("IDEMPOTENCY_KEY_REUSED", attempt)
        assert key not in str(error)
    assert note(world, client, key=key) == first


def test_a_key_is_its_callers_own(world: World, key: str) -> None:
    client = world.register(GP)
    world.relate(client, GP_PARTNER)
    mine = note(world, client, GP, key=key)

    theirs = note(world, client, GP_PARTNER, key=key)  # the same key and input, another caller

    assert theirs.id != mine.id
    assert theirs.position > mine.position
    assert note(world, client, GP_PARTNER, key=key) == theirs
    assert note(world, client, GP, key=key) == mine
    assert texts(world, client) == ["Dressing changed.", "Dressing changed."]


def test_only_the_caller_the_directory_vouches_for_gets_an_earlier_outcome(
    world: World, key: str
) -> None:
    client = world.register(GP)
    world.relate(client, LEAVER)
    first = note(world, client, key=key)
    left = note(world, client, LEAVER, key=key)
    impostor = replace(GP.caller, agency_id="police")  # claims to be the GP, from elsewhere

    def as_impostor() -> CommandResult:
        return world.app.record_contribution(
            impostor,
            client,
            heading="History",
            text="Dressing changed.",
            occurred_at=world.clock.now - timedelta(hours=1),
            idempotency_key=key,
        )

    world.refused("IDENTITY_MISMATCH", as_impostor)
    has_left_service(world.app, LEAVER.practitioner_id)
    world.refused("PRACTITIONER_INACTIVE", lambda: note(world, client, LEAVER, key=key))
    assert note(world, client, key=key) == first
    assert left != first


def test_a_refused_command_stores_no_key_so_its_retry_decides_afresh(
    world: World, key: str
) -> None:
    client = world.register(GP)
    due = world.clock.now + timedelta(days=3)

    def refer() -> CommandResult:
        return world.app.send_referral(
            NURSE.caller,
            client,
            to_agency="housing",
            category="housing",
            reason="Damp flat",
            due_by=due,
            idempotency_key=key,
        )

    world.refused("NO_CARE_RELATIONSHIP", refer)
    world.relate(client, NURSE)
    sent = refer()
    assert sent.id is not None
    assert refer() == sent


@pytest.mark.parametrize(
    "key",
    ["", "k" * (MAX_KEY_LENGTH + 1), "clé-1", "line\nbreak", "tab\tkey", "del\x7f", "\u202ex"],
    ids=["empty", "too-long", "not-ascii", "newline", "tab", "control", "bidi"],
)
def test_a_malformed_key_is_refused_and_nothing_is_stored(world: World, key: str) -> None:
    client = world.register(GP)
    error = world.refused("INVALID_IDEMPOTENCY_KEY", lambda: note(world, client, key=key))
    assert error.fields["field"] == "idempotency_key"


def test_a_key_of_the_longest_allowed_length_with_spaces_and_punctuation_is_accepted(
    world: World,
) -> None:
    client = world.register(GP)
    key = (f'{uuid4()} a "quoted", key; with \\ and ~ ' * 10)[:MAX_KEY_LENGTH]
    first = note(world, client, key=key)
    assert note(world, client, key=key) == first


# --- processes, restarts and concurrent writers ------------------------------------------------


def test_a_key_holds_across_processes_and_restarts(world: World, key: str) -> None:
    client = world.register(GP)
    before = open_app(world.settings, world.clock)
    try:
        first = note(world, client, app=before, key=key)
    finally:
        before.close()
    head = log_head(world.app)

    restarted = open_app(world.settings, world.clock)
    try:
        assert note(world, client, app=restarted, key=key) == first
    finally:
        restarted.close()
    assert log_head(world.app) == head


@pytest.mark.parametrize("command", ["record_contribution", "register_client", "accept_referral"])
def test_the_same_key_sent_by_many_writers_at_once_is_stored_once(
    world: World, command: str, key: str
) -> None:
    person, run = COMMANDS[command]
    scene = build_scene(world)
    before = log_head(world.app)
    writers = [open_app(world.settings, world.clock) for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    outcomes: list[CommandResult] = []

    def writer(app: CareRecord) -> Callable[[], None]:
        def work() -> None:
            on_app = World(app=app, clock=world.clock, settings=world.settings)
            start.wait()
            outcomes.append(run(on_app, person.caller, scene.client, scene, idempotency_key=key))

        return work

    try:
        run_together([writer(app) for app in writers])
    finally:
        for app in writers:
            app.close()

    assert len(outcomes) == WRITERS
    assert len(set(outcomes)) == 1, outcomes
    written = writes_since(world.app, before)
    assert [n.topic for n in written].count(KEY_TOPIC) == 1
    assert written[-1].id == outcomes[0].position


class InterleavingClock:
    """The application's clock, letting another writer commit at its n-th reading: a real
    interleaving at a known point of a command, instead of hoping a race produces it."""

    def __init__(self, clock: Callable[[], datetime], at: int, meanwhile: Callable[[], Any]):
        self.clock, self.at, self.meanwhile = clock, at, meanwhile
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        if self.calls == self.at:
            self.meanwhile()
        return self.clock()


def test_a_writer_whose_key_is_committed_by_another_between_its_load_and_save_returns_that(
    world: World, key: str
) -> None:
    client = world.register(GP)
    other = open_app(world.settings, world.clock)
    won: list[CommandResult] = []
    # record_contribution reads the clock for "now", then again for the key's time, after
    # loading and deciding: the other writer commits the same key just then.
    clock = InterleavingClock(
        world.clock, 2, lambda: won.append(note(world, client, app=other, key=key))
    )
    late = open_app(world.settings, clock)
    try:
        result = note(world, client, app=late, key=key)
    finally:
        late.close()
        other.close()

    assert result == won[0]
    assert texts(world, client) == ["Dressing changed."]
    assert clock.calls == 2  # the conflict on the key was not retried as a version conflict


def test_a_writer_refused_because_the_same_key_already_changed_the_record_returns_the_first(
    world: World, key: str
) -> None:
    person, run = COMMANDS["accept_referral"]
    scene = build_scene(world)
    other = open_app(world.settings, world.clock)
    won: list[CommandResult] = []

    def accept(app: CareRecord) -> CommandResult:
        on_app = World(app=app, clock=world.clock, settings=world.settings)
        result: CommandResult = run(on_app, person.caller, scene.client, scene, idempotency_key=key)
        return result

    # The other writer accepts the referral after this one found the key unused but before
    # it loads the record: the record now refuses a second acceptance.
    late = open_app(
        world.settings, InterleavingClock(world.clock, 1, lambda: won.append(accept(other)))
    )
    try:
        result = accept(late)
    finally:
        late.close()
        other.close()

    assert result == won[0]
    accepted = [
        e for e in stored_events(world.app, scene.client) if named([e]) == ["ReferralAccepted"]
    ]
    assert len(accepted) == 1


# --- every command -----------------------------------------------------------------------------


def test_every_command_of_the_application_takes_an_idempotency_key() -> None:
    commands = {
        name
        for name, method in inspect.getmembers(CareRecord, inspect.isfunction)
        if not name.startswith("_")
        and inspect.signature(method).return_annotation in ("CommandResult", CommandResult)
    }
    assert commands == set(COMMANDS) | {"register_agency", "enrol_practitioner", "adopt_protocol"}
    for name in commands:
        method = getattr(CareRecord, name)
        assert getattr(method, "is_command", False), name
        assert "idempotency_key" in inspect.signature(method).parameters, name


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_client_command_retried_with_its_key_returns_the_first_outcome(
    world: World, command: str, key: str
) -> None:
    person, run = COMMANDS[command]
    scene = build_scene(world)
    first = run(world, person.caller, scene.client, scene, idempotency_key=key)
    head = log_head(world.app)
    assert first.position == head

    assert run(world, person.caller, scene.client, scene, idempotency_key=key) == first
    assert log_head(world.app) == head


def test_directory_commands_retried_with_their_key_return_the_first_outcome(
    world: World, key: str
) -> None:
    code = f"agency-{uuid4().hex[:8]}"
    person = f"worker-{uuid4().hex[:8]}"

    def register() -> CommandResult:
        return world.app.register_agency(
            code=code,
            name="Riverside Carers",
            sector="voluntary",
            local_authority_area="north-shire",
            phone="01632 960001",
            email="office@riverside.example",
            idempotency_key=key,
        )

    def enrol() -> CommandResult:
        return world.app.enrol_practitioner(
            practitioner_id=person,
            agency_id=code,
            profession="support_worker",
            name="Rita Carer",
            idempotency_key=key,
        )

    registered = register()
    assert register() == registered
    world.refused("IDEMPOTENCY_KEY_REUSED", enrol)  # the operator's key is used: register's
    enrolled = world.app.enrol_practitioner(
        practitioner_id=person,
        agency_id=code,
        profession="support_worker",
        name="Rita Carer",
        idempotency_key=key + "-2",
    )
    head = log_head(world.app)
    assert (
        world.app.enrol_practitioner(
            practitioner_id=person,
            agency_id=code,
            profession="support_worker",
            name="Rita Carer",
            idempotency_key=key + "-2",
        )
        == enrolled
    )
    assert log_head(world.app) == head
    world.refused(
        "ALREADY_EXISTS",
        lambda: world.app.enrol_practitioner(
            practitioner_id=person, agency_id=code, profession="support_worker", name="Rita Carer"
        ),
    )


def test_a_protocol_adopted_under_a_key_is_adopted_once_and_keys_are_per_operator(
    fresh_app: CareRecord, key: str
) -> None:
    first = fresh_app.adopt_protocol(bundled_document(1), by="ops-ann", idempotency_key=key)
    head = log_head(fresh_app)

    assert fresh_app.adopt_protocol(bundled_document(1), by="ops-ann", idempotency_key=key) == first
    assert log_head(fresh_app) == head
    with pytest.raises(ProtocolVersionNotNewer):  # another operator's key: decided afresh
        fresh_app.adopt_protocol(bundled_document(1), by="ops-bo", idempotency_key=key)
    assert log_head(fresh_app) == head
