"""The demo dataset: the North Shire partnership and the pilots' scenarios, through the commands.

``load_demo(app)`` builds, with the public ``CareRecord`` commands only (never by writing
events), a partnership directory across every sector and clients whose records tell the
BRIEF's pilot stories: a single assessment of an older person, a child with disabilities
and their virtual team, child protection across two councils, a street-triage crisis,
consent given, refused, withdrawn and re-granted (by clients and representatives),
restrictions, amendments and entries in error - plus generated ordinary clients.

Content is deterministic from the seed; ids and recording times are not (the application
generates ids, and its clock is real time). Event and clinical times are passed
explicitly, spread over the two years before loading. Two things cannot be back-dated
through the commands, by design: break-glass is granted now, and a referral's deadline
must lie ahead when it is sent - so the "overdue" referrals are sent due a minute after
loading and become overdue then.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from carerecord.application import CareRecord
from carerecord.nhs import check_digit
from carerecord.protocol import bundled_document
from carerecord.values import Viewer
from carerecord.vocab import Role, ViewerKind

Progress = Callable[[int, int], None]
P, SG, IG, AUD, ADM, TL = (
    Role.PRACTITIONER,
    Role.SAFEGUARDING_LEAD,
    Role.IG_OFFICER,
    Role.AUDITOR,
    Role.ADMIN,
    Role.TEAM_LEAD,
)
YEAR = timedelta(days=365)
OVERDUE_SOON = timedelta(minutes=1)
"""A deadline must lie ahead when a referral is sent: these are overdue a minute after loading."""

# code, name, sector, local authority area
AGENCIES = (
    ("gp-northgate", "Northgate Surgery", "health", "north-shire"),
    ("gp-riverside", "Riverside Medical Practice", "health", "north-shire"),
    ("community-health", "North Shire Community Health NHS Trust", "health", "north-shire"),
    ("mh-trust", "North Shire Mental Health NHS Trust", "health", "north-shire"),
    ("ambulance", "Shires Ambulance Service", "health", "north-shire"),
    ("ns-adult-care", "North Shire Council Adult Social Care", "social_care", "north-shire"),
    ("ns-children", "North Shire Council Children's Services", "social_care", "north-shire"),
    ("ev-children", "East Vale Council Children's Services", "social_care", "east-vale"),
    ("riverside-school", "Riverside Primary School", "education", "north-shire"),
    ("ed-psych", "North Shire Educational Psychology Service", "education", "north-shire"),
    ("shires-police", "Shires Police", "police", "north-shire"),
    ("ns-housing", "North Shire Council Housing", "housing", "north-shire"),
    ("homes-together", "Homes Together Housing Association", "housing", "north-shire"),
    ("good-neighbours", "Good Neighbours North Shire", "voluntary", "north-shire"),
)

# key, practitioner id, agency, profession, name, roles, teams
PEOPLE: tuple[tuple[str, str, str, str, str, tuple[Role, ...], tuple[str, ...]], ...] = (
    ("gp_northgate", "dr-amira-khan", "gp-northgate", "gp", "Dr Amira Khan", (P, SG), ()),
    ("gp_northgate_2", "dr-tom-hughes", "gp-northgate", "gp", "Dr Tom Hughes", (P,), ()),
    ("ig_northgate", "ig-priya-shah", "gp-northgate", "gp", "Priya Shah", (IG,), ()),
    ("auditor_northgate", "audit-joan-mills", "gp-northgate", "gp", "Joan Mills", (AUD,), ()),
    ("gp_riverside", "dr-ben-osei", "gp-riverside", "gp", "Dr Ben Osei", (P, SG), ()),
    ("gp_riverside_2", "dr-clare-finch", "gp-riverside", "gp", "Dr Clare Finch", (P,), ()),
    ("ig_riverside", "ig-omar-haddad", "gp-riverside", "gp", "Omar Haddad", (IG,), ()),
    ("district_nurse", "dn-sarah-jones", "community-health", "district_nurse", "Sarah Jones",
     (P,), ("dn-north",)),
    ("district_nurse_2", "dn-ravi-patel", "community-health", "district_nurse", "Ravi Patel",
     (P,), ("dn-north",)),
    ("district_nurse_lead", "dn-kate-moss", "community-health", "district_nurse", "Kate Moss",
     (P, TL), ("dn-north",)),
    ("speech_therapist", "slt-emma-clarke", "community-health", "speech_and_language_therapist",
     "Emma Clarke", (P,), ("children-disability",)),
    ("occupational_therapist", "ot-james-reid", "community-health", "occupational_therapist",
     "James Reid", (P,), ("children-disability", "rehab")),
    ("physiotherapist", "physio-lucy-grant", "community-health", "physiotherapist",
     "Lucy Grant", (P,), ("rehab",)),
    ("health_visitor", "hv-nadia-ali", "community-health", "health_visitor", "Nadia Ali",
     (P, SG), ("under-fives",)),
    ("ig_community", "ig-rachel-stone", "community-health", "district_nurse", "Rachel Stone",
     (IG,), ()),
    ("mh_practitioner", "mhp-dev-sharma", "mh-trust", "mental_health_practitioner",
     "Dev Sharma", (P,), ("crisis-team",)),
    ("psychiatrist", "dr-helen-ward", "mh-trust", "psychiatrist", "Dr Helen Ward", (P,),
     ("crisis-team",)),
    ("mh_team_lead", "mhp-grace-obi", "mh-trust", "mental_health_practitioner", "Grace Obi",
     (P, TL), ("crisis-team",)),
    ("ig_mh", "ig-alan-burke", "mh-trust", "psychiatrist", "Alan Burke", (IG,), ()),
    ("paramedic", "para-sam-fox", "ambulance", "paramedic", "Sam Fox", (P,), ()),
    ("ig_ambulance", "ig-jo-lam", "ambulance", "paramedic", "Jo Lam", (IG,), ()),
    ("social_worker", "sw-gail-brown", "ns-adult-care", "social_worker", "Gail Brown", (P,),
     ("older-adults",)),
    ("adult_safeguarding_lead", "sw-mark-evans", "ns-adult-care", "social_worker",
     "Mark Evans", (P, SG, TL), ("older-adults",)),
    ("ig_adult_care", "ig-nina-roy", "ns-adult-care", "social_worker", "Nina Roy", (IG,), ()),
    ("partnership_auditor", "audit-peter-vance", "ns-adult-care", "social_worker",
     "Peter Vance", (AUD,), ()),
    ("council_admin", "admin-lisa-cho", "ns-adult-care", "social_worker", "Lisa Cho", (ADM,),
     ()),
    ("child_social_worker", "csw-hannah-lee", "ns-children", "social_worker", "Hannah Lee",
     (P,), ("disabled-children",)),
    ("child_safeguarding_lead", "csw-paul-grey", "ns-children", "social_worker", "Paul Grey",
     (P, SG, TL), ("child-protection",)),
    ("ig_ns_children", "ig-ruth-day", "ns-children", "social_worker", "Ruth Day", (IG,), ()),
    ("east_vale_social_worker", "ev-owen-price", "ev-children", "social_worker", "Owen Price",
     (P,), ("child-protection",)),
    ("east_vale_safeguarding_lead", "ev-zara-malik", "ev-children", "social_worker",
     "Zara Malik", (P, SG, TL), ("child-protection",)),
    ("ig_ev_children", "ig-colin-webb", "ev-children", "social_worker", "Colin Webb", (IG,),
     ()),
    ("teacher", "teacher-laura-kent", "riverside-school", "teacher", "Laura Kent", (P,), ()),
    ("school_safeguarding_lead", "dsl-mike-ford", "riverside-school", "teacher", "Mike Ford",
     (P, SG), ()),
    ("ig_school", "ig-ann-hale", "riverside-school", "teacher", "Ann Hale", (IG,), ()),
    ("educational_psychologist", "ep-fiona-bell", "ed-psych", "educational_psychologist",
     "Fiona Bell", (P,), ()),
    ("ig_ed_psych", "ig-sean-kerr", "ed-psych", "educational_psychologist", "Sean Kerr", (IG,),
     ()),
    ("police_officer", "pc-ian-wood", "shires-police", "police_officer", "PC Ian Wood", (P,),
     ("street-triage",)),
    ("police_officer_2", "pc-amy-hart", "shires-police", "police_officer", "PC Amy Hart", (P,),
     ("public-protection",)),
    ("police_safeguarding_lead", "ds-kemi-ade", "shires-police", "police_officer",
     "DS Kemi Ade", (P, SG), ("public-protection",)),
    ("ig_police", "ig-neil-ross", "shires-police", "police_officer", "Neil Ross", (IG,), ()),
    ("housing_officer", "ho-kim-dale", "ns-housing", "housing_officer", "Kim Dale", (P,), ()),
    ("benefits_officer", "bo-raj-singh", "ns-housing", "benefits_officer", "Raj Singh", (P,),
     ()),
    ("ig_housing", "ig-eve-lowe", "ns-housing", "housing_officer", "Eve Lowe", (IG,), ()),
    ("association_housing_officer", "ha-tess-byrne", "homes-together", "housing_officer",
     "Tess Byrne", (P,), ()),
    ("ig_homes_together", "ig-dan-cole", "homes-together", "housing_officer", "Dan Cole", (IG,),
     ()),
    ("support_worker", "sup-max-hill", "good-neighbours", "support_worker", "Max Hill", (P,),
     ()),
    ("ig_good_neighbours", "ig-fay-lin", "good-neighbours", "support_worker", "Fay Lin", (IG,),
     ()),
)  # fmt: skip

# What practitioners write under each heading (by heading; headings are each profession's own).
PHRASES: dict[str, tuple[str, ...]] = {
    "History": ("Three weeks of breathlessness on exertion.", "Recurrent chest infections."),
    "Examination": ("Chest clear, ankles mildly swollen.", "BP 142/88, pulse regular."),
    "Plan": ("Bloods and review in two weeks.", "Refer for a falls assessment."),
    "Medication review": ("Reduced sedatives; reviewed anticoagulant.", "Dosette box started."),
    "Mental state": ("Low mood, sleeping poorly, no thoughts of harm.", "Anxious but engaging."),
    "Substance use": ("Drinking above safe limits most days.", "Cutting down with support."),
    "Sexual health": ("Contraception reviewed.", "Screening offered and accepted."),
    "Social context": ("Lives alone; daughter visits weekly.", "Recently bereaved."),
    "Safeguarding": ("Concern discussed with the safeguarding lead.", "Bruising explained."),
    "Wound care": ("Leg ulcer dressed; healing slowly.", "Pressure area intact."),
    "Mobility and falls": ("Two falls this month; frame issued.", "Walking with a stick."),
    "Medication administration": ("Insulin given as charted.", "Eye drops administered."),
    "Nutrition and hydration": ("Eating less; weight down 2 kg.", "Fluids encouraged."),
    "Carer support": ("Daughter finding caring hard; carer's assessment offered.",),
    "Home environment": ("Stairs steep; bathroom upstairs only.", "Home cold; heating broken."),
    "Mental wellbeing": ("Says she feels lonely.", "Brighter today."),
    "Child development": ("Walking and babbling; on track.", "Speech delay noted at review."),
    "Family health": ("Parent struggling with sleep.", "Sibling recently diagnosed."),
    "Feeding": ("Weaning well.", "Feeding difficulties; weight on 9th centile."),
    "Communication assessment": ("Understands short instructions; few spoken words.",),
    "Therapy progress": ("Now using a picture exchange system.", "Using two-word phrases."),
    "Eating and drinking": ("Safe on soft diet; thin fluids with supervision.",),
    "Functional assessment": ("Needs help with washing and dressing.", "Independent in kitchen."),
    "Equipment": ("Specialist seating delivered.", "Bath lift installed."),
    "Home adaptations": ("Stairlift and grab rails recommended.", "Ramp to front door agreed."),
    "Transfers and mobility": ("Transfers with one carer.", "Uses a wheelchair outdoors."),
    "Mobility": ("Gait unsteady; strengthening programme.", "Walking 50 m with a frame."),
    "Falls risk": ("High falls risk; pendant alarm advised.", "Falls risk reduced."),
    "Treatment plan": ("Six sessions of balance work.", "Discharged with home exercises."),
    "Risk assessment": ("Moderate risk to self; safety plan agreed.", "Low risk to others."),
    "Crisis plan": ("In crisis call the crisis line; sister is the key contact.",),
    "Medication": ("Started an antidepressant.", "Depot injection given."),
    "Capacity": ("Has capacity for this decision.", "Lacks capacity for care decisions."),
    "Diagnosis": ("Recurrent depressive disorder.", "Bipolar affective disorder."),
    "Treatment": ("Weekly psychology sessions.", "Reviewed in outpatients."),
    "Risk": ("Risk of self-neglect when unwell.", "No current risk to others."),
    "Incident": ("Found on the floor after a fall.", "Called for chest pain."),
    "Observations": ("Observations within normal limits.", "Oxygen saturation 93%."),
    "Conveyance": ("Conveyed to the emergency department.", "Not conveyed; GP informed."),
    "Needs assessment": ("Eligible needs for personal care.", "Needs met by family."),
    "Care and support plan": ("Two calls a day for personal care.", "Day centre twice a week."),
    "Safeguarding enquiry": ("Section 42 enquiry opened.", "Enquiry closed; plan in place."),
    "Family and networks": ("Close to a neighbour.", "Father works away; mother main carer."),
    "Finances": ("Not claiming attendance allowance.", "Rent arrears building up."),
    "Mental capacity": ("Capacity assessed for accommodation.", "Best-interests meeting held."),
    "Mental health": ("Known to the community mental health team.", "Mood stable."),
    "Cognitive assessment": ("Verbal reasoning below average; visual skills a strength.",),
    "Recommendations": ("Visual timetable and short instructions.", "Small-group support."),
    "Attendance": ("Attendance 82% this term.", "Late most Mondays."),
    "Learning needs": ("Working below expected level in reading.", "Needs a scribe."),
    "Communication in class": ("Uses signs to ask for help.", "Withdrawn in group work."),
    "Incident summary": ("Found distressed on the bridge; talked down.", "Domestic incident."),
    "Missing episode": ("Missing overnight; found at a friend's address.",),
    "Risk to officers": ("Aggressive when intoxicated.", "Dog at the address."),
    "Offending": ("Caution for shoplifting.", "No recorded offending."),
    "Tenancy": ("Secure tenancy since 2015.", "Tenancy at risk due to arrears."),
    "Housing need": ("Needs ground-floor accommodation.", "Overcrowded; on the register."),
    "Rent arrears": ("Arrears of 6 weeks; plan agreed.", "Arrears cleared."),
    "Property risks": ("Dog at the property; visit in pairs.", "Hoarding; fire risk."),
    "Benefit claim": ("Housing benefit claim received.", "Council tax support awarded."),
    "Support plan": ("Weekly shopping and a befriending call.", "Help with forms."),
    "Wellbeing": ("Enjoys the lunch club.", "Feels isolated since moving."),
    "Practical help": ("Helped to sort out the boiler repair.", "Moved furniture for the bed."),
}

GIVEN = (
    "Edith",
    "Arthur",
    "Leo",
    "Mia",
    "Jordan",
    "Rachel",
    "Olivia",
    "Noah",
    "Amelia",
    "George",
    "Isla",
    "Harry",
    "Ava",
    "Oscar",
    "Freya",
    "Jack",
    "Poppy",
    "Charlie",
    "Sofia",
    "Alfie",
    "Grace",
    "Mohammed",
    "Aisha",
    "Kwame",
    "Zofia",
    "Liam",
    "Niamh",
)
FAMILY = ("Clarke", "Martin", "Thompson", "Reeves", "Moore", "Patel", "Nowak", "Okafor",
          "Evans", "Hughes", "Walsh", "Ahmed", "Davies", "Murphy", "Kowalski", "Singh",
          "Taylor", "Brown", "Wilson", "Roberts", "Green", "Lewis", "Khan", "Begum")  # fmt: skip

# The GPs of each practice: a generated client is registered at one, and only its GPs relate.
PRACTICES = (("gp_northgate", "gp_northgate_2"), ("gp_riverside", "gp_riverside_2"))

# Who may be involved with a generated client, by age band; key, heading pool.
INVOLVED_ADULT = ("district_nurse", "physiotherapist", "occupational_therapist", "social_worker",
                  "housing_officer", "benefits_officer", "support_worker", "mh_practitioner",
                  "association_housing_officer", "paramedic")  # fmt: skip
INVOLVED_CHILD = ("health_visitor", "speech_therapist", "child_social_worker", "teacher",
                  "educational_psychologist")  # fmt: skip


@dataclass(frozen=True)
class DemoPractitioner:
    """A demo practitioner, with what a token for them must claim."""

    key: str
    practitioner_id: str
    agency_id: str
    profession: str
    name: str
    roles: tuple[str, ...]
    teams: tuple[str, ...]

    @property
    def caller(self) -> Viewer:
        return Viewer(
            kind=ViewerKind.PRACTITIONER,
            agency_id=self.agency_id,
            profession=self.profession,
            practitioner_id=self.practitioner_id,
        )


@dataclass(frozen=True)
class DemoSummary:
    """What was loaded: who to log in as, which clients tell which story, how much of what.

    ``loaded_at`` is the application's time when loading began: every event time lies in
    the two years before it. ``position`` is the log position after loading (wait for the
    views to reach it). ``counts`` are the events in the log by type.
    """

    seed: int
    loaded_at: datetime
    protocol_version: int
    position: int
    agencies: Mapping[str, str]
    practitioners: Mapping[str, DemoPractitioner]
    scenario_clients: Mapping[str, str]
    generated_clients: tuple[str, ...]
    counts: Mapping[str, int]

    def practitioners_of(self, agency_id: str) -> list[DemoPractitioner]:
        return [p for p in self.practitioners.values() if p.agency_id == agency_id]


DIRECTORY = {
    key: DemoPractitioner(key, pid, agency, profession, name, tuple(r.value for r in roles), teams)
    for key, pid, agency, profession, name, roles, teams in PEOPLE
}


@dataclass
class _Loader:
    app: CareRecord
    rng: random.Random
    now: datetime
    nhs_numbers: set[str] = field(default_factory=set)

    # -- helpers over the public commands ---------------------------------------------------

    def who(self, key: str) -> Viewer:
        return DIRECTORY[key].caller

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def nhs_number(self) -> str:
        while True:
            nine = "999" + "".join(str(self.rng.randrange(10)) for _ in range(6))
            digit = check_digit(nine)
            number = f"{nine}{digit}"
            if digit is not None and number not in self.nhs_numbers:
                self.nhs_numbers.add(number)
                return number

    def postcode(self) -> str:
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        return (
            f"NS{self.rng.randint(1, 9)} {self.rng.randint(1, 9)}"
            f"{self.rng.choice(letters)}{self.rng.choice(letters)}"
        )

    def register(
        self, key: str, given: str, family: str, born: date, gender: str, **extra: Any
    ) -> str:
        if "local_ids" not in extra or self.rng.random() < 0.8:
            extra.setdefault("nhs_number", self.nhs_number())
        result = self.app.register_client(
            self.who(key),
            given_name=given,
            family_name=family,
            date_of_birth=born,
            gender=gender,
            postcode=extra.pop("postcode", self.postcode()),
            phone=f"01632 96{self.rng.randrange(10_000):04d}",
            **extra,
        )
        return str(result.id)

    def involve(
        self, key: str, client: str, days_ago: float, reason: str = "Allocated", **target: Any
    ) -> None:
        at = self.ago(days_ago)
        self.app.start_care_relationship(self.who(key), client, reason=reason, at=at, **target)

    def note(
        self,
        key: str,
        client: str,
        heading: str,
        days_ago: float,
        text: str | None = None,
        **labels: Any,
    ) -> str:
        result = self.app.record_contribution(
            self.who(key),
            client,
            heading=heading,
            text=text or self.rng.choice(PHRASES[heading]),
            occurred_at=self.ago(days_ago),
            **labels,
        )
        return str(result.id)

    def amend(self, key: str, client: str, entry: str, text: str, days_ago: float) -> None:
        self.app.amend_contribution(
            self.who(key),
            client,
            entry,
            text=text,
            reason="Corrected by the author",
            at=self.ago(days_ago),
        )

    def in_error(self, key: str, client: str, entry: str, days_ago: float) -> None:
        self.app.enter_contribution_in_error(
            self.who(key),
            client,
            entry,
            reason="Recorded on the wrong client",
            at=self.ago(days_ago),
        )

    def consent(self, key: str, client: str, decision: str, days_ago: float, **scope: Any) -> str:
        scope.setdefault("everyone", not any(k in scope for k in ("agencies", "sectors")))
        result = self.app.record_consent(
            self.who(key), client, decision=decision, decided_at=self.ago(days_ago), **scope
        )
        return str(result.id)

    def withdraw(self, key: str, client: str, consent: str, days_ago: float) -> None:
        self.app.withdraw_consent(
            self.who(key),
            client,
            consent,
            reason="The client changed their mind",
            at=self.ago(days_ago),
        )

    def restrict(self, key: str, client: str, days_ago: float, **target: Any) -> None:
        self.app.place_restriction(self.who(key), client, at=self.ago(days_ago), **target)

    def refer(
        self,
        key: str,
        client: str,
        to_agency: str,
        category: str,
        reason: str,
        days_ago: float,
        due: timedelta,
        urgency: str = "routine",
    ) -> str:
        result = self.app.send_referral(
            self.who(key),
            client,
            to_agency=to_agency,
            category=category,
            reason=reason,
            due_by=self.app.clock() + due,
            urgency=urgency,
            at=self.ago(days_ago),
        )
        return str(result.id)

    def respond(self, key: str, client: str, referral: str, how: str, days_ago: float) -> None:
        at = self.ago(days_ago)
        who = self.who(key)
        if how == "acknowledge":
            self.app.acknowledge_referral(who, client, referral, at=at)
        elif how == "accept":
            self.app.accept_referral(who, client, referral, note="Accepted; visit booked", at=at)
        elif how == "decline":
            self.app.decline_referral(
                who, client, referral, reason="Does not meet our criteria", at=at
            )
        else:
            self.app.close_referral(who, client, referral, outcome="Assessment completed", at=at)

    def alert(
        self,
        key: str,
        client: str,
        kind: str,
        severity: str,
        summary: str,
        days_ago: float,
        **labels: Any,
    ) -> str:
        result = self.app.raise_alert(
            self.who(key),
            client,
            kind=kind,
            severity=severity,
            summary=summary,
            occurred_at=self.ago(days_ago),
            **labels,
        )
        return str(result.id)

    # -- the directory ------------------------------------------------------------------------

    def directory(self) -> None:
        for code, name, sector, area in AGENCIES:
            self.app.register_agency(
                code=code,
                name=name,
                sector=sector,
                local_authority_area=area,
                phone=f"01632 9{self.rng.randrange(100_000):05d}",
                email=f"duty@{code}.example",
                by="demo",
                at=self.ago(730),
            )
        for person in DIRECTORY.values():
            self.app.enrol_practitioner(
                practitioner_id=person.practitioner_id,
                agency_id=person.agency_id,
                profession=person.profession,
                name=person.name,
                roles=person.roles,
                teams=person.teams,
                phone=f"01632 9{self.rng.randrange(100_000):05d}",
                email=f"{person.practitioner_id}@{person.agency_id}.example",
                trained_on=(self.now - timedelta(days=self.rng.randint(30, 700))).date(),
                by="demo",
                at=self.ago(720),
            )


# The scenarios read as stories, one command per line.
# fmt: off
def _older_person(d: _Loader) -> str:
    """Single assessment: health, social care and housing assess Edith, each in their words."""
    edith = d.register("gp_northgate", "Edith", "Clarke", date(1941, 3, 9), "female",
                       local_ids={"north-shire": "ASC-104233"})
    d.note("gp_northgate", edith, "History", 400, "Falls, breathlessness, living alone.")
    d.note("gp_northgate", edith, "Medication review", 390)
    referral = d.refer("gp_northgate", edith, "community-health", "mobility",
                       "Falls at home; please assess mobility and home", 385, timedelta(days=30))
    d.respond("district_nurse", edith, referral, "accept", 380)
    falls = d.note("district_nurse", edith, "Mobility and falls", 378,
                   "Two falls this month; walking frame issued.")
    d.amend("district_nurse", edith, falls, "Three falls this month; walking frame issued.", 377)
    d.note("district_nurse", edith, "Home environment", 378)
    d.note("district_nurse", edith, "Carer support", 370)
    for key in ("occupational_therapist", "physiotherapist", "social_worker", "housing_officer"):
        d.involve(key, edith, 360, reason="Single assessment")
    d.note("occupational_therapist", edith, "Functional assessment", 355)
    wrong = d.note("occupational_therapist", edith, "Equipment", 354, "Hoist delivered.")
    d.in_error("occupational_therapist", edith, wrong, 353)
    d.note("occupational_therapist", edith, "Home adaptations", 350)
    d.note("physiotherapist", edith, "Falls risk", 348)
    d.note("social_worker", edith, "Needs assessment", 340)
    d.note("social_worker", edith, "Care and support plan", 330)
    d.consent("social_worker", edith, "granted", 345, purposes=["direct_care"])
    adaptations = d.refer("social_worker", edith, "ns-housing", "housing",
                          "Ground-floor move or stairlift needed", 335, timedelta(days=60))
    d.respond("housing_officer", edith, adaptations, "acknowledge", 333)
    d.respond("housing_officer", edith, adaptations, "accept", 320)
    d.note("housing_officer", edith, "Housing need", 318)
    d.respond("housing_officer", edith, adaptations, "close", 200)
    d.alert("housing_officer", edith, "risk_to_lone_workers", "medium",
            "Neighbour's dog loose in the shared garden; visit in pairs.", 300)
    d.note("social_worker", edith, "Mental capacity", 120,
           "Lacks capacity for decisions about care; daughter holds LPA.")
    d.consent("social_worker", edith, "granted", 110, given_by="lasting_power_of_attorney",
              representative_name="Susan Clarke (daughter)", expires_at=d.ago(110) + 3 * YEAR)
    return edith


def _child_with_disabilities(d: _Loader) -> str:
    """A virtual team around Leo; joint assessment; referrals on tight timescales."""
    leo = d.register("gp_riverside", "Leo", "Martin", date(2018, 6, 21), "male")
    d.consent("gp_riverside", leo, "granted", 500, given_by="parent",
              representative_name="Kelly Martin (mother)", purposes=["direct_care"])
    d.note("gp_riverside", leo, "History", 495, "Global developmental delay; epilepsy.")
    speech = d.refer("gp_riverside", leo, "community-health", "communication",
                     "Limited speech; assessment please", 490, timedelta(days=42))
    d.respond("speech_therapist", leo, speech, "accept", 470)
    d.involve("speech_therapist", leo, 468, reason="Team caseload", team_id="children-disability")
    d.note("speech_therapist", leo, "Communication assessment", 460)
    d.note("occupational_therapist", leo, "Equipment", 440, "Specialist seating delivered.")
    for key in ("child_social_worker", "teacher"):
        d.involve(key, leo, 450, reason="Team around the child")
    d.note("child_social_worker", leo, "Needs assessment", 430)
    d.note("child_social_worker", leo, "Family and networks", 425)
    d.note("teacher", leo, "Learning needs", 300)
    d.note("teacher", leo, "Communication in class", 120)
    psych = d.refer("teacher", leo, "ed-psych", "development",
                    "Cognitive assessment for the EHC plan", 100, timedelta(days=42), "urgent")
    d.respond("educational_psychologist", leo, psych, "accept", 95)
    d.note("educational_psychologist", leo, "Cognitive assessment", 70)
    d.note("educational_psychologist", leo, "Recommendations", 69)
    d.involve("district_nurse", leo, 90, reason="Community nursing")
    d.note("district_nurse", leo, "Nutrition and hydration", 88)
    d.note("speech_therapist", leo, "Therapy progress", 60)
    d.alert("speech_therapist", leo, "access_needs", "low",
            "Communicates with signs and pictures; allow extra time.", 58)
    short_break = d.refer("speech_therapist", leo, "ns-children", "daily_living",
                          "Family asking for short breaks", 45, OVERDUE_SOON, "urgent")
    d.respond("child_social_worker", leo, short_break, "acknowledge", 44)
    seating = d.refer("child_social_worker", leo, "community-health", "equipment",
                      "Review of seating at home", 30, timedelta(days=21))
    d.respond("district_nurse_lead", leo, seating, "decline", 28)
    continence = d.refer("gp_riverside", leo, "community-health", "daily_living",
                         "Continence review before starting school", 20, OVERDUE_SOON)
    d.respond("district_nurse_lead", leo, continence, "acknowledge", 19)
    return leo


def _child_protection(d: _Loader) -> str:
    """Mia moved from North Shire to East Vale; three agencies raise concerns in one week."""
    mia = d.register("health_visitor", "Mia", "Thompson", date(2021, 11, 2), "female",
                     local_ids={"north-shire": "CS-88120"})
    d.note("health_visitor", mia, "Child development", 260)
    d.consent("health_visitor", mia, "refused", 250, given_by="parent",
              representative_name="Dean Thompson (father)")
    d.involve("child_social_worker", mia, 240, reason="Child in need plan")
    d.note("child_social_worker", mia, "Family and networks", 238)
    transfer = d.refer("child_social_worker", mia, "ev-children", "safeguarding",
                       "Family moved to East Vale; transfer of the child protection case", 60,
                       timedelta(days=10), "urgent")
    d.respond("east_vale_social_worker", mia, transfer, "accept", 58)
    d.app.record_local_identifier(d.who("east_vale_social_worker"), mia, authority="east-vale",
                                  local_id="EV-CP-2207", at=d.ago(57))
    for key in ("police_officer_2", "school_safeguarding_lead", "east_vale_safeguarding_lead"):
        d.involve(key, mia, 40, reason="Strategy discussion")
    d.alert("police_officer_2", mia, "safeguarding_concern", "high",
            "Domestic incident at the home address; child present.", 21,
            lawful_basis="safeguarding")
    incident = d.note("police_officer_2", mia, "Incident summary", 21,
                      "Attended a domestic incident; child asleep upstairs.",
                      lawful_basis="safeguarding", sensitivity="sensitive")
    d.restrict("police_officer_2", mia, 20, requested_by="contributor",
               reason="Active investigation", entry_id=incident, sectors=["education"])
    d.alert("school_safeguarding_lead", mia, "safeguarding_concern", "medium",
            "Nursery: arrived hungry and with a bruise on her arm.", 19,
            lawful_basis="safeguarding")
    d.alert("health_visitor", mia, "safeguarding_concern", "high",
            "Home visit: mother disclosed fear of her partner.", 18, lawful_basis="safeguarding")
    d.note("health_visitor", mia, "Safeguarding", 18,
           "Shared with children's services under safeguarding despite the refusal.",
           lawful_basis="safeguarding")
    d.note("east_vale_social_worker", mia, "Safeguarding enquiry", 15,
           "Strategy meeting held; child protection enquiry started.",
           lawful_basis="safeguarding")
    return mia


def _street_triage(d: _Loader) -> str:
    """Jordan, known to mental health services, in crisis; police and MH in the triage car."""
    jordan = d.register("gp_northgate_2", "Jordan", "Reeves", date(1996, 8, 14), "male")
    d.involve("mh_practitioner", jordan, 600, reason="Community mental health team")
    d.involve("psychiatrist", jordan, 600, reason="Outpatient care")
    d.note("psychiatrist", jordan, "Diagnosis", 590, "Bipolar affective disorder.")
    d.note("mh_practitioner", jordan, "Crisis plan", 580)
    first = d.consent("mh_practitioner", jordan, "granted", 575, sectors=["police"],
                      purposes=["emergency"])
    d.withdraw("mh_practitioner", jordan, first, 300)
    d.consent("mh_practitioner", jordan, "granted", 90, sectors=["police"],
              purposes=["emergency"])
    d.note("mh_practitioner", jordan, "Risk assessment", 30)
    d.alert("mh_practitioner", jordan, "risk_to_self", "high",
            "Risk to self when unwell; follow the crisis plan.", 29)
    grant = d.app.break_glass(
        d.who("police_officer"), jordan, minutes=120,
        reason="Street triage: man in crisis on the bridge, risk to life; need his crisis plan",
    ).id
    d.note("police_officer", jordan, "Incident summary", 0.01,
           "Street triage with the MH practitioner; taken to a place of safety.")
    d.note("mh_practitioner", jordan, "Mental state", 0.01,
           "Assessed in the triage car; calmer; home treatment team tomorrow.")
    d.app.review_break_glass(d.who("ig_police"), jordan, grant, outcome="justified",
                             note="Crisis confirmed by the control room log")
    return jordan


def _adult_safeguarding(d: _Loader) -> str:
    """Rachel refused sharing and asked for her drinking to be sealed from housing and police."""
    rachel = d.register("gp_riverside_2", "Rachel", "Moore", date(1987, 1, 30), "female")
    d.note("gp_riverside_2", rachel, "Substance use", 200)
    d.restrict("gp_riverside_2", rachel, 199, requested_by="client",
               reason="Client asked for this to stay private", category="substance_use",
               sectors=["housing", "police"])
    d.consent("gp_riverside_2", rachel, "refused", 198)
    d.involve("adult_safeguarding_lead", rachel, 60, reason="Safeguarding referral")
    d.note("adult_safeguarding_lead", rachel, "Safeguarding enquiry", 55,
           "Section 42 enquiry: financial abuse by a relative.", lawful_basis="safeguarding")
    d.involve("housing_officer", rachel, 50)
    d.note("housing_officer", rachel, "Rent arrears", 48)
    return rachel
def _minimum_necessary(d: _Loader, clients: dict[str, str]) -> None:
    """Under version 3 (minimum necessary) Jordan's team record a treatment note and
    review his crisis plan: the crisis plan is now its own category, which the street-
    triage view reaches, and the treatment note is not (entries recorded before keep
    the category they were recorded under)."""
    jordan = clients["street_triage_crisis"]
    d.note("psychiatrist", jordan, "Treatment", 0.5,
           "Reviewed in outpatients; mood stabiliser continued.")
    d.note("mh_practitioner", jordan, "Crisis plan", 0.4,
           "Crisis plan reviewed: in crisis call the crisis line; sister is the key contact.")
# fmt: on


SCENARIOS: dict[str, Callable[[_Loader], str]] = {
    "older_person_single_assessment": _older_person,
    "child_with_disabilities": _child_with_disabilities,
    "child_protection_two_councils": _child_protection,
    "street_triage_crisis": _street_triage,
    "adult_safeguarding_refused_consent": _adult_safeguarding,
}


def _ordinary_client(d: _Loader, n: int) -> str:
    """A generated client: registered at one practice (its GP only), others involved as needed."""
    rng = d.rng
    gp = rng.choice(PRACTICES[n % 2])
    age = rng.randint(1, 95)
    born = (d.now - timedelta(days=age * 365 + rng.randint(0, 364))).date()
    start = rng.uniform(30, 720)
    client = d.register(
        gp, rng.choice(GIVEN), rng.choice(FAMILY), born, rng.choice(("female", "male"))
    )
    t = start
    for heading in rng.sample(
        ("History", "Examination", "Plan", "Medication review", "Social context", "Mental state"),
        rng.randint(1, 3),
    ):
        t = max(t - rng.uniform(1, 30), 1)
        d.note(gp, client, heading, t)
    if rng.random() < 0.05:
        d.note(gp, client, "Sexual health", max(t - 1, 1))
    child = age < 16
    if rng.random() < 0.5:
        extra = {"given_by": "parent", "representative_name": "A parent"} if child else {}
        d.consent(gp, client, "granted", max(t - 2, 1), purposes=["direct_care"], **extra)
    elif rng.random() < 0.2:
        d.consent(gp, client, "refused", max(t - 2, 1), sectors=[rng.choice(("housing", "police"))])
    pool = INVOLVED_CHILD if child else INVOLVED_ADULT
    for key in rng.sample(pool, rng.randint(0, 3)):
        person = DIRECTORY[key]
        t = max(t - rng.uniform(1, 40), 0.5)
        if rng.random() < 0.5:
            heading = rng.choice(list(d.app.protocol().professions[person.profession].headings))
            category = d.app.protocol().category_for_heading(person.profession, heading)
            referral = d.refer(
                gp,
                client,
                person.agency_id,
                str(category),
                "Please assess and advise",
                t,
                timedelta(days=rng.randint(3, 60)),
            )
            if rng.random() < 0.8:
                d.respond(key, client, referral, "accept", max(t - 1, 0.2))
            else:
                continue
        else:
            d.involve(key, client, t)
        headings = list(d.app.protocol().professions[person.profession].headings)
        for heading in rng.sample(headings, min(len(headings), rng.randint(1, 3))):
            t = max(t - rng.uniform(0.5, 20), 0.1)
            entry = d.note(key, client, heading, t)
            if rng.random() < 0.08:
                d.amend(key, client, entry, rng.choice(PHRASES[heading]) + " (corrected)", t / 2)
        if rng.random() < 0.1:
            d.alert(key, client, "risk_to_lone_workers", "low", "Visit in pairs.", t / 2)
    return client


def load_demo(
    app: CareRecord,
    *,
    seed: int = 7,
    clients: int = 60,
    progress: Progress | None = None,
) -> DemoSummary:
    """Load the demo partnership, the pilot scenarios and ``clients`` generated clients.

    The store must have no protocol adopted yet (a fresh store). Everything goes through
    the public commands; event times lie in the two years before the call.
    """
    if clients < 0:
        raise ValueError("clients must not be negative")
    now = app.clock()
    # Not for security: the demo's content must repeat exactly for a seed.
    d = _Loader(app=app, rng=random.Random(seed), now=now)  # noqa: S311
    total = 1 + len(SCENARIOS) + clients
    step = 0

    def advance() -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(step, total)

    app.adopt_protocol(bundled_document(1), by="demo", at=d.ago(730))
    d.directory()
    advance()
    scenario_clients = {}
    for name, scenario in SCENARIOS.items():
        scenario_clients[name] = scenario(d)
        advance()
    generated = []
    for n in range(clients):
        if n == clients // 2:
            # The partnership board adopts version 2 partway through (versioning in the log).
            app.adopt_protocol(bundled_document(2), by="demo")
        generated.append(_ordinary_client(d, n))
        advance()
    if clients == 0:
        app.adopt_protocol(bundled_document(2), by="demo")
    # Then version 3, written as minimum necessary (the need-to-know matrix).
    app.adopt_protocol(bundled_document(3), by="demo")
    _minimum_necessary(d, scenario_clients)
    position = int(app.recorder.max_notification_id() or 0)
    return DemoSummary(
        seed=seed,
        loaded_at=now,
        protocol_version=app.protocol().version,
        position=position,
        agencies={code: name for code, name, _, _ in AGENCIES},
        practitioners=dict(DIRECTORY),
        scenario_clients=scenario_clients,
        generated_clients=tuple(generated),
        counts=_counts(app, position),
    )


def _counts(app: CareRecord, position: int) -> dict[str, int]:
    """How many events of each type the log holds (e.g. ``ClientRecord.ContributionRecorded``)."""
    found: Counter[str] = Counter()
    start = 1
    while start <= position:
        page = app.recorder.select_notifications(start=start, limit=1_000, stop=position)
        if not page:
            break
        found.update(n.topic.rsplit(":", 1)[-1] for n in page)
        start = page[-1].id + 1
    return dict(sorted(found.items()))
