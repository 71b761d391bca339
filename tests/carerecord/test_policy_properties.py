"""Properties of the sharing policy that must hold for any viewer, entry and record state."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from policy_cases import (
    NOW,
    agency_system,
    audience,
    break_glass,
    consent,
    decided,
    document,
    entry,
    practitioner,
    protocol,
    sealed,
    the_client,
)
from policy_oracle import Case, Oracle

from carerecord.policy import (
    CARE,
    NO_RELATIONSHIP,
    SELF,
    Decision,
    SharingState,
    ViewerRelationship,
    consent_coverage,
    decide_many,
    decision_key,
    entry_key,
    viewer_key,
)
from carerecord.values import ConsentDecision, ConsentScope, Labels, Restriction, Viewer
from carerecord.vocab import (
    ConsentDecisionKind,
    LawfulBasis,
    Purpose,
    RelationshipKind,
    RestrictionRequester,
    Role,
    Sector,
    Sensitivity,
    ViewerKind,
)

PROTOCOL_VERSIONS = (1, 2, 3)
# Version 3's taxonomy is version 1's and 2's plus the crisis plan; an entry of a
# category a version does not define still gets a decision (deny, or "*" rules).
CATEGORIES = sorted(document(3)["categories"])
PROFESSIONS = sorted(document(3)["professions"])
AGENCIES = ("gp-north", "mh-trust", "adult-care", "police", "housing", "school", "charity")
EXEMPTIONS = sorted(document(1)["subject_access_exemptions"])
CONSENTABLE = (Purpose.DIRECT_CARE, Purpose.SAFEGUARDING, Purpose.EMERGENCY)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def viewers(draw: st.DrawFn) -> Viewer:
    kind = draw(st.sampled_from(["practitioner"] * 8 + ["agency_system", "client"]))
    agency = draw(st.sampled_from(AGENCIES))
    if kind == "client":
        return the_client()
    if kind == "agency_system":
        return agency_system(agency, draw(st.sampled_from(list(Sector))))
    roles = draw(st.frozensets(st.sampled_from(list(Role)), max_size=2))
    return practitioner(draw(st.sampled_from(PROFESSIONS)), agency, *roles)


@st.composite
def entries(draw: st.DrawFn) -> Labels:
    profession = draw(st.sampled_from(PROFESSIONS))
    return Labels(
        entry_id=draw(st.sampled_from(["entry-1", "entry-2"])),
        agency_id=draw(st.sampled_from(AGENCIES)),
        sector=draw(st.sampled_from(list(Sector))),
        author_id=f"{profession}-author",
        profession=profession,
        category=draw(st.sampled_from(CATEGORIES)),
        heading="Notes",
        sensitivity=draw(st.sampled_from([Sensitivity.NORMAL, *Sensitivity])),
        lawful_basis=draw(st.sampled_from(list(LawfulBasis))),
        occurred_at=NOW - timedelta(days=2),
        subject_access_exemption=draw(st.none() | st.sampled_from(EXEMPTIONS)),
    )


audiences = st.builds(
    lambda everyone, agencies, sectors, professions: audience(
        everyone=everyone, agencies=agencies, sectors=sectors, professions=professions
    ),
    st.booleans(),
    st.lists(st.sampled_from(AGENCIES), max_size=2).map(tuple),
    st.lists(st.sampled_from(list(Sector)), max_size=2).map(tuple),
    st.lists(st.sampled_from([*PROFESSIONS, "agency_system"]), max_size=2).map(tuple),
)


@st.composite
def consents(draw: st.DrawFn, decision: ConsentDecisionKind | None = None) -> ConsentDecision:
    decided = NOW - timedelta(days=draw(st.integers(0, 800)))
    expiry = draw(st.none() | st.integers(1, 900).map(lambda d: decided + timedelta(days=d)))
    return consent(
        decision or draw(st.sampled_from(list(ConsentDecisionKind))),
        categories=draw(st.none() | st.frozensets(st.sampled_from(CATEGORIES), min_size=1)),
        purposes=draw(st.none() | st.frozensets(st.sampled_from(CONSENTABLE), min_size=1)),
        to=draw(audiences),
        decided_at=decided,
        expires_at=expiry,
        consent_id=f"consent-{draw(st.integers(0, 10_000))}",
    )


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    on_entry = draw(st.booleans())
    return sealed(
        entry_id=draw(st.sampled_from(["entry-1", "entry-2"])) if on_entry else None,
        category=None if on_entry else draw(st.sampled_from(CATEGORIES)),
        hidden_from=draw(audiences),
        requested_by=draw(st.sampled_from(list(RestrictionRequester))),
        restriction_id=f"restriction-{draw(st.integers(0, 10_000))}",
    )


@st.composite
def sharing_states(draw: st.DrawFn) -> SharingState:
    return SharingState(
        consents=tuple(draw(st.lists(consents(), max_size=3))),
        restrictions=tuple(draw(st.lists(restrictions(), max_size=2))),
    )


@st.composite
def standings(draw: st.DrawFn, viewer: Viewer) -> ViewerRelationship:
    # Weighted towards a care relationship: most of the policy lies behind it.
    options: list[ViewerRelationship] = [CARE, CARE, CARE, NO_RELATIONSHIP, SELF]
    if viewer.kind is ViewerKind.PRACTITIONER:
        options += [
            break_glass(viewer),
            break_glass(viewer, active=False),
            break_glass(viewer, purpose=Purpose.DIRECT_CARE),
        ]
    return draw(st.sampled_from(options))


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    viewer = draw(viewers())
    return {
        "viewer": viewer,
        "purpose": draw(st.sampled_from(list(Purpose))),
        "labels": draw(entries()),
        "state": draw(sharing_states()),
        "relationship": draw(standings(viewer)),
        "protocol": protocol(draw(st.sampled_from(PROTOCOL_VERSIONS))),
        "now": NOW,
    }


@st.composite
def shareable_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Cases where sharing is plausible, so consent and its time limits decide the outcome."""
    version = draw(st.sampled_from(PROTOCOL_VERSIONS))
    purpose = draw(st.sampled_from([Purpose.DIRECT_CARE, Purpose.EMERGENCY]))
    viewer = practitioner(
        draw(st.sampled_from(["gp", "paramedic", "social_worker", "police_officer"])),
        draw(st.sampled_from(["gp-north", "adult-care", "police"])),
    )
    labels = Labels(
        entry_id="entry-1",
        agency_id="gp-south",
        sector=Sector.HEALTH,
        author_id="gp-author",
        profession="gp",
        category=draw(st.sampled_from(["physical_health", "medication"])),
        heading="History",
        sensitivity=Sensitivity.NORMAL,
        lawful_basis=draw(st.sampled_from(list(LawfulBasis))),
        occurred_at=NOW - timedelta(days=2),
    )
    broad = consents().map(lambda c: replace(c, scope=ConsentScope()))
    return {
        "viewer": viewer,
        "purpose": purpose,
        "labels": labels,
        "state": SharingState(tuple(draw(st.lists(broad | consents(), min_size=1, max_size=3)))),
        "relationship": draw(st.sampled_from([CARE, break_glass(viewer)])),
        "protocol": protocol(version),
        "now": NOW,
    }


