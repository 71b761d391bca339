"""The event store's contract, on SQLite and PostgreSQL: events round-trip exactly, concurrent
writers lose nothing and half-write nothing, long streams replay (with or without
snapshots) to the same state, and every stored event is hash-chained."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from care_world import (
    GP,
    NURSE,
    POLICE,
    SOCIAL_WORKER,
    SwitchableClock,
    build_directory,
    fresh_nhs_number,
    open_app,
    run_together,
    stored_events,
)
from event_samples import CLIENT_EVENT_TYPES, T0, long_history, one_of_everything, registered

from carerecord.agency import Agency
from carerecord.application import CareRecord
from carerecord.chain import GENESIS, link_hash, record_digest
from carerecord.db import Databases
from carerecord.errors import CareRecordError
from carerecord.identifier_claim import IdentifierClaim, claim_id
from carerecord.persistence import chain_table_name, library_env
from carerecord.practitioner import Practitioner
from carerecord.protocol import bundled_document
from carerecord.settings import Settings
from carerecord.sharing_protocol import SharingProtocol
from carerecord.transcoder import OrjsonTranscoder
from carerecord.values import JSON_VALUE_TYPES
from carerecord.vocab import Role, Sector


def state_of(aggregate: Any) -> dict[str, Any]:
    """An aggregate's whole state, as replay must rebuild it."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


# --- round trips -----------------------------------------------------------------------------


def test_every_client_event_type_round_trips_through_the_store_unchanged(
    fresh_app: CareRecord, settings: Settings, clock: Any
) -> None:
    record = registered()
    one_of_everything(record, T0)
    expected_state = state_of(record)
    originals = list(record.collect_events())
    assert {type(e).__name__ for e in originals} == set(CLIENT_EVENT_TYPES)

    fresh_app.save(*originals)

    reader = open_app(settings, clock)  # another instance: nothing from a cache
    try:
        loaded = list(reader.repository.event_store.get(record.id))
        assert loaded == originals
        assert [type(e) for e in loaded] == [type(e) for e in originals]
        assert state_of(reader.repository.get(record.id)) == expected_state
    finally:
        reader.close()


def test_directory_and_protocol_events_round_trip_through_the_store_unchanged(
    fresh_app: CareRecord, settings: Settings, clock: Any
) -> None:
    agency = Agency.register(
        code="gp-north",
        name="Northgate Surgery",
        sector=Sector.HEALTH,
        local_authority_area="north-shire",
        phone="01632 960000",
        email="a@b.example",
        by="admin",
        at=T0,
    )
    agency.change_contact_details(phone="01632 960001", email="c@d.example", by="admin", at=T0)
    person = Practitioner.enrol(
        practitioner_id="dr-north",
        agency_id="gp-north",
        profession="gp",
        name="Dr North",
        roles=frozenset({Role.PRACTITIONER, Role.SAFEGUARDING_LEAD}),
        teams=frozenset({"frailty"}),
        phone="",
        email="",
        trained_on=date(2025, 1, 2),
        by="admin",
        at=T0,
    )
    person.reassign_roles(roles=frozenset({Role.AUDITOR}), teams=frozenset(), by="admin", at=T0)
    person.leave_service(reason="Retired", by="admin", at=T0)
    protocol = SharingProtocol.establish(partnership="north-shire", by="board", at=T0)
    protocol.adopt(bundled_document(1), by="board", at=T0)
    protocol.adopt(bundled_document(2), by="board", at=T0 + timedelta(days=30))
    claim = IdentifierClaim.claim(
        claim_id=claim_id(b"k" * 32, "nhs", "9434765919"), client_id=str(uuid4()), at=T0
    )
    aggregates = [agency, person, protocol, claim]
    originals = {a.id: list(a.collect_events()) for a in aggregates}

    fresh_app.save(*[e for events in originals.values() for e in events])

    reader = open_app(settings, clock)
    try:
        for aggregate_id, events in originals.items():
            assert list(reader.repository.event_store.get(aggregate_id)) == events
        assert reader.protocol().version == 2
        assert not reader.practitioner("dr-north").active
    finally:
        reader.close()


def test_the_transcoder_alone_round_trips_every_event_and_value() -> None:
    transcoder = OrjsonTranscoder()
    record = registered()
    one_of_everything(record, T0)
    for event in record.collect_events():
        state = {
            k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")
        }
        assert transcoder.decode(transcoder.encode(state)) == state, type(event).__name__
        assert transcoder.encode(state) == transcoder.encode(
            transcoder.decode(transcoder.encode(state))
        )
    for value_type in JSON_VALUE_TYPES:
        assert value_type.json_name  # every value object is registered under a stable name


