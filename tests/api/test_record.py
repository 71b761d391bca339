"""The curated slice over HTTP: each caller sees exactly what the sharing policy allows them,
nothing more; not-found and not-permitted look the same; break-glass works, expires and is
recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_stack import Stack, gql_execute
from world import (
    ALL_CALLERS,
    GP,
    NURSE,
    OTHER_GP,
    POLICE,
    SECRET,
    SOCIAL_WORKER,
    TEACHER,
    ClientFacts,
    Person,
    expected_slice,
    record,
    register_client,
    rich_client,
)

from carerecord.slice import SharedEntry
from carerecord.values import Viewer
from carerecord.vocab import Purpose, ViewerKind

ENTRY_FIELDS = """entryId kind version agency sector authorId profession category heading
  sensitivity lawfulBasis text amended alertKind severity resolved sharedUnder { basis rule }"""

RECORD = f"""query($id: ID!, $purpose: Purpose!, $first: Int, $after: String) {{
  client(id: $id, purpose: $purpose) {{
    clientId purpose basis {{ kind relationshipId grantId }}
    entries(first: $first, after: $after) {{
      items {{ {ENTRY_FIELDS} }}
      pageInfo {{ endCursor hasNextPage }}
      totalCount
    }}
  }}
}}"""


@pytest.fixture(scope="module")
def rich(stack: Stack) -> ClientFacts:
    client = rich_client(stack.app, stack.clock())
    stack.wait_for_views()
    return client


def read_all(
    stack: Stack, person: Person, client_id: str, purpose: Purpose
) -> list[dict[str, Any]]:
    result = gql_execute(
        stack, stack.token(person), RECORD, id=client_id, purpose=purpose.name, first=100
    )
    page = result["client"]["entries"]
    assert not page["pageInfo"]["hasNextPage"]
    return list(page["items"])


def as_seen(entry: SharedEntry) -> dict[str, Any]:
    return {
        "entryId": entry.entry_id,
        "kind": entry.kind.upper(),
        "version": entry.version,
        "agency": entry.agency_id,
        "sector": entry.sector.upper(),
        "authorId": entry.author_id,
        "profession": entry.profession,
        "category": entry.category,
        "heading": entry.heading,
        "sensitivity": entry.sensitivity.upper(),
        "lawfulBasis": entry.lawful_basis.upper(),
        "text": entry.text,
        "amended": entry.amended,
        "alertKind": None if entry.alert_kind is None else entry.alert_kind.upper(),
        "severity": None if entry.severity is None else entry.severity.upper(),
        "resolved": entry.resolved,
        "sharedUnder": {"basis": entry.basis, "rule": entry.rule},
    }


@pytest.mark.parametrize("person", ALL_CALLERS, ids=lambda p: p.profession)
def test_each_profession_sees_exactly_its_slice_for_direct_care(
    stack: Stack, rich: ClientFacts, person: Person
) -> None:
    seen = read_all(stack, person, rich.client_id, Purpose.DIRECT_CARE)
    expected = expected_slice(stack.app, rich.client_id, person, Purpose.DIRECT_CARE, stack.clock())
    assert seen == [as_seen(e) for e in expected]


def test_the_matrix_is_not_trivial(stack: Stack, rich: ClientFacts) -> None:
    """The slices differ: the policy hides something from someone and shares across agencies."""
    sizes = {
        p.practitioner_id: len(
            expected_slice(stack.app, rich.client_id, p, Purpose.DIRECT_CARE, stack.clock())
        )
        for p in ALL_CALLERS
    }
    assert max(sizes.values()) < len(rich.entries)
    assert len(set(sizes.values())) >= 4
    police = expected_slice(stack.app, rich.client_id, POLICE, Purpose.DIRECT_CARE, stack.clock())
    assert {e.agency_id for e in police} != {"police"}, "police see others' entries too"


@pytest.mark.parametrize("person", [POLICE, SOCIAL_WORKER, GP], ids=lambda p: p.profession)
def test_safeguarding_and_emergency_purposes_match_the_policy(
    stack: Stack, rich: ClientFacts, person: Person
) -> None:
    for purpose in (Purpose.SAFEGUARDING, Purpose.EMERGENCY):
        expected = expected_slice(stack.app, rich.client_id, person, purpose, stack.clock())
        result = httpx.post(
            f"{stack.server.url}/graphql",
            json={
                "query": RECORD,
                "variables": {"id": rich.client_id, "purpose": purpose.name, "first": 100},
            },
            headers={"Authorization": f"Bearer {stack.token(person)}"},
        ).json()
        if "errors" in result:  # a purpose the protocol does not open to this caller
            assert not expected
            assert result["errors"][0]["extensions"]["code"] == "NOT_PERMITTED"
            continue
        assert result["data"]["client"]["entries"]["items"] == [as_seen(e) for e in expected]


def test_the_police_triage_view_shows_only_what_the_protocol_allows(
    stack: Stack, rich: ClientFacts
) -> None:
    seen = read_all(stack, POLICE, rich.client_id, Purpose.EMERGENCY)
    protocol = stack.app.protocol()
    reach = protocol.purposes[Purpose.EMERGENCY].categories
    assert reach is not None
    assert seen
    assert {e["category"] for e in seen} <= reach
    others = [e for e in seen if e["agency"] != "police"]
    assert others, "the triage view shows other agencies' key facts"
    for entry in others:
        assert entry["heading"] is None, "the crisis view withholds other agencies' headings"
        assert entry["authorId"] is None, "police are not shown other agencies' authors"
    # The refusal (by the client's attorney) keeps mental health from the police.
    assert all(e["category"] != "mental_health" for e in seen if e["agency"] != "police")


def _client_query(
    stack: Stack, person: Person, client_id: str, purpose: str = "DIRECT_CARE"
) -> httpx.Response:
    return httpx.post(
        f"{stack.server.url}/graphql",
        json={"query": RECORD, "variables": {"id": client_id, "purpose": purpose, "first": 10}},
        headers={"Authorization": f"Bearer {stack.token(person)}"},
    )


def test_not_found_and_not_permitted_are_indistinguishable(stack: Stack, rich: ClientFacts) -> None:
    before = stack.access_head()
    missing = _client_query(stack, OTHER_GP, "6f1c1d9e-3f3a-4a47-9c1e-2b7b5d0f9a11")
    hidden = _client_query(stack, OTHER_GP, rich.client_id)
    assert missing.status_code == hidden.status_code == 200
    normalise = lambda r: r.text.replace(rich.client_id, "X").replace(  # noqa: E731
        "6f1c1d9e-3f3a-4a47-9c1e-2b7b5d0f9a11", "X"
    )
    assert normalise(missing) == normalise(hidden)
    assert hidden.json()["data"] is None or hidden.json()["data"]["client"] is None
    assert hidden.json()["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"
    assert "Rich" not in hidden.text
    assert SECRET not in hidden.text
    # Nothing returned: no read recorded, but both refused attempts are (as refused).
    attempts = stack.access_records(after=before)
    assert [(r.outcome, r.refusal, r.items) for r in attempts] == [
        ("refused", "CLIENT_NOT_FOUND", ())
    ] * 2


def test_a_gp_cannot_see_another_practices_patients(stack: Stack, rich: ClientFacts) -> None:
    hidden = _client_query(stack, OTHER_GP, rich.client_id)
    assert hidden.json()["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"
    caseload = gql_execute(
        stack,
        stack.token(OTHER_GP),
        "{ caseload(first: 100) { items { client { clientId familyName } } } }",
    )
    names = {i["client"]["clientId"] for i in caseload["caseload"]["items"]}
    assert rich.client_id not in names
    own = gql_execute(
        stack, stack.token(GP), "{ caseload(first: 100) { items { client { clientId } } } }"
    )
    assert rich.client_id in {i["client"]["clientId"] for i in own["caseload"]["items"]}


def test_entries_page_with_opaque_cursors_bound_to_the_client_and_caller(
    stack: Stack, rich: ClientFacts
) -> None:
    token = stack.token(GP)
    expected = [
        e.entry_id
        for e in expected_slice(stack.app, rich.client_id, GP, Purpose.DIRECT_CARE, stack.clock())
    ]
    seen: list[str] = []
    after = None
    cursors = []
    while True:
        page = gql_execute(
            stack, token, RECORD, id=rich.client_id, purpose="DIRECT_CARE", first=3, after=after
        )
        entries = page["client"]["entries"]
        seen += [e["entryId"] for e in entries["items"]]
        assert entries["totalCount"] == len(expected)
        if not entries["pageInfo"]["hasNextPage"]:
            break
        after = entries["pageInfo"]["endCursor"]
        cursors.append(after)
    assert seen == expected
    assert all(not c.isdigit() and rich.client_id not in c for c in cursors)
    other = _client_with_entries(stack)
    foreign = httpx.post(
        f"{stack.server.url}/graphql",
        json={
            "query": RECORD,
            "variables": {
                "id": other.client_id,
                "purpose": "DIRECT_CARE",
                "first": 3,
                "after": cursors[0],
            },
        },
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert foreign["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    stolen = httpx.post(
        f"{stack.server.url}/graphql",
        json={
            "query": RECORD,
            "variables": {
                "id": rich.client_id,
                "purpose": "DIRECT_CARE",
                "first": 3,
                "after": cursors[0],
            },
        },
        headers={"Authorization": f"Bearer {stack.token(NURSE)}"},
    ).json()
    assert stolen["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    tampered = cursors[0][:-2] + ("AA" if not cursors[0].endswith("AA") else "BB")
    bad = httpx.post(
        f"{stack.server.url}/graphql",
        json={
            "query": RECORD,
            "variables": {
                "id": rich.client_id,
                "purpose": "DIRECT_CARE",
                "first": 3,
                "after": tampered,
            },
        },
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


def test_page_sizes_are_capped(stack: Stack, rich: ClientFacts) -> None:
    response = _client_query(stack, GP, rich.client_id)
    assert response.status_code == 200
    over = httpx.post(
        f"{stack.server.url}/graphql",
        json={
            "query": RECORD,
            "variables": {"id": rich.client_id, "purpose": "DIRECT_CARE", "first": 1000},
        },
        headers={"Authorization": f"Bearer {stack.token(GP)}"},
    ).json()
    error = over["errors"][0]["extensions"]
    assert error["code"] == "INVALID_INPUT"
    assert error["fields"]["field"] == "first"


def _client_with_entries(stack: Stack) -> ClientFacts:
    client = register_client(stack.app, GP)
    for heading in ("History", "Examination", "Plan", "Medication review"):
        record(stack.app, client, GP, heading, when=stack.clock())
    stack.wait_for_views()
    return client


def test_a_mutation_can_be_read_back_at_once_with_its_consistency_token(stack: Stack) -> None:
    client = register_client(stack.app, NURSE)
    stack.wait_for_views()
    token = stack.token(NURSE)
    written = gql_execute(
        stack,
        token,
        """mutation($c: ID!, $at: DateTime!) { recordContribution(clientId: $c, input: {
             heading: "Wound care", text: "Leg ulcer dressed", occurredAt: $at }) {
             ... on Accepted { id consistencyToken } } }""",
        c=client.client_id,
        at=datetime.now(UTC).isoformat(),
    )["recordContribution"]
    read = gql_execute(
        stack,
        token,
        """query($c: ID!, $t: String) { client(id: $c, consistentWith: $t) {
             entries { items { entryId text } } } }""",
        c=client.client_id,
        t=written["consistencyToken"],
    )
    assert {"entryId": written["id"], "text": "Leg ulcer dressed"} in read["client"]["entries"][
        "items"
    ]
    forged = httpx.post(
        f"{stack.server.url}/graphql",
        json={
            "query": "query($c: ID!, $t: String) "
            "{ client(id: $c, consistentWith: $t) { clientId } }",
            "variables": {"c": client.client_id, "t": "123"},
        },
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert forged["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


BREAK_GLASS = """mutation($c: ID!) { breakGlass(clientId: $c,
  reason: "Street triage: person in crisis on the bridge, need risk history", minutes: 60) {
  ... on BreakGlassGranted { grantId expiresAt } ... on Refused { code } } }"""


def test_break_glass_opens_the_emergency_view_is_audited_and_expires(stack: Stack) -> None:
    client = _client_with_entries(stack)
    before = _client_query(stack, POLICE, client.client_id, "EMERGENCY").json()
    assert before["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"
    grant = gql_execute(stack, stack.token(POLICE), BREAK_GLASS, c=client.client_id)["breakGlass"]
    stack.wait_for_views()
    mark = stack.access_head()
    opened = _client_query(stack, POLICE, client.client_id, "EMERGENCY").json()
    view = opened["data"]["client"]
    assert view["basis"] == {
        "kind": "BREAK_GLASS",
        "relationshipId": None,
        "grantId": grant["grantId"],
    }
    expected = expected_slice(stack.app, client.client_id, POLICE, Purpose.EMERGENCY, stack.clock())
    assert [e["entryId"] for e in view["entries"]["items"]] == [e.entry_id for e in expected][:10]
    assert expected, "the emergency view shows the GP's physical health entries"
    (audited,) = stack.access_records(after=mark)
    assert audited.basis == "break_glass"
    assert audited.grant_id == grant["grantId"]
    assert audited.purpose == "emergency"
    # Break-glass covers only the emergency purpose it was granted for: another purpose is
    # refused (not an empty record), before anything is read.
    direct = _client_query(stack, POLICE, client.client_id, "DIRECT_CARE").json()
    assert direct["data"] is None  # the field is non-null: the refusal nulls `data`
    assert direct["errors"][0]["extensions"]["code"] == "NOT_PERMITTED"
    stack.clock.advance(minutes=61)
    try:
        expired = _client_query(stack, POLICE, client.client_id, "EMERGENCY").json()
        assert expired["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"
    finally:
        stack.clock.advance(minutes=-61)
    assert stack.app.load_client(client.client_id).grants[grant["grantId"]].review_outcome is None


def test_a_teacher_cannot_break_the_glass(stack: Stack) -> None:
    client = _client_with_entries(stack)
    refused = gql_execute(stack, stack.token(TEACHER), BREAK_GLASS, c=client.client_id)
    assert refused["breakGlass"] == {"code": "NOT_PERMITTED"}


def test_the_involvement_index_says_who_is_involved_without_clinical_content(
    stack: Stack, rich: ClientFacts
) -> None:
    query = """query($c: ID!) { involvement(clientId: $c) { clientId agencies {
      agencyCode agency { name sector phone }
      workers { practitionerId name profession phone email }
      openReferrals { referralId } } } }"""
    mark = stack.access_head()
    result = gql_execute(stack, stack.token(NURSE), query, c=rich.client_id)["involvement"]
    agencies = {a["agencyCode"] for a in result["agencies"]}
    assert {"gp-north", "community-health", "adult-care", "police", "housing"} <= agencies
    workers = {w["practitionerId"] for a in result["agencies"] for w in a["workers"]}
    assert {GP.practitioner_id, SOCIAL_WORKER.practitioner_id} <= workers
    text = str(result)
    assert not any(heading in text for heading in rich.entries.values())
    (audited,) = stack.access_records(after=mark)
    assert (audited.action, audited.client_id) == ("involvement.read", rich.client_id)
    hidden = _post(stack, OTHER_GP, query, c=rich.client_id)
    assert hidden["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"


def _post(stack: Stack, person: Person, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{stack.server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {stack.token(person)}"},
    )
    body: dict[str, Any] = response.json()
    return body


EXPLAIN = """query($c: ID!, $e: ID!) { explainAccess(clientId: $c, entryId: $e) {
  found inView visible decision { allowed rule basis reason } } }"""


def test_why_can_i_not_see_this_is_answered_by_the_policy(stack: Stack, rich: ClientFacts) -> None:
    now = stack.clock()
    nurse_sees = {
        e.entry_id
        for e in expected_slice(stack.app, rich.client_id, NURSE, Purpose.DIRECT_CARE, now)
    }
    shown = next(iter(nurse_sees))
    hidden = next(e for e in rich.entries if e not in nurse_sees)
    seen = gql_execute(stack, stack.token(NURSE), EXPLAIN, c=rich.client_id, e=shown)[
        "explainAccess"
    ]
    assert seen["visible"] is True
    assert seen["decision"]["allowed"] is True
    why_not = gql_execute(stack, stack.token(NURSE), EXPLAIN, c=rich.client_id, e=hidden)[
        "explainAccess"
    ]
    assert why_not["visible"] is False
    assert why_not["decision"]["allowed"] is False
    assert why_not["decision"]["rule"]
    assert SECRET not in str(why_not)
    stranger = _post(stack, OTHER_GP, EXPLAIN, c=rich.client_id, e=hidden)
    assert stranger["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"


def test_the_overview_and_alerts_come_from_the_same_slice(stack: Stack, rich: ClientFacts) -> None:
    query = """query($c: ID!) { client(id: $c) {
      alerts { entryId alertKind severity resolved }
      overview { profession
        sections { category yourHeadings entryCount latest { entryId } } } } }"""
    result = gql_execute(stack, stack.token(SOCIAL_WORKER), query, c=rich.client_id)["client"]
    expected = expected_slice(
        stack.app, rich.client_id, SOCIAL_WORKER, Purpose.DIRECT_CARE, stack.clock()
    )
    visible_alerts = {e.entry_id for e in expected if e.kind == "alert" and not e.resolved}
    assert {a["entryId"] for a in result["alerts"]} == visible_alerts
    assert result["overview"]["profession"] == "social_worker"
    counted = sum(s["entryCount"] for s in result["overview"]["sections"])
    assert counted == len(expected)
    by_category = {s["category"]: s for s in result["overview"]["sections"]}
    assert "Needs assessment" in by_category["daily_living"]["yourHeadings"]


@pytest.mark.parametrize("agency", ["community-health", "police", "adult-care", "gp-south"])
def test_an_agency_system_sees_its_agencys_slice(
    stack: Stack, rich: ClientFacts, agency: str
) -> None:
    token = stack.agency_token(agency)
    response = httpx.post(
        f"{stack.server.url}/graphql",
        json={
            "query": RECORD,
            "variables": {"id": rich.client_id, "purpose": "DIRECT_CARE", "first": 100},
        },
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    system = Viewer(kind=ViewerKind.AGENCY_SYSTEM, agency_id=agency)
    if agency == "gp-south":  # no relationship with the client: indistinguishable from none
        assert response["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"
        return
    expected = expected_slice(stack.app, rich.client_id, system, Purpose.DIRECT_CARE, stack.clock())
    assert response["data"]["client"]["entries"]["items"] == [as_seen(e) for e in expected]


def test_a_person_reads_their_own_record_by_subject_access_and_no_one_elses(
    stack: Stack, rich: ClientFacts
) -> None:
    token = stack.issuer.for_client(rich.client_id, ttl=timedelta(minutes=5))
    own = httpx.post(
        f"{stack.server.url}/graphql",
        json={
            "query": RECORD,
            "variables": {"id": rich.client_id, "purpose": "SUBJECT_ACCESS", "first": 100},
        },
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    me = Viewer(kind=ViewerKind.CLIENT, client_id=rich.client_id)
    expected = expected_slice(stack.app, rich.client_id, me, Purpose.SUBJECT_ACCESS, stack.clock())
    assert expected
    assert own["data"]["client"]["entries"]["items"] == [as_seen(e) for e in expected]
    other = _client_with_entries(stack)
    theirs = httpx.post(
        f"{stack.server.url}/graphql",
        json={
            "query": RECORD,
            "variables": {"id": other.client_id, "purpose": "SUBJECT_ACCESS", "first": 100},
        },
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert theirs["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"
