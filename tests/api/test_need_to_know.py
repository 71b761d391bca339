"""Need to know through the API, with the bundled minimum-necessary protocol (version 3).

The pilots' scenarios: the single assessment of an older person (the housing officer's
slice), street triage (the police officer's emergency view under break-glass) and the
virtual team around a child with disabilities (each profession's slice). What each
caller is expected to reach is read from the protocol document itself (its ``reach``
matrix), not from the parsed model the policy uses.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from api_stack import Stack, gql_execute
from world import (
    GP,
    HOUSING,
    MENTAL_HEALTH,
    NURSE,
    POLICE,
    SOCIAL_WORKER,
    TEACHER,
    ClientFacts,
    Person,
    expected_slice,
    record,
    register_client,
    start_relationship,
)

from carerecord.protocol import bundled_document
from carerecord.vocab import Purpose, Role

V3 = bundled_document(3)

BENEFITS = Person("bo-ben", "housing", "benefits_officer")
OT = Person("ot-ola", "community-health", "occupational_therapist")
PHYSIO = Person("pt-pia", "community-health", "physiotherapist")
SPEECH = Person("slt-sol", "community-health", "speech_and_language_therapist")
PSYCHIATRIST = Person("dr-psy", "mh-trust", "psychiatrist")
PARAMEDIC = Person("para-pam", "ambulance", "paramedic")
CHILD_SOCIAL_WORKER = Person("csw-cal", "children-north", "social_worker")
ED_PSYCH = Person("ep-eve", "ed-psych", "educational_psychologist")
EXTRA_PEOPLE = (
    BENEFITS,
    OT,
    PHYSIO,
    SPEECH,
    PSYCHIATRIST,
    PARAMEDIC,
    CHILD_SOCIAL_WORKER,
    ED_PSYCH,
)
EXTRA_AGENCIES = (
    ("ambulance", "North Shire Ambulance Service", "health"),
    ("children-north", "North Shire Children's Services", "social_care"),
    ("ed-psych", "North Shire Educational Psychology", "education"),
)

SLICE = """query($id: ID!, $purpose: Purpose!) {
  client(id: $id, purpose: $purpose) {
    basis { kind grantId }
    alerts { entryId alertKind }
    entries(first: 100) { items { entryId category heading sharedUnder { basis rule } } }
  }
}"""

EXPLAIN = """query($c: ID!, $e: ID!, $p: Purpose!) { explainAccess(clientId: $c, entryId: $e,
  purpose: $p) { visible decision { allowed rule protocolVersion } } }"""

BREAK_GLASS = """mutation($c: ID!) { breakGlass(clientId: $c,
  reason: "Street triage: person in crisis on the bridge, need the crisis plan", minutes: 60) {
  ... on BreakGlassGranted { grantId } ... on Refused { code } } }"""

INVOLVEMENT = """query($c: ID!) { involvement(clientId: $c) { agencies {
  agencyCode agency { phone } workers { practitionerId profession phone } } } }"""


@pytest.fixture(scope="module")
def v3(stack: Stack) -> Stack:
    """The test partnership under version 3, with the professions the pilots need."""
    at = stack.clock() - timedelta(hours=20)
    for code, name, sector in EXTRA_AGENCIES:
        stack.app.register_agency(
            code=code,
            name=name,
            sector=sector,
            local_authority_area="north-shire",
            phone="01632 960000",
            email=f"team@{code}.example",
            at=at,
        )
    for person in EXTRA_PEOPLE:
        stack.app.enrol_practitioner(
            practitioner_id=person.practitioner_id,
            agency_id=person.agency_id,
            profession=person.profession,
            name=person.practitioner_id.replace("-", " ").title(),
            roles=person.roles or (Role.PRACTITIONER,),
            phone="01632 960002",
            email=f"{person.practitioner_id}@example.org",
            at=at,
        )
    stack.app.adopt_protocol(V3, at=at)
    assert stack.app.protocol().version == 3
    return stack


def matrix(profession: str, purpose: Purpose) -> set[str]:
    """The categories version 3's document gives a profession for a purpose."""
    body = V3["purposes"][purpose.value]
    outer = set(V3["categories"]) if body["categories"] == "*" else set(body["categories"])
    found: set[str] = set()
    for row in body["reach"]:
        if any(profession in rule.get("professions", []) for rule in row["who"]):
            found |= set(V3["categories"]) if row["categories"] == "*" else set(row["categories"])
    return found & outer


