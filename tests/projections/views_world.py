"""A small partnership for the read-side tests, built through the public commands.

``World`` owns a migrated store (SQLite or PostgreSQL), the application with a
FakeClock, the storage areas, a runner for the view projections and the read
repository. ``world.project()`` applies everything in the log to the views.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from carerecord.application import CareRecord, CommandResult
from carerecord.db import Databases
from carerecord.migrate import migrate
from carerecord.nhs import check_digit
from carerecord.policy import viewer_key
from carerecord.protocol import bundled_document
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from carerecord.slice import SharedEntry, curate, fold_entries
from carerecord.values import Viewer
from carerecord.vocab import Purpose, Role, ViewerKind
from projections.engine.runner import ProjectionRunner
from projections.engine.settings import ProjectionSettings
from projections.registry import view_runner
from projections.repository import ReadRepository

SECRET = "Zebra-7731 disclosed a private matter"

AGENCIES = (
    ("gp-north", "Northgate Surgery", "health"),
    ("gp-south", "Southfield Medical Centre", "health"),
    ("community-health", "North Shire Community Health", "health"),
    ("mh-trust", "North Shire Mental Health Trust", "health"),
    ("adult-care", "North Shire Adult Social Care", "social_care"),
    ("police", "Shires Police", "police"),
    ("housing", "North Shire Housing", "housing"),
    ("school", "Riverside Primary School", "education"),
    ("charity", "Good Neighbours", "voluntary"),
)


@dataclass(frozen=True)
class Person:
    practitioner_id: str
    agency_id: str
    profession: str
    roles: tuple[Role, ...] = (Role.PRACTITIONER,)
    teams: tuple[str, ...] = ()
    name: str = ""


GP = Person("dr-north", "gp-north", "gp", name="Dr North")
GP_COLLEAGUE = Person("dr-west", "gp-north", "gp", name="Dr West")
OTHER_GP = Person("dr-south", "gp-south", "gp", name="Dr South")
NURSE = Person("nurse-ann", "community-health", "district_nurse", teams=("dn-north",))
NURSE_TEAMMATE = Person("nurse-bea", "community-health", "district_nurse", teams=("dn-north",))
SOCIAL_WORKER = Person("sw-sam", "adult-care", "social_worker", name="Sam Social")
SAFEGUARDING_LEAD = Person(
    "sw-lee", "adult-care", "social_worker", (Role.PRACTITIONER, Role.SAFEGUARDING_LEAD)
)
POLICE = Person("pc-pat", "police", "police_officer")
POLICE_LEAD = Person("pc-lin", "police", "police_officer", (Role.SAFEGUARDING_LEAD,))
MENTAL_HEALTH = Person("mhp-mo", "mh-trust", "mental_health_practitioner")
HOUSING = Person("ho-hal", "housing", "housing_officer")
TEACHER = Person("teacher-tia", "school", "teacher")
SUPPORT = Person("sup-sue", "charity", "support_worker")

PEOPLE = (
    GP,
    GP_COLLEAGUE,
    OTHER_GP,
    NURSE,
    NURSE_TEAMMATE,
    SOCIAL_WORKER,
    SAFEGUARDING_LEAD,
    POLICE,
    POLICE_LEAD,
    MENTAL_HEALTH,
    HOUSING,
    TEACHER,
    SUPPORT,
)

_NHS = itertools.count(100_000_001)


def nhs_number() -> str:
    while True:
        stem = f"{next(_NHS):09d}"
        digit = check_digit(stem)
        if digit is not None:
            return stem + str(digit)


@dataclass
class World:
    settings: Settings
    app: CareRecord
    databases: Databases
    clock: Any
    config: ProjectionSettings = field(default_factory=ProjectionSettings)
    runner: ProjectionRunner | None = None
    repo: ReadRepository | None = None

    # --- callers -----------------------------------------------------------------------

    def caller(self, person: Person) -> Viewer:
        """The resolved caller (as ``CareRecord.resolve_actor`` gives it to the API)."""
        return self.app.resolve_actor(
            Viewer(
                kind=ViewerKind.PRACTITIONER,
                agency_id=person.agency_id,
                profession=person.profession,
                practitioner_id=person.practitioner_id,
            )
        )

    def system(self, agency_id: str) -> Viewer:
        return self.app.resolve_actor(Viewer(kind=ViewerKind.AGENCY_SYSTEM, agency_id=agency_id))

    @staticmethod
    def client(client_id: str) -> Viewer:
        return Viewer(kind=ViewerKind.CLIENT, client_id=str(client_id))

    # --- commands ------------------------------------------------------------------------

    def tick(self, minutes: float = 1) -> datetime:
        now: datetime = self.clock.advance(minutes=minutes)
        return now

    def register(self, by: Person = GP, **details: Any) -> str:
        self.tick()
        result = self.app.register_client(
            self.caller(by),
            nhs_number=nhs_number(),
            given_name=details.get("given_name", "Ada"),
            family_name=details.get("family_name", "Lovelace"),
            date_of_birth=details.get("date_of_birth", date(1940, 5, 1)),
        )
        assert result.id is not None
        return result.id

    def relate(self, client_id: str, person: Person, **kwargs: Any) -> CommandResult:
        self.tick()
        return self.app.start_care_relationship(
            self.caller(person), client_id, reason="Assessing needs", **kwargs
        )

    def note(
        self,
        client_id: str,
        person: Person,
        heading: str,
        text: str = "A note",
        **kwargs: Any,
    ) -> str:
        now = self.tick()
        result = self.app.record_contribution(
            self.caller(person), client_id, heading=heading, text=text, occurred_at=now, **kwargs
        )
        assert result.id is not None
        return result.id

    def consent(self, client_id: str, person: Person, **kwargs: Any) -> str:
        self.tick()
        kwargs.setdefault("decision", "granted")
        result = self.app.record_consent(self.caller(person), client_id, **kwargs)
        assert result.id is not None
        return result.id

    # --- the read side -------------------------------------------------------------------

    def start_views(self) -> ReadRepository:
        self.runner = view_runner(self.app, self.databases.views, self.config, core=self.settings)
        self.repo = ReadRepository(
            self.app, self.databases.views, settings=self.config, runner=self.runner
        )
        return self.repo

    def project(self) -> int:
        assert self.runner is not None
        return self.runner.catch_up()

    @property
    def reads(self) -> ReadRepository:
        assert self.repo is not None
        return self.repo

    def oracle(self, client_id: str, viewer: Viewer, purpose: Purpose) -> list[SharedEntry]:
        """What ``viewer`` should see now, computed straight from the log with the core's
        ``curate`` (no views involved): the read-time decision on the full history."""
        now = self.clock()
        record = self.app.load_client(client_id)
        events = list(self.app.events.get(record.id))  # type: ignore[attr-defined]
        entries = fold_entries(events)
        return curate(
            entries.values(),
            viewer=viewer_key(viewer),
            purpose=purpose,
            relationship=record.standing_of(viewer, now),
            state=record.sharing_state(),
            protocol=self.app.protocol(),
            now=now,
        )

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        self.databases.close()
        self.app.close()


def build_world(settings: Settings, clock: Any, config: ProjectionSettings | None = None) -> World:
    """A migrated store with the protocol, agencies and practitioners, views started."""
    migrate(settings)
    setup = clock.now - timedelta(days=1)
    app = open_care_record(settings, clock=clock)
    app.adopt_protocol(bundled_document(1), at=setup)
    for code, name, sector in AGENCIES:
        app.register_agency(
            code=code,
            name=name,
            sector=sector,
            local_authority_area="north-shire",
            phone="01632 960000",
            email=f"{code}@example.org",
            at=setup,
        )
    for person in PEOPLE:
        app.enrol_practitioner(
            practitioner_id=person.practitioner_id,
            agency_id=person.agency_id,
            profession=person.profession,
            name=person.name or person.practitioner_id,
            roles=person.roles,
            teams=person.teams,
            phone="01632 960001",
            email=f"{person.practitioner_id}@example.org",
            at=setup,
        )
    world = World(settings, app, Databases(settings), clock, config or ProjectionSettings())
    world.start_views()
    return world