def allowed(case: dict[str, Any], **changes: Any) -> bool:
    return decided(**{**case, **changes}).allowed


@PROPERTY
@given(cases() | shareable_cases(), consents(ConsentDecisionKind.GRANTED))
def test_withdrawing_a_grant_never_widens_access(case: dict[str, Any], grant: Any) -> None:
    state: SharingState = case["state"]
    with_grant = SharingState((*state.consents, grant), state.restrictions)
    assert allowed(case, state=state) <= allowed(case, state=with_grant)


@PROPERTY
@given(cases() | shareable_cases(), consents(ConsentDecisionKind.REFUSED))
def test_adding_a_refusal_never_widens_access(case: dict[str, Any], refusal: Any) -> None:
    state: SharingState = case["state"]
    with_refusal = SharingState((*state.consents, refusal), state.restrictions)
    assert allowed(case, state=with_refusal) <= allowed(case, state=state)


@PROPERTY
@given(cases() | shareable_cases(), restrictions())
def test_a_restriction_never_widens_access(case: dict[str, Any], restriction: Any) -> None:
    state: SharingState = case["state"]
    sealed_state = SharingState(state.consents, (*state.restrictions, restriction))
    assert allowed(case, state=sealed_state) <= allowed(case, state=state)


@PROPERTY
@given(
    cases() | shareable_cases(),
    st.sampled_from(list(Sensitivity)),
    st.sampled_from(list(Sensitivity)),
)
def test_raising_sensitivity_never_widens_access(
    case: dict[str, Any], low: Sensitivity, high: Sensitivity
) -> None:
    if low.rank > high.rank:
        low, high = high, low
    labels: Labels = case["labels"]
    less = replace(labels, sensitivity=low)
    more = replace(labels, sensitivity=high)
    assert allowed(case, labels=more) <= allowed(case, labels=less)


@PROPERTY
@given(cases())
def test_without_a_relationship_only_subject_access_audit_and_active_break_glass_read(
    case: dict[str, Any],
) -> None:
    decision: Decision = decided(**case)
    viewer: Viewer = case["viewer"]
    relationship: ViewerRelationship = case["relationship"]
    purpose: Purpose = case["purpose"]
    if not decision.allowed or relationship.kind is RelationshipKind.CARE:
        return
    grant = relationship.grant
    assert (
        (purpose is Purpose.SUBJECT_ACCESS and viewer.kind is ViewerKind.CLIENT)
        or (purpose is Purpose.AUDIT and bool(viewer.roles & {Role.AUDITOR, Role.IG_OFFICER}))
        or (
            relationship.kind is RelationshipKind.BREAK_GLASS
            and grant is not None
            and grant.active_at(NOW)
            and purpose is grant.purpose is Purpose.EMERGENCY
        )
    ), decision


