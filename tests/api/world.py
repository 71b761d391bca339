"""A small partnership for the API tests: agencies, practitioners, protocol, clients.

Built through the application service's public commands (the same ones the API
calls), so what the API serves is what the domain recorded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import waiting

from carerecord.application import CareRecord
from carerecord.nhs import check_digit
from carerecord.policy import viewer_key
from carerecord.practitioner import Practitioner
from carerecord.protocol import bundled_document
from carerecord.slice import SharedEntry, curate, fold_entries
from carerecord.values import Viewer
from carerecord.vocab import Purpose, Role, ViewerKind

SECRET = "Zebra-7731 disclosed a private matter"
"""Free text that must never appear in an error, a log line or another caller's response."""

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

    @property
    def caller(self) -> Viewer:
        return Viewer(
            kind=ViewerKind.PRACTITIONER,
            agency_id=self.agency_id,
            profession=self.profession,
            practitioner_id=self.practitioner_id,
        )


GP = Person("dr-north", "gp-north", "gp")
OTHER_GP = Person("dr-south", "gp-south", "gp")
NURSE = Person("nurse-ann", "community-health", "district_nurse", teams=("dn-north",))
SOCIAL_WORKER = Person(
    "sw-sam", "adult-care", "social_worker", (Role.PRACTITIONER, Role.SAFEGUARDING_LEAD)
)
POLICE = Person("pc-pat", "police", "police_officer")
MENTAL_HEALTH = Person("mhp-mo", "mh-trust", "mental_health_practitioner")
HOUSING = Person("ho-hal", "housing", "housing_officer")
TEACHER = Person("teacher-tia", "school", "teacher")
SUPPORT = Person("sup-sue", "charity", "support_worker")
IG_OFFICER = Person("ig-ivy", "community-health", "district_nurse", (Role.IG_OFFICER,))
LEAVER = Person("nurse-lou", "community-health", "district_nurse")

PEOPLE = (
    GP,
    OTHER_GP,
    NURSE,
    SOCIAL_WORKER,
    POLICE,
    MENTAL_HEALTH,
    HOUSING,
    TEACHER,
    SUPPORT,
    IG_OFFICER,
    LEAVER,
)

_nhs_counter = itertools.count(400_000_001)


def new_nhs_number() -> str:
    """A fresh NHS number with a valid Modulus 11 check digit."""
    while True:
        first_nine = str(next(_nhs_counter))
        digit = check_digit(first_nine)
        if digit is not None:
            return first_nine + str(digit)


def build_directory(app: CareRecord, at: datetime) -> None:
    app.adopt_protocol(bundled_document(2), at=at)
    for code, name, sector in AGENCIES:
        app.register_agency(
            code=code,
            name=name,
            sector=sector,
            local_authority_area="north-shire",
            phone="01632 960000",
            email=f"team@{code}.example",
            at=at,
        )
    for person in PEOPLE:
        app.enrol_practitioner(
            practitioner_id=person.practitioner_id,
            agency_id=person.agency_id,
            profession=person.profession,
            name=person.practitioner_id.replace("-", " ").title(),
            roles=person.roles,
            teams=person.teams,
            phone="01632 960001",
            email=f"{person.practitioner_id}@example.org",
            at=at,
        )
    leaver: Practitioner = app.repository.get(Practitioner.id_for(LEAVER.practitioner_id))
    leaver.leave_service(reason="Moved away", by="system", at=at)
    app.save(leaver)


@dataclass
class ClientFacts:
    """A client registered for a test, and the entries recorded about them."""

    client_id: str
    nhs_number: str
    entries: dict[str, str]


def register_client(
    app: CareRecord,
    by: Person,
    *,
    given_name: str = "Alex",
    family_name: str = "Example",
    local_id: tuple[str, str] | None = None,
) -> ClientFacts:
    nhs = new_nhs_number()
    result = app.register_client(
        by.caller,
        nhs_number=nhs,
        local_ids=dict([local_id]) if local_id else None,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date(1950, 5, 17),
    )
    assert result.id is not None
    return ClientFacts(result.id, nhs, {})


def start_relationship(app: CareRecord, client: ClientFacts, person: Person) -> None:
    app.start_care_relationship(person.caller, client.client_id, reason="Allocated")