def read(stack: Stack, person: Person, client_id: str, purpose: Purpose) -> dict[str, Any]:
    result = gql_execute(stack, stack.token(person), SLICE, id=client_id, purpose=purpose.name)
    view: dict[str, Any] = result["client"]
    return view


def categories_of(view: dict[str, Any]) -> set[str]:
    return {e["category"] for e in view["entries"]["items"]}


def ids_of(view: dict[str, Any]) -> list[str]:
    return sorted(e["entryId"] for e in view["entries"]["items"])


def policy_ids(stack: Stack, client: ClientFacts, person: Person, purpose: Purpose) -> list[str]:
    expected = expected_slice(stack.app, client.client_id, person, purpose, stack.clock())
    return sorted(e.entry_id for e in expected)


# --- single assessment: the housing officer ------------------------------------------------


def older_person(stack: Stack) -> ClientFacts:
    now = stack.clock()
    client = register_client(stack.app, GP, given_name="Edith", family_name="Assessed")
    for person in (NURSE, OT, SOCIAL_WORKER, HOUSING, BENEFITS):
        start_relationship(stack.app, client, person)
    for i, (person, heading) in enumerate(
        [
            (GP, "History"),
            (GP, "Medication review"),
            (NURSE, "Wound care"),
            (NURSE, "Medication administration"),
            (NURSE, "Mobility and falls"),
            (NURSE, "Home environment"),
            (NURSE, "Carer support"),
            (NURSE, "Mental wellbeing"),
            (OT, "Equipment"),
            (OT, "Functional assessment"),
            (SOCIAL_WORKER, "Needs assessment"),
            (SOCIAL_WORKER, "Mental capacity"),
            (SOCIAL_WORKER, "Finances"),
            (HOUSING, "Property risks"),
        ]
    ):
        record(stack.app, client, person, heading, when=now - timedelta(days=30 - i))
    stack.app.record_consent(
        SOCIAL_WORKER.caller,
        client.client_id,
        decision="granted",
        everyone=True,
        purposes=["direct_care"],
    )
    stack.wait_for_views()
    return client


def test_the_housing_officer_sees_housing_mobility_equipment_daily_living_and_risk_only(
    v3: Stack,
) -> None:
    client = older_person(v3)
    view = read(v3, HOUSING, client.client_id, Purpose.DIRECT_CARE)
    seen = categories_of(view)
    assert {"housing", "mobility", "equipment", "daily_living", "risk"} <= seen
    assert not seen & {"medication", "mental_health", "physical_health"}
    assert seen <= matrix("housing_officer", Purpose.DIRECT_CARE)
    assert ids_of(view) == policy_ids(v3, client, HOUSING, Purpose.DIRECT_CARE)
    headings = {e["heading"] for e in view["entries"]["items"]}
    assert "Medication administration" not in headings
    # Why not? The same policy answers: need to know, under version 3.
    medication = next(e for e, h in client.entries.items() if h == "Medication administration")
    why = gql_execute(
        v3, v3.token(HOUSING), EXPLAIN, c=client.client_id, e=medication, p="DIRECT_CARE"
    )["explainAccess"]
    assert why["visible"] is False
    assert why["decision"] == {
        "allowed": False,
        "rule": "category-outside-need-to-know",
        "protocolVersion": 3,
    }


