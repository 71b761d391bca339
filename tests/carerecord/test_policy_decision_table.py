"""The sharing policy's decision table.

1. A hand-written golden table of key cases, each with the outcome and the rule that
   decides it, taken from the BRIEF and the protocol document (not from the code).
2. Every profession (and agency system) x category x sensitivity x consent state x
   relationship x purpose the protocol defines, checked against the independent oracle
   in ``policy_oracle.py`` (and the oracle itself checked against the golden table).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from policy_cases import (
    CARE,
    NONE,
    NOW,
    SELF,
    agency_system,
    audience,
    break_glass,
    consent,
    contributor_for,
    decided,
    document,
    entry,
    granted,
    practitioner,
    protocol,
    refused,
    sealed,
    state,
    the_client,
    withdrawn_state,
)
from policy_oracle import Case, Expected, Oracle

from carerecord.policy import SharingState, ViewerRelationship
from carerecord.values import Labels, Restriction, Viewer
from carerecord.vocab import (
    ConsentDecisionKind,
    LawfulBasis,
    Purpose,
    RestrictionRequester,
    Role,
    Sector,
    Sensitivity,
)

HEALTH, SOCIAL_CARE, POLICE_SECTOR, HOUSING = (
    Sector.HEALTH,
    Sector.SOCIAL_CARE,
    Sector.POLICE,
    Sector.HOUSING,
)
DIRECT, SAFEGUARD, EMERGENCY, AUDIT, SUBJECT = (
    Purpose.DIRECT_CARE,
    Purpose.SAFEGUARDING,
    Purpose.EMERGENCY,
    Purpose.AUDIT,
    Purpose.SUBJECT_ACCESS,
)
NORMAL, SENSITIVE, RESTRICTED = Sensitivity.NORMAL, Sensitivity.SENSITIVE, Sensitivity.RESTRICTED


@dataclass(frozen=True)
class Golden:
    says: str
    viewer: Viewer
    purpose: Purpose
    labels: Labels
    allowed: bool
    rule: str
    state: SharingState = field(default_factory=SharingState)
    relationship: ViewerRelationship | None = None
    version: int = 1
    redactions: frozenset[str] | None = None
    now: datetime | None = NOW


GP_SOUTH = practitioner("gp", "gp-south")
GP_NORTH_PARTNER = practitioner("gp", "gp-north", practitioner_id="gp-partner")
NURSE_IN_PRACTICE = practitioner("district_nurse", "gp-north")
HOUSING_OFFICER = practitioner("housing_officer", "housing")
POLICE_OFFICER = practitioner("police_officer", "police")
SOCIAL_WORKER = practitioner("social_worker", "adult-care")
CHILD_SOCIAL_WORKER = practitioner("social_worker", "children-north")
DISTRICT_NURSE = practitioner("district_nurse", "community-health")
PSYCHIATRIST = practitioner("psychiatrist", "mh-trust")
PARAMEDIC = practitioner("paramedic", "ambulance")
TEACHER = practitioner("teacher", "school")
HEALTH_VISITOR = practitioner("health_visitor", "community-health")
SUPPORT_WORKER = practitioner("support_worker", "charity")
AUDITOR = practitioner("gp", "gp-south", Role.AUDITOR, practitioner_id="auditor")
IG_OFFICER = practitioner("social_worker", "adult-care", Role.IG_OFFICER, practitioner_id="ig")
HOUSING_SAFEGUARDING_LEAD = practitioner(
    "housing_officer", "housing", Role.SAFEGUARDING_LEAD, practitioner_id="housing-lead"
)
GP_PRACTICE_SYSTEM = agency_system("gp-south")

BENEFITS_OFFICER = practitioner("benefits_officer", "housing")
GP_HISTORY = entry("physical_health", by="gp", agency="gp-north")
NURSE_MEDICATION = entry("medication", by="district_nurse", agency="community-health")
OT_EQUIPMENT = entry("equipment", by="occupational_therapist", agency="community-health")
PSYCHIATRIC_TREATMENT = entry(
    "mental_health", by="psychiatrist", agency="mh-trust", heading="Treatment"
)
CRISIS_PLAN = entry(
    "crisis_plan",
    by="mental_health_practitioner",
    agency="mh-trust",
    heading="Crisis plan",
    sensitivity=Sensitivity.NORMAL,
)
FAMILY_CASE_NOTE = entry("carers_and_family", by="social_worker", agency="children-north")
MENTAL_STATE = entry("mental_health", by="mental_health_practitioner", agency="mh-trust")
GP_SAFEGUARDING = entry("safeguarding", by="gp", agency="gp-north", basis=LawfulBasis.SAFEGUARDING)
GP_SEXUAL_HEALTH = entry("sexual_health", by="gp", agency="gp-north")

GOLDEN: list[Golden] = [
    # Curate, don't integrate: another practice's patients only for care, by implied consent.
    Golden("a GP sees another practice's entry for direct care by implied consent",
           GP_SOUTH, DIRECT, GP_HISTORY, True, "implied-consent", redactions=frozenset()),
    Golden("a GP without a relationship sees nothing of another practice's patient (no browsing)",
           GP_SOUTH, DIRECT, GP_HISTORY, False, "no-relationship", relationship=NONE),
    Golden("a refusal beats implied consent",
           GP_SOUTH, DIRECT, GP_HISTORY, False, "consent-refused", state(refused())),
    Golden("a refusal scoped to housing does not stop a GP",
           GP_SOUTH, DIRECT, GP_HISTORY, True, "implied-consent",
           state(refused(to=audience(sectors=(HOUSING,))))),
    Golden("a refusal of one category leaves the others to implied consent",
           GP_SOUTH, DIRECT, GP_HISTORY, True, "implied-consent",
           state(refused(categories=frozenset({"mental_health"})))),
    Golden("implied consent does not reach social care",
           SOCIAL_WORKER, DIRECT, GP_HISTORY, False, "no-consent"),
    Golden("a social worker sees a GP's entry with the client's consent",
           SOCIAL_WORKER, DIRECT, GP_HISTORY, True, "consent", state(granted())),
    Golden("a consent that expired no longer shares",
           SOCIAL_WORKER, DIRECT, GP_HISTORY, False, "no-consent",
           state(granted(decided_at=NOW - timedelta(days=400),
                         expires_at=NOW - timedelta(days=1)))),
    Golden("a withdrawn consent no longer shares",
           SOCIAL_WORKER, DIRECT, GP_HISTORY, False, "no-consent", withdrawn_state()),
    Golden("a consent for emergencies only does not open direct care",
           SOCIAL_WORKER, DIRECT, GP_HISTORY, False, "no-consent",
           state(granted(purposes=frozenset({EMERGENCY})))),
    Golden("a consent for another category does not cover this one",
           SOCIAL_WORKER, DIRECT, GP_HISTORY, False, "no-consent",
           state(granted(categories=frozenset({"medication"})))),
    Golden("a consent naming the social care sector covers a social worker",
           SOCIAL_WORKER, DIRECT, GP_HISTORY, True, "consent",
           state(granted(to=audience(sectors=(SOCIAL_CARE,))))),
    Golden("a consent naming one council covers only that council",
           CHILD_SOCIAL_WORKER, DIRECT, GP_HISTORY, False, "no-consent",
           state(granted(to=audience(agencies=("adult-care",))))),
    Golden("a legal obligation shares with social care without consent",
           SOCIAL_WORKER, DIRECT,
           entry("physical_health", by="gp", basis=LawfulBasis.LEGAL_OBLIGATION),
           True, "lawful-basis"),
    # Sensitive categories reach only the audiences the protocol names.
    Golden("a housing officer never sees mental health, even with consent",
           HOUSING_OFFICER, DIRECT, MENTAL_STATE, False, "sensitive-audience", state(granted())),
    Golden("a housing officer never sees mental health, even under a safeguarding basis",
           HOUSING_OFFICER, DIRECT,
           entry("mental_health", by="mental_health_practitioner", agency="mh-trust",
                 basis=LawfulBasis.SAFEGUARDING),
           False, "sensitive-audience", state(granted())),
    Golden("a housing officer may not read for safeguarding without the lead role",
           HOUSING_OFFICER, SAFEGUARD, GP_SAFEGUARDING, False, "purpose-not-permitted"),
    Golden("a housing safeguarding lead reads a safeguarding concern under its basis",
           HOUSING_SAFEGUARDING_LEAD, SAFEGUARD, GP_SAFEGUARDING, True, "lawful-basis"),
    Golden("a police officer in an emergency needs a basis or consent for mental health",
           POLICE_OFFICER, EMERGENCY, MENTAL_STATE, False, "no-consent"),
    Golden("a police officer in an emergency sees mental health shared for vital interests",
           POLICE_OFFICER, EMERGENCY,
           entry("mental_health", by="mental_health_practitioner", agency="mh-trust",
                 basis=LawfulBasis.VITAL_INTERESTS),
           True, "lawful-basis", redactions=frozenset({"author", "heading"})),
    Golden("a police officer in an emergency sees mental health with consent, redacted",
           POLICE_OFFICER, EMERGENCY, MENTAL_STATE, True, "consent", state(granted()),
           redactions=frozenset({"author", "heading"})),
    Golden("a police officer does not see mental health for direct care, even with consent",
           POLICE_OFFICER, DIRECT, MENTAL_STATE, False, "sensitive-audience", state(granted())),
    Golden("street triage: a police officer's active break-glass shares mental health",
           POLICE_OFFICER, EMERGENCY, MENTAL_STATE, True, "break-glass",
           relationship=break_glass(POLICE_OFFICER)),
    Golden("break-glass does not override the client's refusal (protocol v1)",
           POLICE_OFFICER, EMERGENCY, MENTAL_STATE, False, "consent-refused", state(refused()),
           relationship=break_glass(POLICE_OFFICER)),
    Golden("expired break-glass shares nothing",
           POLICE_OFFICER, EMERGENCY, MENTAL_STATE, False, "break-glass-expired",
           relationship=break_glass(POLICE_OFFICER, active=False)),
    Golden("break-glass is for the emergency purpose only",
           POLICE_OFFICER, DIRECT, MENTAL_STATE, False, "break-glass-purpose",
           relationship=break_glass(POLICE_OFFICER)),
    Golden("the emergency view does not reach housing under protocol v1",
           POLICE_OFFICER, EMERGENCY, entry("housing", by="housing_officer", agency="housing"),
           False, "category-outside-purpose", relationship=break_glass(POLICE_OFFICER)),
    Golden("the emergency view reaches housing under protocol v2",
           POLICE_OFFICER, EMERGENCY, entry("housing", by="housing_officer", agency="housing"),
           True, "break-glass", relationship=break_glass(POLICE_OFFICER), version=2),
    Golden("a paramedic in an emergency relies on implied consent, the heading withheld",
           PARAMEDIC, EMERGENCY, GP_HISTORY, True, "implied-consent",
           redactions=frozenset({"heading"})),
    Golden("a police officer in an emergency has no implied consent",
           POLICE_OFFICER, EMERGENCY, GP_HISTORY, False, "no-consent"),
    Golden("a health visitor may not read for emergencies",
           HEALTH_VISITOR, EMERGENCY, GP_HISTORY, False, "purpose-not-permitted"),
    # Safeguarding bases and refusals.
    Golden("a safeguarding basis overrides a refusal for a social worker reading for safeguarding",
           SOCIAL_WORKER, SAFEGUARD, GP_SAFEGUARDING, True, "lawful-basis", state(refused())),
    Golden("without that basis the refusal stands",
           SOCIAL_WORKER, SAFEGUARD, entry("safeguarding", by="gp"), False, "consent-refused",
           state(refused())),
    Golden("a safeguarding basis does not reach direct care",
           SOCIAL_WORKER, DIRECT, GP_SAFEGUARDING, False, "consent-refused", state(refused())),
    Golden("a restriction beats a safeguarding basis",
           SOCIAL_WORKER, SAFEGUARD, GP_SAFEGUARDING, False, "restricted-by-request",
           state(sealed(category="safeguarding", hidden_from=audience(sectors=(SOCIAL_CARE,))))),
    Golden("a restriction does not hide an entry from the contributing agency",
           GP_NORTH_PARTNER, DIRECT, GP_SAFEGUARDING, True, "own-agency",
           state(sealed(category="safeguarding"), refused())),
    Golden("a contributor's seal on one entry hides it from other practices",
           GP_SOUTH, DIRECT, GP_HISTORY, False, "restricted-by-request",
           state(sealed(entry_id="entry-1", requested_by=RestrictionRequester.CONTRIBUTOR))),
    Golden("a seal from the police leaves a GP unaffected",
           GP_SOUTH, DIRECT, GP_HISTORY, True, "implied-consent",
           state(sealed(entry_id="entry-1", hidden_from=audience(agencies=("police",))))),
    Golden("a seal on another entry leaves this one unaffected",
           GP_SOUTH, DIRECT, GP_HISTORY, True, "implied-consent",
           state(sealed(entry_id="entry-2"))),
    # Restricted entries stay in the contributing agency.
    Golden("a restricted sexual-health entry reaches a GP partner in the same practice",
           GP_NORTH_PARTNER, DIRECT, GP_SEXUAL_HEALTH, True, "own-agency"),
    Golden("a restricted entry never leaves the practice, even with consent",
           GP_SOUTH, DIRECT, GP_SEXUAL_HEALTH, False, "restricted-sensitivity", state(granted())),
    Golden("inside the practice a restricted entry reaches only the named professions",
           NURSE_IN_PRACTICE, DIRECT, GP_SEXUAL_HEALTH, False, "restricted-sensitivity"),
    Golden("a restricted risk entry reaches only its author's profession in the trust",
           PSYCHIATRIST, DIRECT,
           entry("risk", by="mental_health_practitioner", agency="mh-trust",
                 sensitivity=RESTRICTED),
           False, "restricted-sensitivity"),
    Golden("a sensitive entry reaches the named professions in the same trust",
           PSYCHIATRIST, DIRECT, MENTAL_STATE, True, "own-agency"),
    Golden("substance use reaches a social worker with consent",
           SOCIAL_WORKER, DIRECT, entry("substance_use", by="gp"), True, "consent",
           state(granted())),
    Golden("substance use does not reach a district nurse, even with consent",
           DISTRICT_NURSE, DIRECT, entry("substance_use", by="gp"), False, "sensitive-audience",
           state(granted())),
    Golden("support workers do not see mental health under protocol v1",
           SUPPORT_WORKER, DIRECT, MENTAL_STATE, False, "sensitive-audience", state(granted())),
    Golden("support workers see mental health with consent under protocol v2",
           SUPPORT_WORKER, DIRECT, MENTAL_STATE, True, "consent", state(granted()), version=2),
    Golden("a teacher sees a speech therapist's assessment with consent to education",
           TEACHER, DIRECT, entry("communication", by="speech_and_language_therapist",
                                  agency="community-health"),
           True, "consent", state(granted(to=audience(sectors=(Sector.EDUCATION,))))),
    # The person's own record.
    Golden("the client sees their own record, sealed entries included",
           the_client(), SUBJECT, GP_SEXUAL_HEALTH, True, "subject-access",
           state(sealed(category="sexual_health"), refused()), relationship=SELF),
    Golden("subject access withholds an entry under a lawful exemption",
           the_client(), SUBJECT, entry("physical_health", by="gp", exemption="serious_harm"),
           False, "exempt-from-subject-access", relationship=SELF),
    Golden("another client cannot use subject access on this record",
           the_client("someone-else"), SUBJECT, GP_HISTORY, False, "subject-access-self-only",
           relationship=NONE),
    Golden("a practitioner cannot use subject access",
           GP_SOUTH, SUBJECT, GP_HISTORY, False, "subject-access-self-only"),
    Golden("a client reads through subject access only",
           the_client(), DIRECT, GP_HISTORY, False, "purpose-not-permitted", relationship=SELF),
    # Auditors.
    Golden("an auditor reads anything for audit, without a relationship",
           AUDITOR, AUDIT, GP_SEXUAL_HEALTH, True, "audit", state(refused()), relationship=NONE),
    Golden("an information-governance officer reads for audit",
           IG_OFFICER, AUDIT, MENTAL_STATE, True, "audit", relationship=NONE),
    Golden("a practitioner without an audit role may not read for audit",
           GP_SOUTH, AUDIT, GP_HISTORY, False, "audit-role-required"),
    Golden("an auditor reads only through the audit purpose",
           AUDITOR, DIRECT, GP_HISTORY, False, "no-relationship", relationship=NONE),
    # Agency systems.
    Golden("a practice's system reads another practice's entry by implied consent",
           GP_PRACTICE_SYSTEM, DIRECT, GP_HISTORY, True, "implied-consent"),
    Golden("an agency system may not read for emergencies",
           GP_PRACTICE_SYSTEM, EMERGENCY, GP_HISTORY, False, "purpose-not-permitted"),
    Golden("an agency system is not an audience for its own agency's sensitive entries",
           agency_system("mh-trust"), DIRECT, MENTAL_STATE, False, "sensitive-audience"),
    Golden("a projection-time decision ignores break-glass expiry (the read re-checks)",
           POLICE_OFFICER, EMERGENCY, MENTAL_STATE, True, "break-glass",
           relationship=break_glass(POLICE_OFFICER, active=False), now=None),
    Golden("a projection-time decision does not apply a refusal that lapses (the read does)",
           GP_SOUTH, DIRECT, GP_HISTORY, True, "implied-consent",
           state(refused(expires_at=NOW + timedelta(days=30))), now=None),
    # Version 3: need to know (the matrix), the crisis plan, break-glass bounded.
    Golden("v3: a housing officer never reaches medication, even with consent",
           HOUSING_OFFICER, DIRECT, NURSE_MEDICATION, False, "category-outside-need-to-know",
           state(granted()), version=3),
    Golden("v2: without a matrix a housing officer with consent sees medication (old meaning)",
           HOUSING_OFFICER, DIRECT, NURSE_MEDICATION, True, "consent", state(granted()),
           version=2),
    Golden("v3: a housing officer with consent sees equipment and adaptations",
           HOUSING_OFFICER, DIRECT, OT_EQUIPMENT, True, "consent", state(granted()), version=3),
    Golden("v3: a benefits officer never reaches a GP's history",
           BENEFITS_OFFICER, DIRECT, GP_HISTORY, False, "category-outside-need-to-know",
           state(granted()), version=3),
    Golden("v3: a district nurse reaches medication (her agency's own entry)",
           DISTRICT_NURSE, DIRECT, NURSE_MEDICATION, True, "own-agency", version=3),
    Golden("v3: a GP reaches every category (the whole medical record is meant)",
           GP_SOUTH, DIRECT, NURSE_MEDICATION, True, "implied-consent", version=3),
    Golden("v3: a teacher never reaches medication",
           TEACHER, DIRECT, NURSE_MEDICATION, False, "category-outside-need-to-know",
           state(granted()), version=3),
    Golden("v3: in an emergency the police never reach a psychiatric treatment note",
           POLICE_OFFICER, EMERGENCY, PSYCHIATRIC_TREATMENT, False,
           "category-outside-need-to-know", state(granted()), version=3),
    Golden("v3: under break-glass the police see the crisis plan without consent",
           POLICE_OFFICER, EMERGENCY, CRISIS_PLAN, True, "break-glass",
           relationship=break_glass(POLICE_OFFICER), version=3),
    Golden("v3: under break-glass the police still never see treatment notes",
           POLICE_OFFICER, EMERGENCY, PSYCHIATRIC_TREATMENT, False,
           "category-outside-need-to-know", relationship=break_glass(POLICE_OFFICER),
           version=3),
    Golden("v3: break-glass does not open a council's family note without consent",
           PARAMEDIC, EMERGENCY, FAMILY_CASE_NOTE, False, "no-consent",
           relationship=break_glass(PARAMEDIC), version=3),
    Golden("v3: with a care relationship the same family note stays closed",
           PARAMEDIC, EMERGENCY, FAMILY_CASE_NOTE, False, "no-consent", version=3),
    Golden("v2: break-glass is a basis for every emergency category (old meaning)",
           PARAMEDIC, EMERGENCY, FAMILY_CASE_NOTE, True, "break-glass",
           relationship=break_glass(PARAMEDIC), version=2),
    Golden("v3: break-glass opens medication to a paramedic (named for clinicians)",
           PARAMEDIC, EMERGENCY, NURSE_MEDICATION, True, "break-glass",
           relationship=break_glass(PARAMEDIC), version=3),
    Golden("v3: a purpose without a matrix is unchanged (safeguarding reaches everything)",
           SOCIAL_WORKER, SAFEGUARD, NURSE_MEDICATION, False, "no-consent", version=3),
    Golden("v3: an agency system reaches every category for direct care",
           GP_PRACTICE_SYSTEM, DIRECT, NURSE_MEDICATION, True, "implied-consent", version=3),
    Golden("a projection-time decision applies a refusal that never lapses",
           GP_SOUTH, DIRECT, GP_HISTORY, False, "consent-refused", state(refused()), now=None),
]  # fmt: skip


def case_of(golden: Golden) -> Case:
    return Case(
        viewer=golden.viewer,
        purpose=golden.purpose,
        labels=golden.labels,
        state=golden.state,
        relationship=golden.relationship or CARE,
        now=golden.now,
    )


def test_the_golden_table_has_the_key_cases() -> None:
    assert len(GOLDEN) >= 40
    assert len({g.says for g in GOLDEN}) == len(GOLDEN)
    assert {g.allowed for g in GOLDEN} == {True, False}


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda g: g.says)
def test_the_policy_decides_each_golden_case_as_the_protocol_says(golden: Golden) -> None:
    case = case_of(golden)
    decision = decided(
        case.viewer,
        case.purpose,
        case.labels,
        case.state,
        case.relationship,
        protocol(golden.version),
        case.now,
    )
    assert (decision.allowed, decision.rule) == (golden.allowed, golden.rule)
    assert decision.protocol_version == golden.version
    assert decision.reason
    if golden.redactions is not None:
        assert decision.redactions == golden.redactions
    if not decision.allowed:
        assert decision.basis is None


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda g: g.says)
def test_the_oracle_agrees_with_each_golden_case(golden: Golden) -> None:
    expected = Oracle(document(golden.version)).expect(case_of(golden))
    assert (expected.allowed, expected.rule) == (golden.allowed, golden.rule)


# --- the exhaustive table ------------------------------------------------------------------

CONSENT_STATES = {
    "none": lambda category: SharingState(),
    "granted in scope": lambda category: state(granted()),
    "granted out of scope": lambda category: state(
        granted(categories=frozenset(document(1)["categories"]) - {category})
    ),
    "refused in scope": lambda category: state(refused()),
    "withdrawn": lambda category: withdrawn_state(),
    "expired": lambda category: state(
        granted(decided_at=NOW - timedelta(days=400), expires_at=NOW - timedelta(days=30))
    ),
    "refusal expired": lambda category: state(
        refused(decided_at=NOW - timedelta(days=400), expires_at=NOW - timedelta(days=30))
    ),
}


def viewers(version: int) -> Iterator[Viewer]:
    """Every profession (in an agency of its own sector) and an agency system per sector."""
    for profession, body in document(version)["professions"].items():
        yield practitioner(profession, "viewer-agency", sector=Sector(body["sector"]))
    for sector in Sector:
        yield agency_system("viewer-agency", sector)


def standings(viewer: Viewer) -> dict[str, ViewerRelationship]:
    found = {"care": CARE, "none": NONE}
    if viewer.practitioner_id is not None:  # only practitioners can break glass
        found["break-glass active"] = break_glass(viewer)
        found["break-glass expired"] = break_glass(viewer, active=False)
    return found


def sweep(
    version: int,
    cases: Iterable[tuple[str, Case]],
) -> tuple[int, list[str]]:
    oracle = Oracle(document(version))
    rules = protocol(version)
    count, mismatches = 0, []
    for label, case in cases:
        count += 1
        got = decided(
            case.viewer, case.purpose, case.labels, case.state, case.relationship, rules, case.now
        )
        want: Expected = oracle.expect(case)
        if (got.allowed, got.rule, got.basis, got.redactions) != (
            want.allowed,
            want.rule,
            want.basis,
            want.redactions,
        ):
            mismatches.append(f"{label}: policy {got.rule}/{got.allowed}, oracle {want}")
    return count, mismatches


def full_table(version: int, *, same_agency: bool) -> Iterator[tuple[str, Case]]:
    categories = list(document(version)["categories"])
    for viewer, category, sensitivity, (consent_label, make_state), purpose in itertools.product(
        list(viewers(version)), categories, Sensitivity, CONSENT_STATES.items(), Purpose
    ):
        profession, heading = contributor_for(category, version)
        labels = entry(
            category,
            by=profession,
            heading=heading,
            agency="viewer-agency" if same_agency else "contributor-agency",
            sensitivity=sensitivity,
        )
        sharing = make_state(category)
        for relationship_label, relationship in standings(viewer).items():
            label = (
                f"v{version} {viewer.profession}@{viewer.sector} {purpose.value} "
                f"{category}/{sensitivity.value} by {profession} consent={consent_label} "
                f"standing={relationship_label}"
            )
            yield label, Case(viewer, purpose, labels, sharing, relationship, NOW)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_every_profession_category_sensitivity_consent_standing_and_purpose_matches_the_oracle(
    version: int,
) -> None:
    count, mismatches = sweep(version, full_table(version, same_agency=False))
    professions = len(document(version)["professions"]) + len(Sector)
    categories = len(document(version)["categories"])
    assert count >= professions * categories * 3 * 7 * 2 * 5
    assert not mismatches, f"{len(mismatches)} of {count} differ:\n" + "\n".join(mismatches[:20])


def test_inside_the_contributing_agency_every_case_matches_the_oracle() -> None:
    count, mismatches = sweep(1, full_table(1, same_agency=True))
    assert count > 100_000
    assert not mismatches, f"{len(mismatches)} of {count} differ:\n" + "\n".join(mismatches[:20])


ROLE_VIEWERS = [
    practitioner(p, "viewer-agency", role, sector=s)
    for role in (Role.SAFEGUARDING_LEAD, Role.AUDITOR, Role.IG_OFFICER)
    for p, s in (
        ("gp", HEALTH),
        ("housing_officer", HOUSING),
        ("teacher", Sector.EDUCATION),
        ("police_officer", POLICE_SECTOR),
        ("support_worker", Sector.VOLUNTARY),
    )
]

RESTRICTIONS = {
    "none": (),
    "category from everyone": (sealed(category="CATEGORY"),),
    "entry from the viewer's sector": (
        sealed(entry_id="entry-1", hidden_from=audience(sectors=tuple(Sector))),
    ),
    "entry from another agency": (
        sealed(entry_id="entry-1", hidden_from=audience(agencies=("elsewhere",))),
    ),
    "entry from the viewer's profession": (
        sealed(
            entry_id="entry-1",
            hidden_from=audience(professions=("PROFESSION",)),
            requested_by=RestrictionRequester.CONTRIBUTOR,
        ),
    ),
}


# One category of each kind: normal health, sensitive with a purpose-limited audience,
# sensitive with a role audience, restricted, outside the emergency view, police-only.
BASIS_CATEGORIES = (
    "physical_health",
    "mental_health",
    "safeguarding",
    "sexual_health",
    "housing",
    "offending",
)


def sealing(label: str, viewer: Viewer, category: str) -> tuple[Restriction, ...]:
    """The restrictions named by ``label``, aimed at this viewer and category."""
    return tuple(
        sealed(
            entry_id=r.entry_id,
            category=category if r.category == "CATEGORY" else None,
            hidden_from=audience(professions=(str(viewer.profession),))
            if "PROFESSION" in r.hidden_from.professions
            else r.hidden_from,
            requested_by=r.requested_by,
        )
        for r in RESTRICTIONS[label]
    )


def bases_roles_and_restrictions() -> Iterator[tuple[str, Case]]:
    consents = {
        "none": (),
        "granted": (consent(ConsentDecisionKind.GRANTED),),
        "refused": (consent(ConsentDecisionKind.REFUSED),),
    }
    for viewer in [*viewers(1), *ROLE_VIEWERS]:
        roles = sorted(r.value for r in viewer.roles)
        relationships = standings(viewer)
        for category, restriction_label in itertools.product(BASIS_CATEGORIES, RESTRICTIONS):
            restrictions = sealing(restriction_label, viewer, category)
            for basis, consent_label in itertools.product(LawfulBasis, consents):
                sharing = SharingState(consents[consent_label], restrictions)
                labels = entry(category, agency="contributor-agency", basis=basis)
                for purpose, (standing, relationship) in itertools.product(
                    Purpose, relationships.items()
                ):
                    label = (
                        f"{viewer.profession}{roles} {purpose.value} {category} "
                        f"basis={basis.value} sealed={restriction_label} "
                        f"consent={consent_label} standing={standing}"
                    )
                    yield label, Case(viewer, purpose, labels, sharing, relationship, NOW)


def test_lawful_bases_roles_and_restrictions_match_the_oracle() -> None:
    count, mismatches = sweep(1, bases_roles_and_restrictions())
    assert count > 100_000
    assert not mismatches, f"{len(mismatches)} of {count} differ:\n" + "\n".join(mismatches[:20])


def test_the_client_and_subject_access_exemptions_match_the_oracle() -> None:
    def cases() -> Iterator[tuple[str, Case]]:
        exemptions = [None, *document(1)["subject_access_exemptions"]]
        for category, sensitivity, exemption, purpose, (
            who,
            relationship,
        ), consent_label in itertools.product(
            document(1)["categories"],
            Sensitivity,
            exemptions,
            Purpose,
            (("self", SELF), ("another client", NONE)),
            CONSENT_STATES,
        ):
            viewer = the_client() if who == "self" else the_client("another")
            labels = entry(category, sensitivity=sensitivity, exemption=exemption)
            label = f"client {who} {purpose.value} {category}/{sensitivity.value} {exemption}"
            sharing = CONSENT_STATES[consent_label](category)
            yield label, Case(viewer, purpose, labels, sharing, relationship, NOW)

    count, mismatches = sweep(1, cases())
    assert count > 5_000
    assert not mismatches, "\n".join(mismatches[:20])
