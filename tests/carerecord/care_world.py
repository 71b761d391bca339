"""Small builders for the core's tests: a partnership directory, callers, clients, events.

The domain tests read as Given (events, made through the public commands) -> When (one
command) -> Then (the events it stored, read back from the store, or a coded refusal
that stored nothing). Helpers here keep those three steps one line each.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from carerecord.application import CareRecord
from carerecord.errors import CareRecordError
from carerecord.persistence import library_env
from carerecord.practitioner import Practitioner
from carerecord.settings import Settings
from carerecord.values import Viewer
from carerecord.vocab import Role, ViewerKind

SETUP_TIME = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
"""When the shared directory is built: before every test's FakeClock start."""

SECRET = "Zebra-7731 disclosed a private matter"
"""Free text that must never appear in an error (a stand-in for clinical text)."""


# --- the directory ----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    practitioner_id: str
    agency_id: str
    profession: str
    roles: tuple[Role, ...] = (Role.PRACTITIONER,)
    teams: tuple[str, ...] = ()

    @property
    def caller(self) -> Viewer:
        """The identity a token would claim for this practitioner."""
        return Viewer(
            kind=ViewerKind.PRACTITIONER,
            agency_id=self.agency_id,
            profession=self.profession,
            practitioner_id=self.practitioner_id,
        )


AGENCIES = (
    ("gp-north", "Northgate Surgery", "health", "north-shire"),
    ("gp-south", "Southfield Medical Centre", "health", "north-shire"),
    ("community-health", "North Shire Community Health", "health", "north-shire"),
    ("mh-trust", "North Shire Mental Health Trust", "health", "north-shire"),
    ("ambulance", "Shires Ambulance Service", "health", "north-shire"),
    ("adult-care", "North Shire Adult Social Care", "social_care", "north-shire"),
    ("children-north", "North Shire Children's Services", "social_care", "north-shire"),
    ("children-east", "East Vale Children's Services", "social_care", "east-vale"),
    ("police", "Shires Police", "police", "north-shire"),
    ("housing", "North Shire Housing", "housing", "north-shire"),
    ("school", "Riverside Primary School", "education", "north-shire"),
    ("charity", "Good Neighbours", "voluntary", "north-shire"),
)

GP = Person("dr-north", "gp-north", "gp")
GP_PARTNER = Person("dr-north-2", "gp-north", "gp")
OTHER_GP = Person("dr-south", "gp-south", "gp")
NURSE = Person("nurse-ann", "community-health", "district_nurse", teams=("dn-north",))
NURSE_2 = Person("nurse-bo", "community-health", "district_nurse", teams=("dn-north",))
NURSE_LEAD = Person(
    "nurse-lead", "community-health", "district_nurse", (Role.PRACTITIONER, Role.TEAM_LEAD)
)
HEALTH_VISITOR = Person("hv-cara", "community-health", "health_visitor")
COMMUNITY_IG = Person("ch-ig", "community-health", "district_nurse", (Role.IG_OFFICER,))
MH_PRACTITIONER = Person("mhp-dev", "mh-trust", "mental_health_practitioner")
PSYCHIATRIST = Person("psych-eve", "mh-trust", "psychiatrist")
MH_IG = Person("mh-ig", "mh-trust", "psychiatrist", (Role.IG_OFFICER,))
PARAMEDIC = Person("para-fin", "ambulance", "paramedic")
SOCIAL_WORKER = Person("sw-gail", "adult-care", "social_worker")
SAFEGUARDING_LEAD = Person(
    "sw-lead", "adult-care", "social_worker", (Role.SAFEGUARDING_LEAD, Role.TEAM_LEAD)
)
CHILD_SOCIAL_WORKER = Person("csw-hal", "children-north", "social_worker")
EAST_SOCIAL_WORKER = Person("csw-east", "children-east", "social_worker")
POLICE = Person("pc-ivy", "police", "police_officer")
POLICE_2 = Person("pc-jay", "police", "police_officer")
POLICE_IG = Person("police-ig", "police", "police_officer", (Role.IG_OFFICER,))
POLICE_IG_OFFICER_ON_DUTY = Person(
    "pc-ig-duty", "police", "police_officer", (Role.PRACTITIONER, Role.IG_OFFICER)
)
HOUSING = Person("ho-kim", "housing", "housing_officer")
TEACHER = Person("teacher-lu", "school", "teacher")
SUPPORT_WORKER = Person("sup-max", "charity", "support_worker")
AUDITOR = Person("audit-ned", "gp-north", "gp", (Role.AUDITOR,))
LEAVER = Person("dr-left", "gp-north", "gp")