def test_the_benefits_officer_sees_finances_not_gp_history_medication_or_wound_care(
    v3: Stack,
) -> None:
    client = older_person(v3)
    view = read(v3, BENEFITS, client.client_id, Purpose.DIRECT_CARE)
    seen = categories_of(view)
    assert "finances" in seen
    assert not seen & {"physical_health", "medication", "mental_health"}
    assert seen <= matrix("benefits_officer", Purpose.DIRECT_CARE)
    assert ids_of(view) == policy_ids(v3, client, BENEFITS, Purpose.DIRECT_CARE)


def test_the_district_nurse_still_sees_medication_and_the_physical_picture(v3: Stack) -> None:
    client = older_person(v3)
    seen = categories_of(read(v3, NURSE, client.client_id, Purpose.DIRECT_CARE))
    assert {"medication", "physical_health", "mobility", "equipment"} <= seen


# --- street triage: the police officer under break-glass -----------------------------------


def in_crisis(stack: Stack) -> ClientFacts:
    now = stack.clock()
    client = register_client(stack.app, GP, given_name="Jordan", family_name="Crisis")
    for person in (MENTAL_HEALTH, PSYCHIATRIST):
        start_relationship(stack.app, client, person)
    for i, (person, heading) in enumerate(
        [
            (PSYCHIATRIST, "Diagnosis"),
            (PSYCHIATRIST, "Treatment"),
            (PSYCHIATRIST, "Crisis plan"),
            (MENTAL_HEALTH, "Crisis plan"),
            (MENTAL_HEALTH, "Risk assessment"),
            (MENTAL_HEALTH, "Mental state"),
            (GP, "Medication review"),
            (GP, "History"),
        ]
    ):
        record(stack.app, client, person, heading, when=now - timedelta(days=20 - i))
    alert = stack.app.raise_alert(
        MENTAL_HEALTH.caller,
        client.client_id,
        kind="risk_to_self",
        severity="high",
        summary="Risk to self when unwell; follow the crisis plan.",
    )
    assert alert.id is not None
    client.entries[alert.id] = "risk_to_self"
    stack.wait_for_views()
    return client


def test_the_police_emergency_view_under_break_glass_holds_the_crisis_plan_not_treatment(
    v3: Stack,
) -> None:
    client = in_crisis(v3)
    grant = gql_execute(v3, v3.token(POLICE), BREAK_GLASS, c=client.client_id)["breakGlass"]
    assert "grantId" in grant, grant
    v3.wait_for_views()
    view = read(v3, POLICE, client.client_id, Purpose.EMERGENCY)
    assert view["basis"] == {"kind": "BREAK_GLASS", "grantId": grant["grantId"]}
    seen = categories_of(view)
    assert {"crisis_plan", "risk"} <= seen
    assert not seen & {"mental_health", "medication", "physical_health"}
    assert seen <= matrix("police_officer", Purpose.EMERGENCY)
    crisis_plans = [e for e in view["entries"]["items"] if e["category"] == "crisis_plan"]
    assert len(crisis_plans) == 2
    assert {e["sharedUnder"]["rule"] for e in crisis_plans} == {"break-glass"}
    treatment = next(e for e, h in client.entries.items() if h == "Treatment")
    assert treatment not in ids_of(view)
    assert [a["alertKind"] for a in view["alerts"]] == ["RISK_TO_SELF"]
    assert ids_of(view) == policy_ids(v3, client, POLICE, Purpose.EMERGENCY)
    # Who to call: the care team's contacts (existence and contact, no content).
    involvement = gql_execute(v3, v3.token(POLICE), INVOLVEMENT, c=client.client_id)
    workers = {
        w["practitionerId"]: w for a in involvement["involvement"]["agencies"] for w in a["workers"]
    }
    assert {MENTAL_HEALTH.practitioner_id, PSYCHIATRIST.practitioner_id} <= set(workers)
    assert all(w["phone"] for w in workers.values())