def record(
    app: CareRecord,
    client: ClientFacts,
    person: Person,
    heading: str,
    *,
    text: str | None = None,
    when: datetime,
    **labels: Any,
) -> str:
    result = app.record_contribution(
        person.caller,
        client.client_id,
        heading=heading,
        text=text or f"{heading} by {person.practitioner_id}",
        occurred_at=when,
        **labels,
    )
    assert result.id is not None
    client.entries[result.id] = heading
    return result.id


class MovableClock:
    """Real time plus an offset the test can move (time itself cannot be driven)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


def wait_until(check: Callable[[], bool], *, timeout: float = 10.0, what: str = "") -> None:
    """Wait for a condition (with a deadline), polling briefly; fail loudly on timeout."""
    waiting.wait_until(check, timeout=timeout, what=what)


ALL_CALLERS = (GP, NURSE, SOCIAL_WORKER, POLICE, MENTAL_HEALTH, HOUSING, TEACHER, SUPPORT)
"""The practitioners given a care relationship with the rich client (not OTHER_GP)."""

RICH_ENTRIES: tuple[tuple[Person, str, dict[str, Any]], ...] = (
    (GP, "History", {}),
    (GP, "Mental state", {}),
    (GP, "Sexual health", {}),
    (GP, "Medication review", {}),
    (GP, "Safeguarding", {"lawful_basis": "safeguarding"}),
    (NURSE, "Wound care", {}),
    (NURSE, "Home environment", {}),
    (NURSE, "Mental wellbeing", {}),
    (SOCIAL_WORKER, "Needs assessment", {}),
    (SOCIAL_WORKER, "Safeguarding enquiry", {"lawful_basis": "legal_obligation"}),
    (SOCIAL_WORKER, "Finances", {}),
    (POLICE, "Incident summary", {}),
    (POLICE, "Offending", {}),
    (MENTAL_HEALTH, "Crisis plan", {}),
    (MENTAL_HEALTH, "Risk assessment", {}),
    (MENTAL_HEALTH, "Substance use", {}),
    (HOUSING, "Tenancy", {}),
    (HOUSING, "Property risks", {}),
    (TEACHER, "Attendance", {}),
    (SUPPORT, "Support plan", {}),
)


def rich_client(app: CareRecord, now: datetime) -> ClientFacts:
    """A client known to eight agencies, with entries of every sensitivity, consents
    (granted and refused, one by a representative), a restriction, and alerts."""
    client = register_client(app, GP, given_name="Jordan", family_name="Rich")
    for person in ALL_CALLERS[1:]:
        start_relationship(app, client, person)
    for i, (person, heading, labels) in enumerate(RICH_ENTRIES):
        record(app, client, person, heading, when=now - timedelta(days=40 - i), **labels)
    app.record_consent(
        GP.caller, client.client_id, decision="granted", sectors=["social_care", "voluntary"]
    )
    app.record_consent(
        GP.caller,
        client.client_id,
        decision="refused",
        agencies=["police"],
        categories=["mental_health"],
        given_by="lasting_power_of_attorney",
        representative_name="Sam Rich",
    )
    app.place_restriction(
        SOCIAL_WORKER.caller,
        client.client_id,
        requested_by="client",
        reason="Client asked",
        category="finances",
        sectors=["housing"],
    )
    for person, kind in ((NURSE, "risk_to_lone_workers"), (SOCIAL_WORKER, "safeguarding_concern")):
        result = app.raise_alert(
            person.caller, client.client_id, kind=kind, severity="high", summary=f"{kind} alert"
        )
        assert result.id is not None
        client.entries[result.id] = kind
    return client


def expected_slice(
    app: CareRecord, client_id: str, person: Person | Viewer, purpose: Purpose, now: datetime
) -> list[SharedEntry]:
    """What the sharing policy says ``person`` may see of the client now (the oracle)."""
    viewer = app.resolve_actor(person.caller if isinstance(person, Person) else person)
    state = app.load_client(client_id)
    entries = fold_entries(app.repository.event_store.get(UUID(client_id)))
    return curate(
        entries.values(),
        viewer=viewer_key(viewer),
        purpose=purpose,
        relationship=state.standing_of(viewer, now),
        state=state.sharing_state(),
        protocol=app.protocol(),
        now=now,
    )