@PROPERTY
@given(cases())
def test_no_relationship_at_all_reads_only_for_audit(case: dict[str, Any]) -> None:
    decision = decided(**{**case, "relationship": NO_RELATIONSHIP})
    if decision.allowed:
        assert case["purpose"] is Purpose.AUDIT
        assert case["viewer"].roles & {Role.AUDITOR, Role.IG_OFFICER}


@PROPERTY
@given(cases() | shareable_cases())
def test_decide_is_deterministic_and_leaves_its_inputs_alone(case: dict[str, Any]) -> None:
    before = copy.deepcopy(case)
    first, second = decided(**case), decided(**case)
    assert first == second
    assert case == before
    assert decided(**before) == first


@PROPERTY
@given(cases() | shareable_cases(), st.integers(0, 60 * 24 * 900))
def test_a_projection_time_decision_allows_whatever_a_real_time_decision_allows(
    case: dict[str, Any], minutes_later: int
) -> None:
    # Any read happens at or after the decisions in the record were made.
    read_at = NOW + timedelta(minutes=minutes_later)
    if allowed(case, now=read_at):
        assert allowed(case, now=None), decided(**{**case, "now": None})


@PROPERTY
@given(cases() | shareable_cases(), st.booleans())
def test_the_policy_agrees_with_the_oracle_on_random_records(
    case: dict[str, Any], at_projection_time: bool
) -> None:
    if at_projection_time:
        case = {**case, "now": None}
    oracle = Oracle(document(case["protocol"].version))
    want = oracle.expect(
        Case(
            case["viewer"],
            case["purpose"],
            case["labels"],
            case["state"],
            case["relationship"],
            case["now"],
        )
    )
    got = decided(**case)
    assert (got.allowed, got.rule, got.basis, got.redactions) == (
        want.allowed,
        want.rule,
        want.basis,
        want.redactions,
    )


def named_by_matrix(rows: list[dict[str, Any]], viewer: Viewer, purpose: Purpose) -> set[str]:
    """The categories a matrix's rows give a viewer, read from the document itself
    ("*" is every category of version 3's taxonomy)."""
    oracle = Oracle(document(3))
    found: set[str] = set()
    for row in rows:
        if oracle.matches(row["who"], viewer, purpose):
            found |= set(CATEGORIES) if row["categories"] == "*" else set(row["categories"])
    return found


