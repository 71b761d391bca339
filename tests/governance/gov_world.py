"""A partnership for the governance tests: agencies, practitioners (with auditors and
information-governance officers), and builders for clients and their histories.

Everything is recorded through the application service's public commands, the same
ones the API calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import waiting

from carerecord.application import CareRecord
from carerecord.nhs import check_digit
from carerecord.protocol import bundled_document
from carerecord.values import Viewer
from carerecord.vocab import Role, ViewerKind

SECRET = "Pangolin-5521 confided something private"
"""Stand-in clinical text: never in an error, a log line, a notice or another caller's view."""
REASON = "Street triage: man in crisis on the bridge, risk to life"
"""A break-glass justification: for the reviewing officer only."""

AGENCIES = (
    ("gp-north", "Northgate Surgery", "health"),
    ("community-health", "North Shire Community Health", "health"),
    ("mh-trust", "North Shire Mental Health Trust", "health"),
    ("adult-care", "North Shire Adult Social Care", "social_care"),
    ("police", "Shires Police", "police"),
    ("housing", "North Shire Housing", "housing"),
)


@dataclass(frozen=True)
class Person:
    practitioner_id: str
    agency_id: str
    profession: str
    roles: tuple[Role, ...] = (Role.PRACTITIONER,)
    trained_on: date | None = date(2025, 9, 1)

    @property
    def caller(self) -> Viewer:
        return Viewer(
            kind=ViewerKind.PRACTITIONER,
            agency_id=self.agency_id,
            profession=self.profession,
            practitioner_id=self.practitioner_id,
        )


GP = Person("dr-north", "gp-north", "gp")
NURSE = Person("nurse-ann", "community-health", "district_nurse")
SOCIAL_WORKER = Person("sw-gail", "adult-care", "social_worker")
MH = Person("mhp-dev", "mh-trust", "mental_health_practitioner")
POLICE = Person("pc-ian", "police", "police_officer")
HOUSING = Person("ho-kim", "housing", "housing_officer", trained_on=None)
LEAD = Person("sw-lead", "adult-care", "social_worker", (Role.SAFEGUARDING_LEAD,))
AUDITOR = Person("aud-ned", "gp-north", "gp", (Role.AUDITOR,))
POLICE_IG = Person("ig-pat", "police", "police_officer", (Role.IG_OFFICER,))
HEALTH_IG = Person("ig-ola", "community-health", "district_nurse", (Role.IG_OFFICER,))
NEVER = Person("nurse-bo", "community-health", "district_nurse")
"""Trained, enrolled, never contributes."""

PEOPLE = (GP, NURSE, SOCIAL_WORKER, MH, POLICE, HOUSING, LEAD, AUDITOR, POLICE_IG, HEALTH_IG, NEVER)

_nhs = itertools.count(610_000_001)


def new_nhs_number() -> str:
    while True:
        first_nine = str(next(_nhs))
        digit = check_digit(first_nine)
        if digit is not None:
            return first_nine + str(digit)


def build_directory(app: CareRecord, at: datetime, *, protocol: int = 2) -> None:
    """A protocol version, the agencies and the practitioners (most of them trained)."""
    app.adopt_protocol(bundled_document(protocol), at=at)
    for code, name, sector in AGENCIES:
        app.register_agency(
            code=code,
            name=name,
            sector=sector,
            local_authority_area="north-shire",
            phone="01632 960000",
            email=f"ig@{code}.example",
            at=at,
        )
    for person in PEOPLE:
        app.enrol_practitioner(
            practitioner_id=person.practitioner_id,
            agency_id=person.agency_id,
            profession=person.profession,
            name=person.practitioner_id.replace("-", " ").title() + " Surname",
            roles=person.roles,
            trained_on=person.trained_on,
            at=at,
        )


def register(app: CareRecord, by: Person = GP, *, family_name: str = "Example") -> str:
    result = app.register_client(
        by.caller,
        nhs_number=new_nhs_number(),
        given_name="Edith",
        family_name=family_name,
        date_of_birth=date(1941, 3, 9),
    )
    assert result.id is not None
    return result.id


def note(
    app: CareRecord,
    client: str,
    person: Person,
    heading: str,
    *,
    at: datetime,
    text: str | None = None,
    **labels: Any,
) -> str:
    result = app.record_contribution(
        person.caller,
        client,
        heading=heading,
        text=text or f"{SECRET} ({heading})",
        occurred_at=at,
        **labels,
    )
    assert result.id is not None
    return result.id


def care_team_client(app: CareRecord, now: datetime, *, family_name: str = "Clarke") -> str:
    """A client of the GP, the district nurse and the social worker, with entries under
    consent, implied consent and a lawful basis, one entry withheld from subject access
    under a named exception, a consent decision and an alert."""
    client = register(app, GP, family_name=family_name)
    for person in (NURSE, SOCIAL_WORKER):
        app.start_care_relationship(person.caller, client, reason="Allocated")
    note(app, client, GP, "History", at=now - timedelta(days=30))
    note(app, client, GP, "Medication review", at=now - timedelta(days=20))
    note(app, client, NURSE, "Wound care", at=now - timedelta(days=10))
    note(app, client, NURSE, "Home environment", at=now - timedelta(days=9))
    note(app, client, SOCIAL_WORKER, "Needs assessment", at=now - timedelta(days=8))
    note(
        app,
        client,
        SOCIAL_WORKER,
        "Safeguarding enquiry",
        at=now - timedelta(days=7),
        lawful_basis="legal_obligation",
    )
    note(
        app,
        client,
        GP,
        "Medication review",
        at=now - timedelta(days=6),
        text=f"WITHHELD from the person: {SECRET}",
        subject_access_exemption="serious_harm",
    )
    app.record_consent(GP.caller, client, decision="granted", sectors=["social_care", "health"])
    app.raise_alert(
        NURSE.caller, client, kind="risk_to_lone_workers", severity="high", summary="Dog"
    )
    return client


class MovableClock:
    """Real time plus an offset the test moves forward (expiry, overdue reviews)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


def wait_until(check: Callable[[], bool], *, timeout: float = 20.0, what: str = "") -> None:
    """Wait for a condition with a deadline (polling what another thread commits)."""
    waiting.wait_until(check, timeout=timeout, what=what)
