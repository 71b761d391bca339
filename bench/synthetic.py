"""A synthetic but realistic multi-agency history, written fast through the aggregates.

``generate(app, Spec(...))`` builds a partnership directory (agencies of every
sector, practitioners with their professions, teams and roles) through the
application's commands, then simulates clients' care: registrations, care
relationships (named and team), consent granted, refused, withdrawn and
re-granted, contributions under each profession's own headings (with their
sensitivity floors and lawful bases), amendments and entries in error, alerts
raised and resolved, referrals through their whole life, restrictions placed and
lifted, break-glass grants, relationships ended, demographic corrections, changes
of practitioners' roles and teams, and a protocol change part-way through.

Clients are simulated a cohort at a time (``Spec.active`` at once, interleaved
at random), as care happens: a client's events cluster in time without being
contiguous in the log. Events go through the aggregates' own command methods (so
every guard applies) and are saved with ``app.save`` in batches of about
``Spec.save_every`` events - one million events in a few minutes rather than hours
of one-command-one-transaction.

Deterministic for a given ``Spec`` (seeded; ids come from the seeded generator).

    .venv/bin/python bench/synthetic.py --clients 200 --events 20000   # a quick look
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from carerecord.application import CareRecord
from carerecord.client_record import ClientRecord
from carerecord.idempotency import IdempotencyKey
from carerecord.ids import ClientId
from carerecord.practitioner import Practitioner
from carerecord.protocol import Protocol, bundled_document
from carerecord.values import (
    AudienceSelector,
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    ConsentScope,
    Demographics,
    Labels,
    Restriction,
    Viewer,
)
from carerecord.vocab import (
    AlertKind,
    ConsentDecisionKind,
    ConsentGiver,
    LawfulBasis,
    Purpose,
    RestrictionRequester,
    Role,
    Sector,
    Sensitivity,
    Severity,
    Urgency,
    ViewerKind,
)

START = datetime(2021, 1, 4, 8, 0, tzinfo=UTC)
WORDS = [
    "reviewed",
    "seen",
    "at",
    "home",
    "discussed",
    "plan",
    "with",
    "family",
    "mobility",
    "improving",
    "carer",
    "reports",
    "poor",
    "sleep",
    "medication",
    "changed",
    "follow",
    "up",
    "in",
    "two",
    "weeks",
    "referred",
    "to",
    "falls",
    "clinic",
    "wound",
    "healing",
    "well",
    "no",
    "concerns",
    "raised",
    "today",
    "needs",
    "support",
    "with",
    "shopping",
    "and",
    "meals",
    "attended",
    "school",
    "meeting",
    "speech",
    "improving",
    "uses",
    "signs",
    "at",
    "home",
    "risk",
    "assessed",
    "as",
    "low",
    "tenancy",
    "stable",
    "rent",
    "arrears",
    "cleared",
    "benefit",
    "claim",
    "submitted",
    "awaiting",
    "decision",
]

# (code prefix, sector, professions working there)
AGENCY_KINDS = (
    ("gp", Sector.HEALTH, ("gp",)),
    ("community", Sector.HEALTH, ("district_nurse", "physiotherapist", "occupational_therapist")),
    ("children-health", Sector.HEALTH, ("health_visitor", "speech_and_language_therapist")),
    ("mh", Sector.HEALTH, ("mental_health_practitioner", "psychiatrist")),
    ("ambulance", Sector.HEALTH, ("paramedic",)),
    ("social-care", Sector.SOCIAL_CARE, ("social_worker",)),
    ("school", Sector.EDUCATION, ("teacher", "educational_psychologist")),
    ("police", Sector.POLICE, ("police_officer",)),
    ("housing", Sector.HOUSING, ("housing_officer", "benefits_officer")),
    ("charity", Sector.VOLUNTARY, ("support_worker",)),
)


@dataclass(frozen=True)
class Spec:
    """How big and how busy the synthetic history is."""

    events: int = 10_000
    clients: int = 100
    active: int = 200
    agencies_per_kind: int = 3
    staff_per_agency: int = 12
    seed: int = 7
    save_every: int = 1000
    protocol_change_at: float = 0.5
    churn: float = 1.0
    """Multiplies the rates of the rare events (withdrawals, refusals, restrictions and
    lifts, break-glass, role changes): tests raise it to see more of them."""
    text_words: tuple[int, int] = (12, 40)
    keyed: float = 0.0
    """The share of contributions sent with an idempotency key (an ``IdempotencyKey`` saved
    with them, as the API does for an ``Idempotency-Key`` header): tests use it so that
    key events are in the history the views are built from."""


@dataclass
class Report:
    events: int = 0
    clients: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Sim:
    """One client being cared for: their aggregate and what the simulation remembers."""

    record: ClientRecord
    budget: int
    team: list[Viewer]
    entries: list[tuple[str, str]] = field(default_factory=list)  # (entry id, author id)
    consents: list[str] = field(default_factory=list)
    restrictions: list[str] = field(default_factory=list)
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (alert id, agency)
    referrals: list[tuple[str, str, str]] = field(default_factory=list)  # (id, to, status)


class Generator:
    def __init__(self, app: CareRecord, spec: Spec) -> None:
        self.app = app
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.now = START
        self.report = Report()
        self.staff: dict[str, list[Viewer]] = {}  # agency -> practitioners
        self.by_profession: dict[str, list[Viewer]] = {}
        self.protocol: Protocol | None = None
        self.pending: dict[Any, Any] = {}
        self.pending_events = 0
        self._nhs = 0

    # --- plumbing ----------------------------------------------------------------------

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def tick(self) -> datetime:
        self.now += timedelta(seconds=self.rng.randint(5, 120))
        return self.now

    def text(self) -> str:
        low, high = self.spec.text_words
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(low, high))).capitalize() + "."

    def count(self, name: str, events: int = 1) -> None:
        self.report.counts[name] = self.report.counts.get(name, 0) + events
        self.report.events += events
        self.pending_events += events

    def touch(self, aggregate: Any) -> None:
        self.pending[aggregate.id] = aggregate
        if self.pending_events >= self.spec.save_every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.app.save(*self.pending.values())
        self.pending.clear()
        self.pending_events = 0

    # --- the directory -----------------------------------------------------------------

    def directory(self) -> None:
        app = self.app
        app.adopt_protocol(bundled_document(1), at=self.tick())
        self.count("protocol", 2)
        self.protocol = app.protocol()
        for prefix, sector, professions in AGENCY_KINDS:
            for n in range(1, self.spec.agencies_per_kind + 1):
                code = f"{prefix}-{n}"
                app.register_agency(
                    code=code,
                    name=f"{prefix.title()} {n}",
                    sector=sector,
                    local_authority_area="north-shire",
                    phone="01632 960000",
                    email=f"{code}@example.org",
                    at=self.tick(),
                )
                self.count("agency")
                teams = [f"{code}-team-{t}" for t in range(1, 3)]
                for i in range(self.spec.staff_per_agency):
                    profession = professions[i % len(professions)]
                    roles = {Role.PRACTITIONER}
                    if i == 0:
                        roles.add(Role.SAFEGUARDING_LEAD)
                    if i == 1:
                        roles.add(Role.TEAM_LEAD)
                    member = [teams[i % 2]] if self.rng.random() < 0.6 else []
                    pid = f"{code}-p{i:03d}"
                    app.enrol_practitioner(
                        practitioner_id=pid,
                        agency_id=code,
                        profession=profession,
                        name=f"Practitioner {pid}",
                        roles=roles,
                        teams=member,
                        phone="01632 960001",
                        email=f"{pid}@example.org",
                        at=self.tick(),
                    )
                    self.count("practitioner")
                    viewer = Viewer(
                        kind=ViewerKind.PRACTITIONER,
                        agency_id=code,
                        sector=sector,
                        profession=profession,
                        practitioner_id=pid,
                        roles=frozenset(roles),
                        teams=frozenset(member),
                    )
                    self.staff.setdefault(code, []).append(viewer)
                    self.by_profession.setdefault(profession, []).append(viewer)

    def reassign_someone(self) -> None:
        """A practitioner changes teams and roles (a directory event mid-history)."""
        agency = self.rng.choice(sorted(self.staff))
        index = self.rng.randrange(len(self.staff[agency]))
        old = self.staff[agency][index]
        teams = frozenset({f"{agency}-team-{self.rng.randint(1, 2)}"})
        roles = frozenset({Role.PRACTITIONER, Role.SAFEGUARDING_LEAD}) ^ (
            old.roles & {Role.SAFEGUARDING_LEAD}
        )
        person: Practitioner = self.app.repository.get(Practitioner.id_for(old.practitioner_id))
        person.reassign_roles(roles=roles, teams=teams, by="admin", at=self.tick())
        self.touch(person)
        self.count("roles_reassigned")
        new = Viewer(
            kind=old.kind,
            agency_id=old.agency_id,
            sector=old.sector,
            profession=old.profession,
            practitioner_id=old.practitioner_id,
            roles=roles,
            teams=teams,
        )
        self.staff[agency][index] = new
        profession_list = self.by_profession[str(old.profession)]
        profession_list[profession_list.index(old)] = new

    # --- clients -----------------------------------------------------------------------

    def new_client(self) -> Sim:
        first = self.rng.choice(self.by_profession[self.rng.choice(["gp", "social_worker"])])
        self._nhs += 1
        record = ClientRecord.register(
            client_id=ClientId(uuid.UUID(self.uid())),
            nhs_number=None,
            local_ids={"north-shire": f"NS{self._nhs:08d}"},
            demographics=Demographics(
                given_name=self.rng.choice(["Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus"]),
                family_name=self.rng.choice(["Smith", "Jones", "Khan", "Okafor", "Nowak", "Li"]),
                date_of_birth=date(1930 + self.rng.randrange(90), 1 + self.rng.randrange(12), 1),
            ),
            actor=first,
            at=self.tick(),
        )
        sim = Sim(record=record, budget=0, team=[])
        self.relate(sim, first)
        self.count("client", 1)
        self.report.clients += 1
        low = max(10, self.spec.events // max(1, self.spec.clients) // 2 - 3)
        sim.budget = self.rng.randint(low, low * 3)
        return sim

    def relate(self, sim: Sim, actor: Viewer, team: str | None = None) -> None:
        rel = CareRelationship(
            relationship_id=self.uid(),
            practitioner_id=None if team else actor.practitioner_id,
            team_id=team,
            agency_id=str(actor.agency_id),
            profession=None if team else actor.profession,
            reason="Allocated",
            started_by=str(actor.practitioner_id),
            started_at=self.tick(),
        )
        sim.record.start_care_relationship(rel, actor=actor)
        sim.team.append(actor)
        self.count("relationship")

    def step(self, sim: Sim) -> None:
        """One thing happening in the client's care, chosen with realistic frequencies
        (per 100 events of a client: about 80 contributions, 5 amendments, 1.5 entries in
        error, 2 alerts, 3 referral steps, a consent decision, occasionally a withdrawal,
        a refusal, a restriction, a break-glass grant)."""
        if len(sim.team) < 2:
            return self.join(sim)
        r = self.rng.random() * 100
        c = self.spec.churn
        choices: list[tuple[float, Callable[[Sim], None] | None]] = [
            (1.2 if len(sim.team) < 4 else 0, self.join),
            (
                6.0 if not sim.consents else 0,
                lambda s: self.consent(s, ConsentDecisionKind.GRANTED),
            ),
            (0.4 * c if sim.consents else 0, self.withdraw),
            (0.2 * c, lambda s: self.consent(s, ConsentDecisionKind.REFUSED)),
            (0.3 * c, self.restrict),
            (0.5 * c if sim.restrictions else 0, self.lift),
            (5.0 if sim.entries else 0, self.amend),
            (1.5 if sim.entries else 0, self.in_error),
            (2.0, self.alert),
            (1.0 if sim.alerts else 0, self.resolve),
            (3.0, self.referral),
            (0.2 * c, self.break_glass),
            (0.3, self.correct),
        ]
        for weight, action in choices:
            if r < weight and action is not None:
                return action(sim)
            r -= weight
        return self.contribute(sim)

    def author(self, sim: Sim) -> Viewer:
        active = [a for a in sim.team if sim.record.standing_of(a, self.now).kind.value == "care"]
        return self.rng.choice(active or sim.team)

    def join(self, sim: Sim) -> None:
        agency = self.rng.choice(sorted(self.staff))
        actor = self.rng.choice(self.staff[agency])
        if actor.teams and self.rng.random() < 0.3:
            try:
                self.relate(sim, actor, team=sorted(actor.teams)[0])
                return
            except Exception:
                pass
        try:
            self.relate(sim, actor)
        except Exception:  # already involved: pick another next time
            self.contribute(sim)

    def contribute(self, sim: Sim) -> None:
        assert self.protocol is not None
        actor = self.author(sim)
        headings = self.protocol.professions[str(actor.profession)].headings
        heading = self.rng.choice(sorted(headings))
        category = headings[heading]
        floor = self.protocol.categories[category].min_sensitivity
        sensitivity = floor
        if floor is Sensitivity.NORMAL and self.rng.random() < 0.05:
            sensitivity = Sensitivity.SENSITIVE
        basis = LawfulBasis.CONSENT
        if category == "safeguarding" or self.rng.random() < 0.03:
            basis = LawfulBasis.SAFEGUARDING
        labels = self.labels(actor, heading, category, sensitivity, basis)
        sim.record.record_contribution(labels, self.text(), actor=actor, now=self.now)
        sim.entries.append((labels.entry_id, str(actor.practitioner_id)))
        self.count("contribution")
        if self.spec.keyed and self.rng.random() < self.spec.keyed:
            key = IdempotencyKey.use(
                key_id=uuid.UUID(self.uid()),
                command="record_contribution",
                input_hash=self.uid().replace("-", "") * 2,
                result_id=labels.entry_id,
                by=actor.scope,
                at=self.now,
            )
            self.pending[key.id] = key  # saved in the same batch as the contribution
            self.count("idempotency_key")

    def labels(
        self, actor: Viewer, heading: str, category: str, sensitivity: Sensitivity, basis: Any
    ) -> Labels:
        exemption = "third_party" if self.rng.random() < 0.01 else None
        return Labels(
            entry_id=self.uid(),
            agency_id=str(actor.agency_id),
            sector=actor.sector or Sector.HEALTH,
            author_id=str(actor.practitioner_id),
            profession=str(actor.profession),
            category=category,
            heading=heading,
            sensitivity=sensitivity,
            lawful_basis=basis,
            occurred_at=self.tick() - timedelta(minutes=self.rng.randint(0, 600)),
            subject_access_exemption=exemption,
        )

    def own_entry(self, sim: Sim) -> tuple[str, Viewer] | None:
        meta = sim.record.contributions
        for _ in range(4):
            entry_id, author = self.rng.choice(sim.entries)
            current = meta.get(entry_id)
            actor = next((a for a in sim.team if a.practitioner_id == author), None)
            if current is not None and not current.in_error and actor is not None:
                return entry_id, actor
        return None

    def amend(self, sim: Sim) -> None:
        found = self.own_entry(sim)
        if found is None:
            return self.contribute(sim)
        sim.record.amend_contribution(
            found[0], self.text(), reason="Corrected", actor=found[1], at=self.tick()
        )
        self.count("amendment")
        return None

    def in_error(self, sim: Sim) -> None:
        found = self.own_entry(sim)
        if found is None:
            return self.contribute(sim)
        sim.record.enter_in_error(found[0], reason="Wrong record", actor=found[1], at=self.tick())
        self.count("in_error")
        return None

    def consent(self, sim: Sim, kind: ConsentDecisionKind) -> None:
        actor = self.author(sim)
        everyone = kind is ConsentDecisionKind.GRANTED and self.rng.random() < 0.7
        scope = ConsentScope(
            categories=None
            if everyone or self.rng.random() < 0.5
            else frozenset(self.rng.sample(["physical_health", "daily_living", "mobility",
                                            "housing", "medication"], 2)),
            audience=AudienceSelector(everyone=True)
            if everyone
            else AudienceSelector(sectors=frozenset({self.rng.choice(list(Sector))})),
        )  # fmt: skip
        decision = ConsentDecision(
            consent_id=self.uid(),
            decision=kind,
            scope=scope,
            given_by=ConsentGiver.CLIENT,
            representative_name=None,
            recorded_by=str(actor.practitioner_id),
            agency_id=str(actor.agency_id),
            decided_at=self.tick(),
        )
        sim.record.record_consent(decision, actor=actor, now=self.now)
        sim.consents.append(decision.consent_id)
        self.count("consent")

    def withdraw(self, sim: Sim) -> None:
        consent = sim.consents.pop(self.rng.randrange(len(sim.consents)))
        sim.record.withdraw_consent(
            consent, reason="Client asked", actor=self.author(sim), now=self.now, at=self.tick()
        )
        self.count("consent_withdrawn")
        if self.rng.random() < 0.6:  # often granted again later, more narrowly or not
            self.consent(sim, ConsentDecisionKind.GRANTED)

    def restrict(self, sim: Sim) -> None:
        actor = self.author(sim)
        own = [e for e, a in sim.entries if a == actor.practitioner_id]
        target = self.rng.choice(own) if own and self.rng.random() < 0.5 else None
        requested = RestrictionRequester.CONTRIBUTOR if target else RestrictionRequester.CLIENT
        restriction = Restriction(
            restriction_id=self.uid(),
            entry_id=target,
            category=None if target else self.rng.choice(["mental_health", "finances", "housing"]),
            hidden_from=AudienceSelector(sectors=frozenset({self.rng.choice(list(Sector))})),
            requested_by=requested,
            placed_by=str(actor.practitioner_id),
            agency_id=str(actor.agency_id),
            placed_at=self.tick(),
        )
        try:
            sim.record.place_restriction(restriction, reason="Requested", actor=actor, now=self.now)
        except Exception:  # e.g. the entry was entered in error: nothing placed
            return
        sim.restrictions.append(restriction.restriction_id)
        self.count("restriction")

    def lift(self, sim: Sim) -> None:
        restriction_id = sim.restrictions.pop(self.rng.randrange(len(sim.restrictions)))
        placed = sim.record.restrictions[restriction_id]
        actor = next((a for a in sim.team if a.agency_id == placed.agency_id), None)
        if actor is None or sim.record.standing_of(actor, self.now).kind.value != "care":
            sim.restrictions.append(restriction_id)
            return
        sim.record.lift_restriction(
            restriction_id, reason="Lifted", actor=actor, now=self.now, at=self.tick()
        )
        self.count("restriction_lifted")

    def alert(self, sim: Sim) -> None:
        assert self.protocol is not None
        actor = self.author(sim)
        kind = self.rng.choice(list(AlertKind))
        category = self.protocol.alert_categories[kind]
        floor = self.protocol.categories[category].min_sensitivity
        labels = self.labels(
            actor, f"Alert: {kind.value}", category, floor, LawfulBasis.SAFEGUARDING
        )
        sim.record.raise_alert(
            labels,
            kind=kind,
            severity=self.rng.choice(list(Severity)),
            summary=self.text()[:190],
            actor=actor,
            now=self.now,
        )
        sim.alerts.append((labels.entry_id, str(actor.agency_id)))
        self.count("alert")

    def resolve(self, sim: Sim) -> None:
        alert_id, agency = sim.alerts.pop(self.rng.randrange(len(sim.alerts)))
        actor = next((a for a in sim.team if a.agency_id == agency), None)
        if actor is None or sim.record.standing_of(actor, self.now).kind.value != "care":
            return
        sim.record.resolve_alert(
            alert_id, reason="Resolved", actor=actor, now=self.now, at=self.tick()
        )
        self.count("alert_resolved")

    def referral(self, sim: Sim) -> None:
        open_ones = [r for r in sim.referrals if r[2] != "closed"]
        if open_ones and self.rng.random() < 0.6:
            return self.respond(sim, open_ones[0])
        actor = self.author(sim)
        target = self.rng.choice([a for a in sorted(self.staff) if a != actor.agency_id])
        at = self.tick()
        referral_id = self.uid()
        sim.record.send_referral(
            referral_id,
            to_agency=target,
            category=self.rng.choice(["housing", "daily_living", "mobility", "mental_health"]),
            reason="Please assess. " + self.text()[:150],
            urgency=self.rng.choice(list(Urgency)),
            due_by=at + timedelta(days=self.rng.randint(2, 28)),
            actor=actor,
            now=self.now,
            at=at,
        )
        sim.referrals.append((referral_id, target, "sent"))
        self.count("referral")
        return None

    def respond(self, sim: Sim, referral: tuple[str, str, str]) -> None:
        referral_id, target, status = referral
        responder = self.rng.choice(self.staff[target])
        at = self.tick()
        index = sim.referrals.index(referral)
        if status == "sent" and self.rng.random() < 0.5:
            sim.record.acknowledge_referral(referral_id, actor=responder, at=at)
            sim.referrals[index] = (referral_id, target, "acknowledged")
        elif status in ("sent", "acknowledged"):
            if self.rng.random() < 0.8:
                sim.record.accept_referral(referral_id, note="Accepted", actor=responder, at=at)
                sim.referrals[index] = (referral_id, target, "accepted")
                if sim.record.standing_of(responder, self.now).kind.value != "care":
                    self.relate(sim, responder)
            else:
                sim.record.decline_referral(
                    referral_id, reason="Not eligible", actor=responder, at=at
                )
                sim.referrals[index] = (referral_id, target, "closed")
        else:
            sim.record.close_referral(referral_id, outcome="Done", actor=responder, at=at)
            sim.referrals[index] = (referral_id, target, "closed")
        self.count("referral_response")

    def break_glass(self, sim: Sim) -> None:
        actor = self.rng.choice(
            self.by_profession["police_officer"] + self.by_profession["paramedic"]
        )
        if sim.record.standing_of(actor, self.now).kind.value != "none":
            return
        now = self.tick()
        grant = BreakGlassGrant(
            grant_id=self.uid(),
            practitioner_id=str(actor.practitioner_id),
            agency_id=str(actor.agency_id),
            profession=str(actor.profession),
            purpose=Purpose.EMERGENCY,
            granted_at=now,
            expires_at=now + timedelta(minutes=60),
        )
        sim.record.grant_break_glass(
            grant, reason="Person found in crisis, need risks", actor=actor
        )
        self.count("break_glass")

    def correct(self, sim: Sim) -> None:
        old = sim.record.demographics
        fixed = Demographics(old.given_name, old.family_name + "e", old.date_of_birth)
        actor = self.author(sim)
        sim.record.correct_demographics(
            fixed, reason="Spelling", actor=actor, now=self.now, at=self.tick()
        )
        self.count("demographics")

    def end(self, sim: Sim) -> None:
        """At the end of a client's busy period some relationships end."""
        for rel in list(sim.record.relationships.values())[1:]:
            if self.rng.random() < 0.4:
                actor = next((a for a in sim.team if a.agency_id == rel.agency_id), None)
                if actor is None:
                    continue
                try:
                    sim.record.end_care_relationship(
                        rel.relationship_id, reason="Discharged", actor=actor, at=self.tick()
                    )
                except Exception:
                    continue
                self.count("relationship_ended")

    # --- the whole history -------------------------------------------------------------

    def run(self, progress: Callable[[int, int], None] | None = None) -> Report:
        started = time.perf_counter()
        self.directory()
        active: list[Sim] = []
        adopted = False
        while self.report.events < self.spec.events:
            if (
                not adopted
                and self.report.events >= self.spec.events * self.spec.protocol_change_at
            ):
                self.flush()
                self.app.adopt_protocol(bundled_document(2), at=self.tick())
                self.protocol = self.app.protocol()
                self.count("protocol")
                adopted = True
            while len(active) < self.spec.active and self.report.clients < self.spec.clients:
                active.append(self.new_client())
            if not active:
                active.append(self.new_client())
            sim = self.rng.choice(active)
            self.step(sim)
            sim.budget -= 1
            self.touch(sim.record)
            if sim.budget <= 0:
                self.end(sim)
                self.touch(sim.record)
                active.remove(sim)
            if self.rng.random() < 0.0002 * self.spec.churn:
                self.reassign_someone()
            if progress is not None and self.pending_events == 0:
                progress(self.report.events, self.spec.events)
        self.flush()
        self.report.seconds = time.perf_counter() - started
        return self.report


def generate(
    app: CareRecord, spec: Spec, progress: Callable[[int, int], None] | None = None
) -> Report:
    """Write a synthetic history of at least ``spec.events`` events into ``app``'s store."""
    return Generator(app, spec).run(progress)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args(argv)
    from carerecord.migrate import migrate
    from carerecord.runtime import open_care_record
    from carerecord.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="synthetic-"))
    settings = Settings(data_dir=folder, identifier_key=b"s" * 32)
    migrate(settings)
    clock = [START]
    app = open_care_record(settings, clock=lambda: clock[0] + timedelta(days=3650))
    report = generate(app, Spec(events=args.events, clients=args.clients))
    print(
        f"{report.events} events, {report.clients} clients in {report.seconds:.1f} s",
        file=sys.stderr,
    )
    for name, count in sorted(report.counts.items()):
        print(f"  {name}: {count}")
    print(folder)


if __name__ == "__main__":
    main()