PEOPLE = (
    GP,
    GP_PARTNER,
    OTHER_GP,
    NURSE,
    NURSE_2,
    NURSE_LEAD,
    HEALTH_VISITOR,
    COMMUNITY_IG,
    MH_PRACTITIONER,
    PSYCHIATRIST,
    MH_IG,
    PARAMEDIC,
    SOCIAL_WORKER,
    SAFEGUARDING_LEAD,
    CHILD_SOCIAL_WORKER,
    EAST_SOCIAL_WORKER,
    POLICE,
    POLICE_2,
    POLICE_IG,
    POLICE_IG_OFFICER_ON_DUTY,
    HOUSING,
    TEACHER,
    SUPPORT_WORKER,
    AUDITOR,
    LEAVER,
)


def build_directory(app: CareRecord) -> None:
    """Register the test partnership's agencies and enrol its practitioners."""
    for code, name, sector, area in AGENCIES:
        app.register_agency(
            code=code,
            name=name,
            sector=sector,
            local_authority_area=area,
            phone="01632 960000",
            email=f"duty@{code}.example",
            at=SETUP_TIME,
        )
    for person in PEOPLE:
        app.enrol_practitioner(
            practitioner_id=person.practitioner_id,
            agency_id=person.agency_id,
            profession=person.profession,
            name=person.practitioner_id.replace("-", " ").title(),
            roles=person.roles,
            teams=person.teams,
            at=SETUP_TIME,
        )


def has_left_service(app: CareRecord, practitioner_id: str) -> None:
    """Given: the practitioner left the service (the directory aggregate's own command;
    the application has no command for it yet)."""
    record: Practitioner = app.repository.get(Practitioner.id_for(practitioner_id))
    if record.active:
        record.leave_service(reason="Moved away", by="system", at=app.clock())
        app.save(record)


# --- identifiers ------------------------------------------------------------------------

_NHS_BASE = itertools.count(int(datetime.now(UTC).timestamp()) % 10_000_000 * 10)


def _mod11(nine: str) -> int:
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(nine)) % 11
    return (11 - remainder) % 11


def fresh_nhs_number() -> str:
    """A valid NHS number not handed out before in this test run."""
    while True:
        nine = f"{next(_NHS_BASE) % 1_000_000_000:09d}"
        digit = _mod11(nine)
        if digit != 10:
            return nine + str(digit)


_LOCAL = itertools.count(1)


def fresh_local_id(prefix: str = "LA") -> str:
    return f"{prefix}{int(datetime.now(UTC).timestamp())}-{next(_LOCAL)}"


# --- reading back what was stored -------------------------------------------------------

_ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def stored_events(app: CareRecord, client_id: str | UUID, *, after: int = 0) -> list[Any]:
    """The client's events as stored (read from the store, not the cache)."""
    return list(app.repository.event_store.get(UUID(str(client_id)), gt=after or None))


