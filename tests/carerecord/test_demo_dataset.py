"""The demo dataset tells the pilots' stories, through the commands, the same for a seed;
``carerecord demo`` loads it into the configured store once."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from carerecord.application import CareRecord
from carerecord.client_record import ClientRecord
from carerecord.demo import DIRECTORY, DemoSummary, load_demo
from carerecord.migrate import migrate
from carerecord.protocol import bundled_document, parse_protocol
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from carerecord.values import Labels
from carerecord.vocab import Role, Sector
from entrypoint.cli import app as cli

GENERATED = 6


@pytest.fixture(scope="module")
def demo(shared_settings: Settings) -> Iterator[tuple[CareRecord, DemoSummary]]:
    """The demo loaded once per backend (on the real clock) for this module's read-only checks."""
    app = open_care_record(shared_settings)
    try:
        yield app, load_demo(app, seed=11, clients=GENERATED)
    finally:
        app.close()


def client_events(app: CareRecord, client_id: str) -> list[Any]:
    return list(app.repository.event_store.get(UUID(client_id)))


def of_type(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if type(e).__name__ == name]


def all_clients(summary: DemoSummary) -> list[str]:
    return [*summary.scenario_clients.values(), *summary.generated_clients]


def test_the_partnership_spans_every_sector_with_a_governance_officer_per_agency(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    sectors = {app.agency(code).sector for code in summary.agencies}
    assert sectors == set(Sector)
    for code in summary.agencies:
        people = summary.practitioners_of(code)
        assert any(Role.IG_OFFICER.value in p.roles for p in people), code
        for person in people:
            enrolled = app.practitioner(person.practitioner_id)
            assert (enrolled.agency_id, enrolled.profession) == (code, person.profession)
    professions = {p.profession for p in summary.practitioners.values()}
    assert set(app.protocol().professions) <= professions
    roles = {r for p in summary.practitioners.values() for r in p.roles}
    assert {r.value for r in Role} <= roles
    children = [c for c in summary.agencies if app.agency(c).sector is Sector.SOCIAL_CARE]
    assert len({app.agency(c).local_authority_area for c in children}) == 2


def test_protocol_version_two_was_adopted_partway_and_three_last_with_one_in_the_log(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    assert summary.protocol_version == app.protocol().version == 3
    assert summary.counts["SharingProtocol.VersionAdopted"] == 3
    adopted = [
        n.id
        for n in app.recorder.select_notifications(start=1, limit=100_000)
        if n.topic.endswith("SharingProtocol.VersionAdopted")
    ]
    registered_after_v2 = [
        n.id
        for n in app.recorder.select_notifications(start=adopted[1], limit=100_000)
        if n.topic.endswith("ClientRecord.Registered")
    ]
    assert registered_after_v2, "some clients are recorded under version 2"


def test_each_gp_practice_relates_only_to_its_own_patients(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    practices = {"gp-northgate", "gp-riverside"}
    for client in all_clients(summary):
        started = of_type(client_events(app, client), "CareRelationshipStarted")
        gp_agencies = {e.relationship.agency_id for e in started} & practices
        assert len(gp_agencies) <= 1, client
        if client in summary.generated_clients:
            assert len(gp_agencies) == 1, client


def test_every_entry_is_under_its_authors_own_heading_and_every_time_is_in_the_last_two_years(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    earliest = summary.loaded_at - timedelta(days=731)
    # An entry keeps the category its heading mapped to when it was recorded (version 3
    # maps "Crisis plan" to its own category; versions 1 and 2 to mental health).
    mappings = [parse_protocol(bundled_document(v)) for v in (1, 2, 3)]
    for client in all_clients(summary):
        for event in client_events(app, client):
            labels: Labels | None = getattr(event, "labels", None)
            if labels is not None and type(event).__name__ == "ContributionRecorded":
                profession = DIRECTORY[
                    next(k for k, p in DIRECTORY.items() if p.practitioner_id == labels.author_id)
                ].profession
                assert labels.profession == profession
                assert labels.category in {
                    p.category_for_heading(profession, labels.heading) for p in mappings
                }
            for when in (getattr(event, "at", None), labels and labels.occurred_at):
                if isinstance(when, datetime):
                    assert earliest <= when <= summary.loaded_at + timedelta(minutes=5)


def test_the_older_persons_single_assessment_brings_health_social_care_and_housing_together(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    events = client_events(app, summary.scenario_clients["older_person_single_assessment"])
    contributions = of_type(events, "ContributionRecorded")
    assert {e.labels.sector for e in contributions} >= {
        Sector.HEALTH,
        Sector.SOCIAL_CARE,
        Sector.HOUSING,
    }
    assert len({e.labels.profession for e in contributions}) >= 5
    consents = [e.decision for e in of_type(events, "ConsentRecorded")]
    assert any(c.given_by.value == "lasting_power_of_attorney" for c in consents)
    assert of_type(events, "ContributionAmended")
    assert of_type(events, "ContributionEnteredInError")


def test_the_child_with_disabilities_has_a_virtual_team_and_referrals_with_deadlines(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    client = summary.scenario_clients["child_with_disabilities"]
    events = client_events(app, client)
    authors = {e.labels.profession for e in of_type(events, "ContributionRecorded")}
    assert authors >= {
        "speech_and_language_therapist",
        "occupational_therapist",
        "educational_psychologist",
        "social_worker",
        "district_nurse",
    }
    assert any(e.relationship.team_id for e in of_type(events, "CareRelationshipStarted"))
    assert any(c.decision.given_by.value == "parent" for c in of_type(events, "ConsentRecorded"))
    referrals = app.load_client(client).referrals.values()
    open_soon_overdue = [
        r
        for r in referrals
        if r.status.value in ("sent", "acknowledged")
        and r.due_by <= summary.loaded_at + timedelta(minutes=10)
    ]
    assert len(open_soon_overdue) >= 2
    assert {r.status.value for r in referrals} >= {"accepted", "acknowledged", "declined"}


def test_child_protection_spans_two_councils_with_concerns_from_three_agencies_in_a_week(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    client = summary.scenario_clients["child_protection_two_councils"]
    events = client_events(app, client)
    concerns = [e for e in of_type(events, "AlertRaised") if e.kind == "safeguarding_concern"]
    assert len({e.labels.agency_id for e in concerns}) >= 3
    times = sorted(e.labels.occurred_at for e in concerns)
    assert times[-1] - times[0] <= timedelta(days=7)
    record = app.load_client(client)
    assert set(record.local_ids) == {"north-shire", "east-vale"}
    councils = {r.agency_id for r in record.relationships.values()}
    assert {"ns-children", "ev-children"} <= councils
    refusals = [c for c in record.consents.values() if c.decision.value == "refused"]
    assert refusals
    assert refusals[0].given_by.value == "parent"
    shared_anyway = [
        e
        for e in of_type(events, "ContributionRecorded")
        if e.labels.lawful_basis.value == "safeguarding"
    ]
    assert shared_anyway
    sealed = [e.restriction for e in of_type(events, "RestrictionPlaced")]
    assert [r.requested_by.value for r in sealed] == ["contributor"]


def test_the_street_triage_crisis_has_a_justified_reviewed_break_glass_and_re_granted_consent(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    events = client_events(app, summary.scenario_clients["street_triage_crisis"])
    (granted,) = of_type(events, "BreakGlassGranted")
    assert granted.grant.profession == "police_officer"
    assert len(granted.reason) >= 20
    (reviewed,) = of_type(events, "BreakGlassReviewed")
    assert (reviewed.grant_id, reviewed.outcome) == (granted.grant.grant_id, "justified")
    assert reviewed.by == DIRECTORY["ig_police"].practitioner_id
    consent_story = [type(e).__name__ for e in events if type(e).__name__.startswith("Consent")]
    assert consent_story == ["ConsentRecorded", "ConsentWithdrawn", "ConsentRecorded"]
    authors = {e.labels.profession for e in of_type(events, "ContributionRecorded")}
    assert {"police_officer", "mental_health_practitioner"} <= authors


def test_the_crisis_plan_keeps_the_category_it_was_recorded_under(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    events = client_events(app, summary.scenario_clients["street_triage_crisis"])
    plans = [
        e.labels.category
        for e in of_type(events, "ContributionRecorded")
        if e.labels.heading == "Crisis plan"
    ]
    # Recorded under version 1 (mental health), reviewed under version 3 (its own).
    assert plans == ["mental_health", "crisis_plan"]


def test_restrictions_were_placed_at_the_clients_and_at_a_contributors_request(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    requesters = Counter(
        e.restriction.requested_by.value
        for client in all_clients(summary)
        for e in of_type(client_events(app, client), "RestrictionPlaced")
    )
    assert requesters["client"] >= 1
    assert requesters["contributor"] >= 1


def test_the_summary_counts_what_the_log_holds(demo: tuple[CareRecord, DemoSummary]) -> None:
    app, summary = demo
    assert summary.position == app.recorder.max_notification_id()
    assert summary.counts["ClientRecord.Registered"] == len(all_clients(summary))
    assert len(summary.generated_clients) == GENERATED
    assert summary.counts["Agency.Registered"] == len(summary.agencies)
    assert summary.counts["Practitioner.Enrolled"] == len(summary.practitioners)
    assert sum(summary.counts.values()) == summary.position


# --- determinism ---------------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def content(app: CareRecord) -> Iterator[tuple[str, str]]:
    """The log's content with generated ids replaced by their order of first appearance."""
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"id{len(names)}")

    for n in app.recorder.select_notifications(start=1, limit=100_000):
        state = re.sub(rb'"timestamp":\{[^}]*\},?', b"", n.state).decode()
        yield n.topic, _UUID.sub(rename, f"{n.originator_id}:{n.originator_version}:{state}")


def load_into(tmp: Path, clock: Any, seed: int) -> list[tuple[str, str]]:
    settings = Settings(data_dir=tmp, identifier_key=b"k" * 32)
    migrate(settings)
    app = open_care_record(settings, clock=clock)
    try:
        load_demo(app, seed=seed, clients=4)
        return list(content(app))
    finally:
        app.close()


def test_the_same_seed_gives_the_same_content_and_another_seed_does_not(
    tmp_path: Path, clock: Any
) -> None:
    first = load_into(tmp_path / "a", clock, seed=5)
    second = load_into(tmp_path / "b", clock, seed=5)
    other = load_into(tmp_path / "c", clock, seed=6)

    assert first == second
    assert first != other
    assert len(first) > 200


# --- the command line ----------------------------------------------------------------------


def test_carerecord_demo_loads_an_empty_store_once_and_refuses_or_skips_after(
    tmp_path: Path,
) -> None:
    env = {"CARERECORD_DATA_DIR": str(tmp_path / "data"), "CARERECORD_DATABASE_URL": ""}
    runner = CliRunner()

    loaded = runner.invoke(cli, ["demo", "--clients", "3", "--seed", "2"], env=env)

    assert loaded.exit_code == 0, loaded.output
    assert "street_triage_crisis" in loaded.output
    assert "dr-amira-khan" in loaded.output
    settings = Settings.from_env(env)
    app = open_care_record(settings)
    try:
        head = app.recorder.max_notification_id()
        registered = [
            n
            for n in app.recorder.select_notifications(start=1, limit=100_000)
            if n.topic.endswith("ClientRecord.Registered")
        ]
        assert len(registered) == 5 + 3
        assert app.protocol().version == 3
        assert isinstance(app.load_client(registered[0].originator_id), ClientRecord)

        refused = runner.invoke(cli, ["demo"], env=env)
        assert refused.exit_code == 2
        assert "STORE_NOT_EMPTY" in refused.output

        skipped = runner.invoke(cli, ["demo", "--if-empty"], env=env)
        assert skipped.exit_code == 0
        assert skipped.output == ""
        assert app.recorder.max_notification_id() == head
    finally:
        app.close()


def test_carerecord_demo_refuses_a_negative_number_of_clients(tmp_path: Path) -> None:
    env = {"CARERECORD_DATA_DIR": str(tmp_path / "data"), "CARERECORD_DATABASE_URL": ""}
    result = CliRunner().invoke(cli, ["demo", "--clients", "-1"], env=env)
    assert result.exit_code == 2
    assert not (tmp_path / "data" / "events.sqlite3").exists()


def test_demo_birth_dates_make_the_scenario_clients_the_ages_the_stories_need(
    demo: tuple[CareRecord, DemoSummary],
) -> None:
    app, summary = demo
    today = summary.loaded_at.date()

    def age(client: str) -> int:
        born = date.fromisoformat(app.client_identity(UUID(client)).date_of_birth)
        return (today - born).days // 365

    assert age(summary.scenario_clients["older_person_single_assessment"]) >= 75
    assert age(summary.scenario_clients["child_with_disabilities"]) < 16
    assert age(summary.scenario_clients["child_protection_two_councils"]) < 16