@st.composite
def matrix_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Version 3 cases (a need-to-know matrix for direct care and emergencies), any
    consent state and standing."""
    case = draw(cases() | shareable_cases())
    purpose = draw(st.sampled_from([Purpose.DIRECT_CARE, Purpose.EMERGENCY, case["purpose"]]))
    return {**case, "purpose": purpose, "protocol": protocol(3)}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix_cases())
def test_no_audience_reaches_a_category_its_matrix_does_not_give_it(case: dict[str, Any]) -> None:
    decision = decided(**case)
    purpose: Purpose = case["purpose"]
    rows = document(3)["purposes"].get(purpose.value, {}).get("reach")
    event(f"{purpose.value}: {decision.rule}")
    if rows is None or not decision.allowed:
        return
    assert case["labels"].category in named_by_matrix(rows, case["viewer"], purpose), decision


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix_cases())
def test_break_glass_never_shows_more_than_a_care_relationship_plus_what_it_names(
    case: dict[str, Any],
) -> None:
    viewer: Viewer = case["viewer"]
    if viewer.kind is not ViewerKind.PRACTITIONER:
        return
    emergency = {**case, "purpose": Purpose.EMERGENCY}
    under_grant = decided(**{**emergency, "relationship": break_glass(viewer)})
    event(f"break-glass: {under_grant.rule}")
    if not under_grant.allowed:
        return
    if decided(**{**emergency, "relationship": CARE}).allowed:
        return
    named = named_by_matrix(document(3)["break_glass"]["reach"], viewer, Purpose.EMERGENCY)
    assert under_grant.rule == "break-glass", under_grant
    assert case["labels"].category in named, under_grant


def test_break_glass_is_bounded_only_from_version_3() -> None:
    # A paramedic under break-glass and a council's family case note, no consent: the
    # leak the issue found under version 2 (kept: history reconstructs) and its fix.
    paramedic = practitioner("paramedic", "ambulance")
    family_note = entry("carers_and_family", by="social_worker", agency="children-north")
    for version, shown in ((2, True), (3, False)):
        decision = decided(
            paramedic,
            Purpose.EMERGENCY,
            family_note,
            SharingState(),
            break_glass(paramedic),
            protocol(version),
            NOW,
        )
        assert decision.allowed is shown, (version, decision)


@st.composite
def neighbours(draw: st.DrawFn) -> dict[str, Any]:
    """A change to one label: entries differing from another in just that field."""
    field = draw(
        st.sampled_from(
            ["entry_id", "agency_id", "sector", "author_id", "profession", "category",
             "heading", "sensitivity", "lawful_basis", "subject_access_exemption"]
        )
    )  # fmt: skip
    return {field: getattr(draw(entries()), field)}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases() | shareable_cases(), st.lists(neighbours(), min_size=1, max_size=8))
def test_deciding_a_whole_slice_at_once_gives_each_entry_its_own_decision(
    case: dict[str, Any], changes: list[dict[str, Any]]
) -> None:
    labels = [case["labels"], *(replace(case["labels"], **change) for change in changes)]
    args = {k: v for k, v in case.items() if k != "labels"}
    one_by_one = [decided(**args, labels=entry) for entry in labels]
    assert decide_many(**args, labels=labels) == one_by_one


def test_a_seal_on_one_entry_still_hides_only_that_entry_when_a_slice_is_decided_at_once() -> None:
    sealed_one = entry("physical_health", by="gp", agency="gp-north", entry_id="entry-1")
    neighbour = replace(sealed_one, entry_id="entry-2")  # identical labels otherwise
    seal = sealed(entry_id="entry-1", requested_by=RestrictionRequester.CONTRIBUTOR)
    decisions = decide_many(
        viewer_key(practitioner("gp", "gp-south")),
        Purpose.DIRECT_CARE,
        [sealed_one, neighbour, sealed_one],
        SharingState(restrictions=(seal,)),
        CARE,
        protocol(2),
        NOW,
    )
    assert [d.allowed for d in decisions] == [False, True, False]
    assert decisions[0].rule == "restricted-by-request"


@st.composite
def look_alikes(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A case, and one for another entry and record: the same viewer (by its key), purpose,
    standing, protocol and time; the entry's id, author, heading, time and (often) agency
    changed; the client's consents and restrictions often changed in ways that do not
    touch this entry, sometimes drawn afresh."""
    case = draw(cases() | shareable_cases())
    viewer: Viewer = case["viewer"]
    labels: Labels = case["labels"]
    state: SharingState = case["state"]
    other_viewer = replace(viewer, practitioner_id="someone-else", teams=frozenset({"team-9"}))
    other_labels = replace(
        labels,
        entry_id=draw(st.sampled_from(["entry-1", "entry-2", "entry-3"])),
        author_id="another-author",
        heading="Another heading",
        occurred_at=labels.occurred_at - timedelta(days=draw(st.integers(1, 400))),
        agency_id=draw(st.sampled_from([labels.agency_id, *AGENCIES])),
    )
    elsewhere = sealed(entry_id="entry-9", restriction_id="restriction-elsewhere")
    other_category = consents().map(
        lambda c: replace(c, scope=replace(c.scope, categories=frozenset({"no-such-category"})))
    )
    consents_changes = st.one_of(
        st.just(state.consents),
        st.just(state.consents[::-1]),
        other_category.map(lambda c: (c, *state.consents)),
        st.lists(consents(), max_size=3).map(tuple),
    )
    restriction_changes = st.one_of(
        st.just(state.restrictions),
        st.just((*state.restrictions, elsewhere)),
        st.lists(restrictions(), max_size=2).map(tuple),
    )
    other_state = SharingState(draw(consents_changes), draw(restriction_changes))
    return case, {**case, "viewer": other_viewer, "labels": other_labels, "state": other_state}


def key_of(case: dict[str, Any]) -> tuple[object, ...]:
    """The policy's decision key of a case's entry for its viewer."""
    viewer = viewer_key(case["viewer"])
    entry = entry_key(case["labels"], case["state"].restrictions)
    consent = consent_coverage(case["state"], entry, viewer, case["purpose"], case["now"])
    return (viewer, decision_key(viewer, entry, consent))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(look_alikes(), st.booleans())
def test_entries_and_viewers_the_policy_keys_alike_are_decided_alike(
    pair: tuple[dict[str, Any], dict[str, Any]], at_projection_time: bool
) -> None:
    # What memoises decisions (``decide_many``, the audience views across clients and
    # agencies) relies on this: equal keys, equal decisions - however the records differ.
    first, second = pair
    if at_projection_time:
        first, second = {**first, "now": None}, {**second, "now": None}
    same = key_of(first) == key_of(second)
    event("same keys" if same else "different keys")
    if same:
        assert decided(**first) == decided(**second)