def named(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def payload(event: Any) -> dict[str, Any]:
    """An event's own attributes (what it says), without the library's envelope."""
    return {k: v for k, v in event.__dict__.items() if k not in _ENVELOPE}


def version_of(app: CareRecord, client_id: str | UUID) -> int:
    events = stored_events(app, client_id)
    return events[-1].originator_version if events else 0


def log_head(app: CareRecord) -> int:
    return app.recorder.max_notification_id() or 0


def run_together(workers: list[Callable[[], None]]) -> None:
    """Run each worker in its own thread, all at once; their exceptions fail the test."""
    errors: list[BaseException] = []

    def guard(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    assert not errors, errors


# --- the world a domain test runs in ----------------------------------------------------


class SwitchableClock:
    """The application's clock, pointed at each test's FakeClock in turn."""

    def __init__(self) -> None:
        self.current: Callable[[], datetime] = lambda: SETUP_TIME

    def __call__(self) -> datetime:
        return self.current()


def open_app(settings: Settings, clock: Callable[[], datetime], **kwargs: Any) -> CareRecord:
    """Another application instance on the same store (a second writer, another process)."""
    return CareRecord(
        library_env(settings, create_tables=False),
        identifier_key=settings.resolved_identifier_key(),
        partnership=settings.partnership,
        clock=clock,
        **kwargs,
    )


@dataclass
class World:
    """A store holding the test partnership's directory and protocol v1, plus the clock."""

    app: CareRecord
    clock: Any
    settings: Settings
    _client_count: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def now(self) -> datetime:
        return self.app.clock()

    def register(self, by: Person = GP, *, nhs_number: str | None = None, **extra: Any) -> str:
        """Given: a client registered by ``by`` (Registered + CareRelationshipStarted)."""
        fields: dict[str, Any] = {
            "given_name": "Alex",
            "family_name": f"Client{next(self._client_count)}",
            "date_of_birth": date(1948, 5, 17),
        }
        fields.update(extra)
        if "local_ids" not in fields:
            fields["nhs_number"] = nhs_number or fresh_nhs_number()
        result = self.app.register_client(by.caller, **fields)
        assert result.id is not None
        return result.id

    def relate(self, client_id: str, *people: Person) -> None:
        """Given: each of ``people`` started a care relationship with the client."""
        for person in people:
            self.app.start_care_relationship(person.caller, client_id, reason="Allocated")

    def contribute(
        self,
        client_id: str,
        by: Person = GP,
        *,
        heading: str = "History",
        text: str = "Seen in clinic; stable.",
        **extra: Any,
    ) -> str:
        """Given: a contribution recorded by ``by``; returns its entry id."""
        result = self.app.record_contribution(
            by.caller,
            client_id,
            heading=heading,
            text=text,
            occurred_at=extra.pop("occurred_at", self.now - timedelta(hours=1)),
            **extra,
        )
        assert result.id is not None
        return result.id

    def events_after(self, client_id: str, version: int) -> list[Any]:
        return stored_events(self.app, client_id, after=version)

    def when(self, client_id: str, command: Callable[[], Any]) -> list[Any]:
        """When ``command`` runs, Then these are the events it stored for the client."""
        before_version = version_of(self.app, client_id)
        before_head = log_head(self.app)
        result = command()
        new = self.events_after(client_id, before_version)
        assert new, "the command stored no event"
        assert result.position == log_head(self.app) > before_head
        return new

    def refused(self, code: str, command: Callable[[], Any]) -> CareRecordError:
        """Then the command is refused with ``code`` and nothing at all is stored."""
        before = log_head(self.app)
        with pytest.raises(CareRecordError) as info:
            command()
        assert info.value.code == code, f"expected {code}, got {info.value}"
        assert log_head(self.app) == before, "a refused command stored something"
        assert SECRET not in str(info.value)
        return info.value


BREAK_GLASS_REASON = "Person in crisis in the street, risk to life, need history now"


@dataclass
class Scene:
    """A client with something of everything on the record, for commands to act on,
    and identifiers nobody holds yet (for commands that record one)."""

    client: str
    entry: str
    consent: str
    restriction: str
    relationship: str
    referral: str
    alert: str
    grant: str
    new_nhs_number: str = field(default_factory=fresh_nhs_number)
    new_local_id: str = field(default_factory=lambda: fresh_local_id("EV"))


def build_scene(world: World) -> Scene:
    """Given: a client with an entry, consent, restriction, relationship, referral, alert
    and break-glass grant (by GP, NURSE and POLICE), for commands to act on."""
    client = world.register(GP)
    world.relate(client, NURSE)
    entry = world.contribute(client, GP)
    app = world.app
    consent = app.record_consent(GP.caller, client, decision="granted", everyone=True).id
    restriction = app.place_restriction(
        GP.caller, client, requested_by="client", reason="Private", entry_id=entry, everyone=True
    ).id
    referral = app.send_referral(
        GP.caller,
        client,
        to_agency="community-health",
        category="mobility",
        reason="Please assess",
        due_by=world.clock.now + timedelta(days=7),
    ).id
    alert = app.raise_alert(
        GP.caller, client, kind="access_needs", severity="low", summary="BSL"
    ).id
    grant = app.break_glass(POLICE.caller, client, reason=BREAK_GLASS_REASON).id
    relationship = next(
        r.relationship_id
        for r in app.load_client(client).relationships.values()
        if r.practitioner_id == NURSE.practitioner_id
    )
    return Scene(
        client=client,
        entry=entry,
        consent=str(consent),
        restriction=str(restriction),
        relationship=relationship,
        referral=str(referral),
        alert=str(alert),
        grant=str(grant),
    )


# --- every client command, with arguments valid on a scene ----------------------------

Command = Callable[..., Any]
"""``(world, caller, client_id, scene, **extra)``: the command with valid arguments for its
rightful caller on ``scene``; ``extra`` (e.g. ``idempotency_key``) is passed on. Called twice
with the same scene it sends the same input."""

COMMANDS: dict[str, tuple[Person, Command]] = {
    "register_client": (
        GP,
        lambda w, c, _, s, **kw: w.app.register_client(
            c,
            nhs_number=s.new_nhs_number,
            given_name="Ann",
            family_name="Bell",
            date_of_birth=date(1950, 1, 1),
            **kw,
        ),
    ),
    "correct_demographics": (
        GP,
        lambda w, c, cid, s, **kw: w.app.correct_demographics(
            c,
            cid,
            reason="Typo",
            given_name="Ann",
            family_name="Bell",
            date_of_birth=date(1950, 1, 1),
            **kw,
        ),
    ),
    "record_local_identifier": (
        GP,
        lambda w, c, cid, s, **kw: w.app.record_local_identifier(
            c, cid, authority="east-vale", local_id=s.new_local_id, **kw
        ),
    ),
    "record_contribution": (
        GP,
        lambda w, c, cid, s, **kw: w.app.record_contribution(
            c, cid, heading="Plan", text="Review in a month.", occurred_at=w.clock.now, **kw
        ),
    ),
    "amend_contribution": (
        GP,
        lambda w, c, cid, s, **kw: w.app.amend_contribution(
            c, cid, s.entry, text="Corrected.", reason="Typo", **kw
        ),
    ),
    "enter_contribution_in_error": (
        GP,
        lambda w, c, cid, s, **kw: w.app.enter_contribution_in_error(
            c, cid, s.entry, reason="Wrong", **kw
        ),
    ),
    "record_consent": (
        GP,
        lambda w, c, cid, s, **kw: w.app.record_consent(
            c, cid, decision="refused", everyone=True, **kw
        ),
    ),
    "withdraw_consent": (
        GP,
        lambda w, c, cid, s, **kw: w.app.withdraw_consent(
            c, cid, s.consent, reason="Changed mind", **kw
        ),
    ),
    "place_restriction": (
        GP,
        lambda w, c, cid, s, **kw: w.app.place_restriction(
            c,
            cid,
            requested_by="client",
            reason="Private",
            category="housing",
            everyone=True,
            **kw,
        ),
    ),
    "lift_restriction": (
        GP,
        lambda w, c, cid, s, **kw: w.app.lift_restriction(
            c, cid, s.restriction, reason="Lifted", **kw
        ),
    ),
    "start_care_relationship": (
        POLICE,
        lambda w, c, cid, s, **kw: w.app.start_care_relationship(c, cid, reason="Allocated", **kw),
    ),
    "end_care_relationship": (
        NURSE,
        lambda w, c, cid, s, **kw: w.app.end_care_relationship(
            c, cid, s.relationship, reason="Done", **kw
        ),
    ),
    "send_referral": (
        GP,
        lambda w, c, cid, s, **kw: w.app.send_referral(
            c,
            cid,
            to_agency="housing",
            category="housing",
            reason="Damp flat",
            due_by=w.clock.now + timedelta(days=3),
            **kw,
        ),
    ),
    "acknowledge_referral": (
        NURSE,
        lambda w, c, cid, s, **kw: w.app.acknowledge_referral(c, cid, s.referral, **kw),
    ),
    "accept_referral": (
        NURSE,
        lambda w, c, cid, s, **kw: w.app.accept_referral(c, cid, s.referral, **kw),
    ),
    "decline_referral": (
        NURSE,
        lambda w, c, cid, s, **kw: w.app.decline_referral(c, cid, s.referral, reason="Full", **kw),
    ),
    "close_referral": (
        GP,
        lambda w, c, cid, s, **kw: w.app.close_referral(
            c, cid, s.referral, outcome="Withdrawn", **kw
        ),
    ),
    "raise_alert": (
        GP,
        lambda w, c, cid, s, **kw: w.app.raise_alert(
            c, cid, kind="risk_to_self", severity="high", summary="Overdose last week", **kw
        ),
    ),
    "resolve_alert": (
        GP,
        lambda w, c, cid, s, **kw: w.app.resolve_alert(
            c, cid, s.alert, reason="No longer needed", **kw
        ),
    ),
    "break_glass": (
        POLICE,
        lambda w, c, cid, s, **kw: w.app.break_glass(c, cid, reason=BREAK_GLASS_REASON, **kw),
    ),
    "review_break_glass": (
        POLICE_IG,
        lambda w, c, cid, s, **kw: w.app.review_break_glass(
            c, cid, s.grant, outcome="justified", note="Checked", **kw
        ),
    ),
}