def test_the_transcoder_refuses_what_it_cannot_store_faithfully() -> None:
    with pytest.raises(TypeError):
        OrjsonTranscoder().encode({"x": object()})
    with pytest.raises(TypeError):
        OrjsonTranscoder().encode({"x": {1, 2}})


def test_the_mapper_round_trips_every_event_as_the_application_stores_it(
    fresh_app: CareRecord,
) -> None:
    record = registered()
    one_of_everything(record, T0)
    for event in record.collect_events():
        stored = fresh_app.mapper.to_stored_event(event)
        assert stored.topic.startswith("carerecord.client_record:ClientRecord.")
        assert fresh_app.mapper.to_domain_event(stored) == event


# --- concurrent writers --------------------------------------------------------------------

WRITERS = 3
COMMANDS_EACH = 12


def directory_store(settings: Settings) -> tuple[CareRecord, SwitchableClock, str]:
    from carerecord.migrate import migrate
    from carerecord.runtime import open_care_record

    migrate(settings)
    clock = SwitchableClock()
    clock.current = lambda: datetime.now(UTC)
    app = open_care_record(settings, clock=clock)
    app.adopt_protocol(bundled_document(1))
    build_directory(app)
    client = app.register_client(
        GP.caller,
        nhs_number=fresh_nhs_number(),
        given_name="Ann",
        family_name="Bell",
        date_of_birth=date(1950, 1, 1),
    ).id
    assert client is not None
    for person in (NURSE, SOCIAL_WORKER, POLICE):
        app.start_care_relationship(person.caller, client, reason="Involved")
    return app, clock, client


def test_concurrent_writers_on_one_client_lose_no_update_and_half_write_nothing(
    settings: Settings,
) -> None:
    app, clock, client = directory_store(settings)
    writers = [open_app(settings, clock) for _ in range(WRITERS)]
    people = [NURSE, SOCIAL_WORKER, POLICE]
    start = threading.Barrier(WRITERS)
    outcomes: list[tuple[str, str, str]] = []  # (writer's tag, "ok" or error code, kind)
    lock = threading.Lock()

    def writer(n: int) -> Callable[[], None]:
        def work() -> None:
            me, person = writers[n], people[n]
            start.wait()
            for i in range(COMMANDS_EACH):
                tag = f"w{n}-{i}"
                kind = "local_id" if i % 3 == 0 else "contribution"
                try:
                    if kind == "local_id":
                        me.record_local_identifier(
                            person.caller, client, authority=f"auth-{tag}", local_id=tag
                        )
                    else:
                        me.record_contribution(
                            person.caller,
                            client,
                            heading={
                                "district_nurse": "Wound care",
                                "social_worker": "Finances",
                            }.get(person.profession, "Incident summary"),
                            text=tag,
                            occurred_at=clock(),
                        )
                    outcome = "ok"
                except CareRecordError as exc:
                    outcome = exc.code
                with lock:
                    outcomes.append((tag, outcome, kind))

        return work

    try:
        run_together([writer(n) for n in range(WRITERS)])

        events = stored_events(app, client)
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        texts = [e.text for e in events if type(e).__name__ == "ContributionRecorded"]
        local_ids = [e.local_id for e in events if type(e).__name__ == "LocalIdentifierRecorded"]
        assert len(outcomes) == WRITERS * COMMANDS_EACH
        for tag, outcome, kind in outcomes:
            assert outcome in ("ok", "CONCURRENT_UPDATE"), (tag, outcome)
            found = texts.count(tag) if kind == "contribution" else local_ids.count(tag)
            assert found == (1 if outcome == "ok" else 0), (tag, outcome, found)
            claimed = app.lookup_client(authority=f"auth-{tag}", local_id=tag)
            assert claimed == (UUID(client) if kind == "local_id" and outcome == "ok" else None)
        assert len(texts) + len(local_ids) == sum(1 for o in outcomes if o[1] == "ok")
    finally:
        for other in writers:
            other.close()
        app.close()


def test_concurrent_registrations_of_one_nhs_number_leave_exactly_one_client(
    settings: Settings,
) -> None:
    app, clock, _ = directory_store(settings)
    writers = [open_app(settings, clock) for _ in range(WRITERS)]
    nhs = fresh_nhs_number()
    start = threading.Barrier(WRITERS)
    outcomes: list[str] = []

    def register(me: CareRecord) -> Callable[[], None]:
        def work() -> None:
            start.wait()
            try:
                me.register_client(
                    GP.caller,
                    nhs_number=nhs,
                    given_name="Ann",
                    family_name="Twin",
                    date_of_birth=date(1950, 1, 1),
                )
                outcomes.append("ok")
            except CareRecordError as exc:
                outcomes.append(exc.code)

        return work

    try:
        run_together([register(me) for me in writers])

        assert sorted(outcomes) == ["DUPLICATE_IDENTIFIER"] * (WRITERS - 1) + ["ok"]
        registered_with_number = [
            n
            for n in app.recorder.select_notifications(start=1, limit=100_000)
            if n.topic.endswith("ClientRecord.Registered") and nhs.encode() in n.state
        ]
        assert len(registered_with_number) == 1
        holder = app.lookup_client(nhs_number=nhs)
        assert holder == registered_with_number[0].originator_id
    finally:
        for other in writers:
            other.close()
        app.close()