def test_break_glass_shows_a_paramedic_no_more_than_a_care_relationship_plus_what_it_names(
    v3: Stack,
) -> None:
    client = in_crisis(v3)
    start_relationship(v3.app, client, CHILD_SOCIAL_WORKER)
    record(
        v3.app,
        client,
        CHILD_SOCIAL_WORKER,
        "Family and networks",
        when=v3.clock() - timedelta(days=1),
    )
    grant = gql_execute(v3, v3.token(PARAMEDIC), BREAK_GLASS, c=client.client_id)["breakGlass"]
    assert "grantId" in grant, grant
    v3.wait_for_views()
    view = read(v3, PARAMEDIC, client.client_id, Purpose.EMERGENCY)
    seen = categories_of(view)
    named = set(V3["break_glass"]["reach"][0]["categories"]) | set(
        V3["break_glass"]["reach"][1]["categories"]
    )
    assert {"crisis_plan", "medication", "physical_health"} <= seen
    # The council's family note (no consent): not under break-glass, as not with a
    # care relationship. Nor the treatment notes: outside the emergency matrix.
    assert "carers_and_family" not in seen
    assert "mental_health" not in seen
    assert seen <= named
    assert ids_of(view) == policy_ids(v3, client, PARAMEDIC, Purpose.EMERGENCY)


# --- children with disabilities: the virtual team --------------------------------------------

TEAM = (SPEECH, OT, PHYSIO, CHILD_SOCIAL_WORKER, TEACHER, ED_PSYCH, NURSE)
CHILD_ENTRIES = (
    (GP, "History"),
    (GP, "Medication review"),
    (SPEECH, "Communication assessment"),
    (SPEECH, "Eating and drinking"),
    (OT, "Equipment"),
    (OT, "Transfers and mobility"),
    (PHYSIO, "Treatment plan"),
    (CHILD_SOCIAL_WORKER, "Needs assessment"),
    (CHILD_SOCIAL_WORKER, "Family and networks"),
    (CHILD_SOCIAL_WORKER, "Finances"),
    (TEACHER, "Learning needs"),
    (TEACHER, "Communication in class"),
    (ED_PSYCH, "Cognitive assessment"),
    (ED_PSYCH, "Recommendations"),
    (NURSE, "Medication administration"),
    (NURSE, "Nutrition and hydration"),
)


@pytest.fixture(scope="module")
def child(v3: Stack) -> ClientFacts:
    now = v3.clock()
    client = register_client(v3.app, GP, given_name="Leo", family_name="Team")
    for person in TEAM:
        start_relationship(v3.app, client, person)
    for i, (person, heading) in enumerate(CHILD_ENTRIES):
        record(v3.app, client, person, heading, when=now - timedelta(days=40 - i))
    v3.app.record_consent(
        GP.caller,
        client.client_id,
        decision="granted",
        everyone=True,
        purposes=["direct_care"],
        given_by="parent",
        representative_name="A parent",
    )
    v3.wait_for_views()
    return client


@pytest.mark.parametrize("person", TEAM, ids=lambda p: p.profession)
def test_each_profession_of_the_childs_team_sees_what_the_protocol_says_and_nothing_else(
    v3: Stack, child: ClientFacts, person: Person
) -> None:
    categories = {
        heading: V3["professions"][p.profession]["headings"][heading]
        for p, heading in CHILD_ENTRIES
    }
    present = set(categories.values())
    view = read(v3, person, child.client_id, Purpose.DIRECT_CARE)
    # Every entry here is of normal sensitivity, unrestricted, consented to for direct
    # care: the matrix is all that narrows the slice.
    assert categories_of(view) == present & matrix(person.profession, Purpose.DIRECT_CARE)
    assert ids_of(view) == policy_ids(v3, child, person, Purpose.DIRECT_CARE)


def test_the_childs_team_slices_differ_as_the_matrix_says(v3: Stack, child: ClientFacts) -> None:
    seen = {
        p.profession: categories_of(read(v3, p, child.client_id, Purpose.DIRECT_CARE))
        for p in (TEACHER, ED_PSYCH, NURSE)
    }
    assert "medication" in seen["district_nurse"]
    assert "medication" not in seen["teacher"]
    assert "physical_health" not in seen["educational_psychologist"]
    assert "education" in seen["teacher"]
    assert "education" in seen["educational_psychologist"]
