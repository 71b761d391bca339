"""A generated care history with reads interleaved, for the reconstruction fidelity tests.

Several clients; practitioners of several agencies and professions contribute,
amend, enter in error, raise and resolve alerts; consent is granted, refused,
limited, withdrawn, re-granted and left to expire; restrictions are placed and
lifted; relationships start (for a person and for a team) and end; break-glass is
used and runs out; protocol version 2 is adopted a third of the way and version 3
(minimum necessary: a need-to-know matrix, the crisis plan, break-glass bounded) two
thirds of the way, so reads made under every version are replayed with 3 in force.
After every change a few reads are served, each from a view that may lag behind the
record.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from audit_reads import Read, serve_read
from audit_world import (
    AUDITOR,
    GP,
    HOUSING,
    MH,
    NURSE,
    NURSE_TEAMMATE,
    POLICE,
    SAFEGUARDING_LEAD,
    SECRET,
    SOCIAL_WORKER,
    SUPPORT,
    Person,
    StepClock,
    register_client,
)

from carerecord.application import CareRecord
from carerecord.errors import CareRecordError
from carerecord.protocol import bundled_document
from carerecord.values import Viewer
from carerecord.vocab import Purpose, ViewerKind

CONTRIBUTORS = (
    GP,
    NURSE,
    NURSE_TEAMMATE,
    MH,
    SOCIAL_WORKER,
    SAFEGUARDING_LEAD,
    POLICE,
    HOUSING,
    SUPPORT,
)
READERS = (*CONTRIBUTORS, AUDITOR)
HEADINGS = {
    "gp": ["History", "Medication review", "Mental state", "Safeguarding", "Social context"],
    "district_nurse": ["Wound care", "Mobility and falls", "Mental wellbeing", "Home environment"],
    "mental_health_practitioner": ["Mental state", "Risk assessment", "Crisis plan", "Capacity"],
    "social_worker": ["Needs assessment", "Safeguarding enquiry", "Mental health", "Finances"],
    "police_officer": ["Incident summary", "Missing episode", "Risk to officers"],
    "housing_officer": ["Tenancy", "Property risks", "Rent arrears"],
    "support_worker": ["Support plan", "Wellbeing", "Practical help"],
}
BASES = ["consent", "consent", "consent", "safeguarding", "vital_interests", "legal_obligation"]
PURPOSES = [Purpose.DIRECT_CARE, Purpose.DIRECT_CARE, Purpose.SAFEGUARDING, Purpose.EMERGENCY]
CATEGORY_SETS = [None, ["mental_health", "physical_health"], ["safeguarding", "risk"], ["housing"]]


@dataclass
class History:
    """What a generated history did: the served reads, and counts of what happened."""

    reads: list[Read] = field(default_factory=list)
    did: Counter[str] = field(default_factory=Counter)
    clients: list[str] = field(default_factory=list)


Serve = Callable[[CareRecord, Viewer, str, Purpose, int], "Read | None"]
"""Serves one read (caller, client, purpose, a view version to use if it can choose)."""


class Generator:
    def __init__(
        self,
        app: CareRecord,
        clock: StepClock,
        seed: int,
        serve: Serve = serve_read,
        on_standing_change: Callable[[], object] | None = None,
    ) -> None:
        self.serve = serve
        self.on_standing_change = on_standing_change
        self.app = app
        self.clock = clock
        self.rng = random.Random(seed)
        self.history = History()
        self.entries: dict[str, list[tuple[str, Person]]] = {}
        self.alerts: dict[str, list[tuple[str, Person]]] = {}
        self.consents: dict[str, list[str]] = {}
        self.restrictions: dict[str, list[tuple[str, Person]]] = {}
        self.relationships: dict[str, list[tuple[str, Person]]] = {}

    # --- the run ----------------------------------------------------------------------

    def run(self, *, clients: int, reads: int, reads_per_step: int) -> History:
        """Run until ``reads`` reads were served; protocol v2 and v3 are adopted on the way."""
        for n in range(clients):
            cid = register_client(self.app, GP, n=n + 1)
            self.history.clients.append(cid)
            for key in (self.entries, self.alerts, self.consents, self.restrictions):
                key[cid] = []
            self.relationships[cid] = []
            self.act("team", self.start_team, cid)
            for person in (MH, SOCIAL_WORKER, SUPPORT, HOUSING):
                if self.rng.random() < 0.7:
                    self.act("relationship", self.start_relationship, cid, person)
        actions: list[tuple[int, str, Callable[[str], Any]]] = [
            (10, "contribution", self.contribute),
            (3, "amendment", self.amend),
            (2, "entered_in_error", self.enter_in_error),
            (2, "alert", self.raise_alert),
            (1, "alert_resolved", self.resolve_alert),
            (3, "consent", self.record_consent),
            (2, "consent_withdrawn", self.withdraw_consent),
            (2, "restriction", self.place_restriction),
            (2, "restriction_lifted", self.lift_restriction),
            (2, "break_glass", self.break_glass),
            (1, "relationship_ended", self.end_relationship),
            (
                1,
                "relationship",
                lambda c: self.start_relationship(c, self.rng.choice(CONTRIBUTORS)),
            ),
        ]
        weights = [w for w, _, _ in actions]
        while len(self.history.reads) < reads:
            for version, share in ((2, 1 / 3), (3, 2 / 3)):
                fact = f"protocol_v{version}"
                if not self.history.did[fact] and len(self.history.reads) >= reads * share:
                    self.app.adopt_protocol(bundled_document(version))
                    self.history.did[fact] += 1
            cid = self.rng.choice(self.history.clients)
            _, name, action = self.rng.choices(actions, weights)[0]
            self.act(name, action, cid)
            self.clock.advance(minutes=self.rng.choice([1, 5, 20, 90, 240]))
            for _ in range(reads_per_step):
                self.read(self.rng.choice(self.history.clients))
        return self.history

    def act(self, name: str, action: Callable[..., Any], *args: Any) -> None:
        try:
            done = action(*args)
        except CareRecordError as exc:  # a refused command changes nothing; note and go on
            self.history.did[f"refused:{exc.code}"] += 1
            return
        if done is not False:
            self.history.did[name] += 1
            if name in ("team", "relationship", "break_glass") and self.on_standing_change:
                self.on_standing_change()

    # --- reads ------------------------------------------------------------------------

    def read(self, cid: str) -> None:
        """A read of the client by someone: mostly by those with standing (others are refused)."""
        if self.rng.random() < 0.1:
            self.read_as(Viewer(kind=ViewerKind.CLIENT, client_id=cid), cid, Purpose.SUBJECT_ACCESS)
            return
        record = self.app.repository.get(UUID(cid))
        now = self.clock()
        standing = [
            p
            for p in READERS
            if record.standing_of(self.app.resolve_actor(p.caller), now).kind.value != "none"
        ]
        pool = standing if standing and self.rng.random() < 0.85 else list(READERS)
        self.read_as(self.rng.choice(pool).caller, cid, self.rng.choice(PURPOSES))

    def read_as(self, caller: Viewer, cid: str, purpose: Purpose) -> None:
        version = self.app.repository.get(UUID(cid)).version
        view_version = max(1, version - self.rng.choice([0, 0, 0, 1, 2, 5, 15]))
        served = self.serve(self.app, caller, cid, purpose, view_version)
        if served is None:
            self.history.did["read_refused"] += 1
            return
        self.history.reads.append(served)

    # --- commands ---------------------------------------------------------------------

    def start_team(self, cid: str) -> None:
        self.app.start_care_relationship(
            NURSE.caller, cid, reason="District nursing", team_id="dn-north"
        )

    def start_someones_relationship(self, cid: str) -> None:
        self.start_relationship(cid, self.rng.choice(CONTRIBUTORS))

    def start_relationship(self, cid: str, person: Person) -> None:
        result = self.app.start_care_relationship(person.caller, cid, reason="Allocated")
        assert result.id is not None
        self.relationships[cid].append((result.id, person))

    def end_relationship(self, cid: str) -> bool:
        if not self.relationships[cid]:
            return False
        rid, person = self.relationships[cid].pop(self.rng.randrange(len(self.relationships[cid])))
        self.app.end_care_relationship(person.caller, cid, rid, reason="Discharged")
        return True

    def contribute(self, cid: str) -> None:
        person = self.rng.choice(CONTRIBUTORS)
        heading = self.rng.choice(HEADINGS[person.profession])
        result = self.app.record_contribution(
            person.caller,
            cid,
            heading=heading,
            text=f"{SECRET} {self.rng.random()}",
            occurred_at=self.clock() - timedelta(minutes=self.rng.randrange(0, 600)),
            sensitivity=self.rng.choice([None, None, None, "sensitive", "restricted"]),
            lawful_basis=self.rng.choice(BASES),
            subject_access_exemption=self.rng.choice([None] * 6 + ["third_party"]),
        )
        assert result.id is not None
        self.entries[cid].append((result.id, person))

    def amend(self, cid: str) -> bool:
        if not self.entries[cid]:
            return False
        entry, person = self.rng.choice(self.entries[cid])
        self.app.amend_contribution(
            person.caller, cid, entry, text=f"{SECRET} amended", reason="Typo"
        )
        return True

    def enter_in_error(self, cid: str) -> bool:
        if not self.entries[cid]:
            return False
        entry, person = self.entries[cid].pop(self.rng.randrange(len(self.entries[cid])))
        self.app.enter_contribution_in_error(person.caller, cid, entry, reason="Wrong client")
        return True

    def raise_alert(self, cid: str) -> None:
        person = self.rng.choice([GP, POLICE, SOCIAL_WORKER, MH])
        result = self.app.raise_alert(
            person.caller,
            cid,
            kind=self.rng.choice(["risk_to_lone_workers", "safeguarding_concern", "access_needs"]),
            severity=self.rng.choice(["low", "high"]),
            summary=f"{SECRET} alert",
            lawful_basis=self.rng.choice(BASES),
        )
        assert result.id is not None
        self.alerts[cid].append((result.id, person))

    def resolve_alert(self, cid: str) -> bool:
        if not self.alerts[cid]:
            return False
        alert, person = self.alerts[cid].pop()
        self.app.resolve_alert(person.caller, cid, alert, reason="Resolved")
        return True

    def record_consent(self, cid: str) -> None:
        audience: dict[str, Any] = self.rng.choice(
            [
                {"everyone": True},
                {"sectors": ["police", "housing"]},
                {"professions": ["support_worker", "social_worker"]},
                {"agencies": ["mh-trust"]},
            ]
        )
        hours = self.rng.choice([1, 2, 4]) if self.rng.random() < 0.5 else None
        result = self.app.record_consent(
            self.rng.choice([GP, NURSE, SOCIAL_WORKER]).caller,
            cid,
            decision=self.rng.choice(["granted", "granted", "refused"]),
            categories=self.rng.choice(CATEGORY_SETS),
            purposes=self.rng.choice([None, None, ["direct_care"], ["emergency", "safeguarding"]]),
            expires_at=None if hours is None else self.clock() + timedelta(hours=hours),
            **audience,
        )
        assert result.id is not None
        self.consents[cid].append(result.id)

    def withdraw_consent(self, cid: str) -> bool:
        if not self.consents[cid]:
            return False
        consent = self.consents[cid].pop(self.rng.randrange(len(self.consents[cid])))
        self.app.withdraw_consent(GP.caller, cid, consent, reason="Client changed their mind")
        return True

    def place_restriction(self, cid: str) -> None:
        person = self.rng.choice([GP, SOCIAL_WORKER, NURSE])
        target: dict[str, Any]
        own = [e for e, p in self.entries[cid] if p.agency_id == person.agency_id]
        if own and self.rng.random() < 0.5:
            target = {"entry_id": self.rng.choice(own), "requested_by": "contributor"}
        else:
            target = {
                "category": self.rng.choice(
                    ["mental_health", "physical_health", "risk", "housing"]
                ),
                "requested_by": "client",
            }
        hidden: dict[str, Any] = self.rng.choice(
            [
                {"sectors": ["police"]},
                {"professions": ["support_worker", "housing_officer"]},
                {"everyone": True},
            ]
        )
        result = self.app.place_restriction(
            person.caller, cid, reason="Client asked", **target, **hidden
        )
        assert result.id is not None
        self.restrictions[cid].append((result.id, person))

    def lift_restriction(self, cid: str) -> bool:
        if not self.restrictions[cid]:
            return False
        rid, person = self.restrictions[cid].pop(0)
        self.app.lift_restriction(person.caller, cid, rid, reason="Client agreed")
        return True

    def break_glass(self, cid: str) -> None:
        record = self.app.repository.get(UUID(cid))
        now = self.clock()
        outsiders = [
            p
            for p in (POLICE, MH, SOCIAL_WORKER)
            if record.standing_of(self.app.resolve_actor(p.caller), now).kind.value == "none"
        ]
        person = self.rng.choice(outsiders or [POLICE])
        self.app.break_glass(
            person.caller,
            cid,
            reason="Street triage: person in crisis, urgent risk",
            minutes=self.rng.choice([30, 60, 120]),
        )
        if self.on_standing_change is not None:
            self.on_standing_change()
        # The emergency reads the grant was for (and one outside its purpose).
        for purpose in (Purpose.EMERGENCY, Purpose.EMERGENCY, Purpose.DIRECT_CARE):
            self.clock.advance(minutes=self.rng.choice([1, 10, 25]))
            self.read_as(person.caller, cid, purpose)


def generate(
    app: CareRecord,
    clock: StepClock,
    *,
    seed: int,
    reads: int,
    serve: Serve = serve_read,
    on_standing_change: Callable[[], object] | None = None,
) -> History:
    """A history with at least ``reads`` served reads."""
    generator = Generator(app, clock, seed, serve, on_standing_change)
    return generator.run(clients=4, reads=reads, reads_per_step=2)