# --- long streams and snapshots --------------------------------------------------------------


def test_a_client_with_a_thousand_events_replays_to_the_same_state_with_or_without_snapshots(
    fresh_app: CareRecord, settings: Settings, clock: Any
) -> None:
    client = uuid4()
    for record in long_history(1_000, client):
        fresh_app.save(record)
    assert fresh_app.snapshots is not None
    snapshot_versions = [s.originator_version for s in fresh_app.snapshots.get(client)]
    assert snapshot_versions == list(range(100, 1_001, 100))

    with_snapshots = open_app(settings, clock)
    env = library_env(settings, create_tables=False) | {"IS_SNAPSHOTTING_ENABLED": "n"}
    without_snapshots = CareRecord(
        env, identifier_key=settings.resolved_identifier_key(), clock=clock
    )
    try:
        assert without_snapshots.snapshots is None
        latest = state_of(with_snapshots.repository.get(client))
        assert latest["_version"] >= 1_000
        assert state_of(without_snapshots.repository.get(client)) == latest
        for version in (1, 99, 100, 101, 555, 1_000):
            assert state_of(with_snapshots.repository.get(client, version=version)) == state_of(
                without_snapshots.repository.get(client, version=version)
            )
        events = list(without_snapshots.repository.event_store.get(client))
        assert [e.originator_version for e in events] == list(range(1, latest["_version"] + 1))
    finally:
        with_snapshots.close()
        without_snapshots.close()


# --- the hash chain ----------------------------------------------------------------------------


def chain_problems(settings: Settings, app: CareRecord) -> list[int]:
    """Positions whose chain row does not link to its predecessors or its event's bytes."""
    notifications = app.recorder.select_notifications(start=1, limit=1_000_000)
    dbs = Databases(settings)
    try:
        with dbs.events.snapshot() as tx:
            rows = tx.fetchall(
                "SELECT notification_id, originator_id, originator_version, stream_prev_hash, "
                f"prev_hash, hash FROM {chain_table_name(settings)} ORDER BY notification_id"
            )
    finally:
        dbs.close()
    assert [r[0] for r in rows] == [n.id for n in notifications], "missing or extra chain rows"
    problems, prev, heads = [], GENESIS, {}
    for notification, row in zip(notifications, rows, strict=True):
        stream = str(notification.originator_id)
        stream_prev = heads.get(stream, GENESIS)
        digest = record_digest(
            notification.id,
            notification.originator_id,
            notification.originator_version,
            notification.topic,
            notification.state,
        )
        expected = link_hash(prev, stream_prev, digest)
        position, row_stream, version, row_stream_prev, row_prev, row_hash = row
        if (
            (str(UUID(str(row_stream))), version) != (stream, notification.originator_version)
            or (bytes(row_stream_prev), bytes(row_prev)) != (stream_prev, prev)
            or bytes(row_hash) != expected
        ):
            problems.append(position)
        prev, heads[stream] = bytes(row_hash), bytes(row_hash)
    return problems


def test_every_stored_event_has_a_chain_row_linking_it_to_the_log_and_its_stream(
    settings: Settings,
) -> None:
    app, _, client = directory_store(settings)
    try:
        for _ in range(3):
            app.record_contribution(
                GP.caller, client, heading="Plan", text="Review.", occurred_at=app.clock()
            )
        record = registered()
        one_of_everything(record, T0)
        app.save(record)

        assert chain_problems(settings, app) == []
        assert (app.recorder.max_notification_id() or 0) > 50
    finally:
        app.close()


def test_altering_a_stored_event_breaks_its_chain_link(settings: Settings) -> None:
    app, _, client = directory_store(settings)
    victim = app.record_contribution(
        GP.caller, client, heading="Plan", text="Original.", occurred_at=app.clock()
    ).position
    app.record_contribution(
        GP.caller, client, heading="Plan", text="Later.", occurred_at=app.clock()
    )
    dbs = Databases(settings)
    try:
        with dbs.events.transaction() as tx:
            if settings.postgres is None:
                tx.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (b"{}", victim))
            else:
                tx.execute(
                    "UPDATE carerecord_events SET state = ? WHERE notification_id = ?",
                    (b"{}", victim),
                )
        assert chain_problems(settings, app) == [victim]
    finally:
        dbs.close()
        app.close()
