"""Role checks: only auditors and information-governance officers reach the audit queries
(each query's own set of roles), only the person reaches their own view - everyone else
gets NOT_PERMITTED, no data and no access record - and the auditors' own reads of
client data are audited like any other read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from gov_stack import GovStack
from gov_world import AUDITOR, GP, HEALTH_IG, LEAD, NURSE, SECRET, care_team_client

from carerecord.errors import NotPermitted
from carerecord.values import Viewer
from carerecord.vocab import ViewerKind
from projections.audit import governance
from projections.audit.index import AccessQuery

READ = "query($c: ID!) { client(id: $c) { entries { items { entryId } } } }"
QUERIES: dict[str, str] = {
    "accessAudit": """query($c: ID!) { accessAudit(filter: {clientId: $c}) {
        items { accessId practitionerId basis entryBases } indexedUpTo } }""",
    "reconstructAccess": """query($a: ID!) { reconstructAccess(accessId: $a) {
        outcome recordIntact entries { entryId text } } }""",
    "recordAsOf": """query($c: ID!, $t: DateTime!) { recordAsOf(clientId: $c, at: $t) {
        version entries { entryId text inError } } }""",
    "breakGlassReviewQueue": "{ breakGlassReviewQueue { items { grantId reason } } }",
    "usageReport": "{ usageReport { contributions { agency count } } }",
    "protocolReach": "{ protocolReach { version professions { profession withConsent } } }",
    "myRecord": "{ myRecord { clientId entries { items { text } } } }",
    "myAccessLog": "{ myAccessLog { items { description } } }",
}
ALLOWED: dict[str, set[str]] = {
    "accessAudit": {"auditor", "ig_officer"},
    "reconstructAccess": {"auditor"},
    "recordAsOf": {"auditor"},
    "breakGlassReviewQueue": {"ig_officer"},
    "usageReport": {"auditor", "ig_officer"},
    "protocolReach": {"auditor", "ig_officer"},
    "myRecord": {"client"},
    "myAccessLog": {"client"},
}
CALLERS = ("practitioner", "safeguarding_lead", "ig_officer", "auditor", "agency_system", "client")


@pytest.fixture(scope="module")
def scene(gov: GovStack) -> dict[str, Any]:
    client = care_team_client(gov.app, gov.clock())
    gov.wait_for_views()
    mark = gov.access_head()
    gov.gql(gov.token(NURSE), READ, c=client)
    (read,) = gov.access_records(after=mark)
    return {"client": client, "access": read.access_id}


def _token(gov: GovStack, caller: str, client: str) -> str:
    people = {
        "practitioner": NURSE,
        "safeguarding_lead": LEAD,
        "ig_officer": HEALTH_IG,
        "auditor": AUDITOR,
    }
    if caller in people:
        return gov.token(people[caller])
    if caller == "agency_system":
        return gov.agency_token(NURSE.agency_id)
    return gov.client_token(client)


@pytest.mark.parametrize("query", sorted(QUERIES))
@pytest.mark.parametrize("caller", CALLERS)
def test_each_governance_query_is_open_to_its_roles_only(
    gov: GovStack, scene: dict[str, Any], query: str, caller: str
) -> None:
    variables = {
        "c": scene["client"],
        "a": scene["access"],
        "t": (gov.clock() + timedelta(seconds=1)).isoformat(),
    }
    text = QUERIES[query]
    used = {k: v for k, v in variables.items() if f"${k}" in text}
    mark = gov.access_head()
    body = gov.post(_token(gov, caller, scene["client"]), text, **used)
    if caller in ALLOWED[query]:
        assert "errors" not in body, body
        assert body["data"][query] is not None
        return
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_PERMITTED"]
    assert SECRET not in str(body)
    assert scene["client"] not in str(body)
    # Nothing shown: no read recorded; a refusal naming the client is a refused attempt.
    written = gov.access_records(after=mark)
    assert all(r.refused and not r.items for r in written), "a refused query recorded a read"
    names_client = query == "recordAsOf"  # the only governance query with a clientId
    assert [r.refusal for r in written] == (["NOT_PERMITTED"] if names_client else [])


def test_the_auditors_own_reads_are_audited_and_visible_to_the_person(
    gov: GovStack, scene: dict[str, Any]
) -> None:
    client, access = scene["client"], scene["access"]
    auditor = gov.token(AUDITOR)
    gov.wait_for_index()
    mark = gov.access_head()
    listed = gov.gql(auditor, QUERIES["accessAudit"], c=client)["accessAudit"]
    assert access in [i["accessId"] for i in listed["items"]]
    replay = gov.gql(auditor, QUERIES["reconstructAccess"], a=access)["reconstructAccess"]
    assert replay["outcome"] == "MATCH"
    assert replay["recordIntact"] is True
    at = (gov.clock() + timedelta(seconds=1)).isoformat()
    as_of = gov.gql(auditor, QUERIES["recordAsOf"], c=client, t=at)["recordAsOf"]
    assert as_of["entries"]
    own = gov.access_records(after=mark)
    assert [r.action for r in own] == ["audit.index", "audit.reconstruct", "audit.as_of"]
    for record in own:
        assert (record.client_id, record.purpose, record.basis) == (client, "audit", "audit")
        assert record.practitioner_id == AUDITOR.practitioner_id
        assert record.roles == ("auditor",)
    reconstructed, as_of_record = own[1], own[2]
    assert [e for e, _ in reconstructed.items] == [e["entryId"] for e in replay["entries"]]
    assert {e for e, _ in as_of_record.items} == {e["entryId"] for e in as_of["entries"]}

    # They are in the index, under the basis "audit", and in the person's own log.
    gov.wait_for_index()
    query = """query($c: ID!) { accessAudit(filter: {clientId: $c, basis: "audit"}) {
        items { action practitionerId purpose } } }"""
    audited = gov.gql(gov.token(HEALTH_IG), query, c=client)["accessAudit"]["items"]
    assert {"audit.index", "audit.reconstruct", "audit.as_of"} <= {i["action"] for i in audited}
    log = gov.gql(gov.client_token(client), QUERIES["myAccessLog"])["myAccessLog"]["items"]
    auditor_lines = [i["description"] for i in log if i["description"].startswith("An auditor")]
    assert any("checked exactly what someone was shown" in d for d in auditor_lines)
    assert any("as it stood at an earlier date" in d for d in auditor_lines)


def test_an_unknown_access_id_is_a_coded_refusal(gov: GovStack, scene: dict[str, Any]) -> None:
    body = gov.post(
        gov.token(AUDITOR), QUERIES["reconstructAccess"], a="6f1c1d4e-2d6b-4c39-9a57-0d6f2b1e9c11"
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "ACCESS_NOT_FOUND"
    not_a_client = gov.post(
        gov.token(AUDITOR), QUERIES["recordAsOf"], c="not-a-uuid", t=gov.clock().isoformat()
    )
    assert not_a_client["errors"][0]["extensions"]["code"] in {
        "INVALID_IDENTIFIER",
        "INVALID_INPUT",
    }
    assert GP.practitioner_id not in str(body)


def test_reads_that_are_not_slices_are_not_replayed_and_feed_pages_are(
    gov: GovStack, scene: dict[str, Any]
) -> None:
    # The involvement index is no slice (its hash covers the agencies listed); a feed
    # page delivered part of the client's slice, and replays to its hash.
    client = scene["client"]
    mark = gov.access_head()
    gov.gql(
        gov.token(NURSE),
        "query($c: ID!) { involvement(clientId: $c) { agencies { agencyCode } } }",
        c=client,
    )
    gov.get("/feed?limit=100", gov.agency_token(NURSE.agency_id))
    records = {r.action: r for r in gov.access_records(after=mark) if r.client_id == client}
    assert records.keys() == {"involvement.read", "feed.page"}
    assert records["feed.page"].items
    query = "query($a: ID!) { reconstructAccess(accessId: $a) { outcome reason } }"
    index = gov.gql(gov.token(AUDITOR), query, a=records["involvement.read"].access_id)
    feed = gov.gql(gov.token(AUDITOR), query, a=records["feed.page"].access_id)
    assert index["reconstructAccess"] == {
        "outcome": "NOT_RECONSTRUCTIBLE",
        "reason": "not_a_slice_read",
    }
    assert feed["reconstructAccess"] == {"outcome": "MATCH", "reason": None}


def _viewer(gov: GovStack, caller: str, client: str) -> Viewer:
    people = {
        "practitioner": NURSE,
        "safeguarding_lead": LEAD,
        "ig_officer": HEALTH_IG,
        "auditor": AUDITOR,
    }
    if caller in people:
        return gov.app.resolve_actor(people[caller].caller)
    if caller == "agency_system":
        return gov.app.resolve_actor(
            Viewer(kind=ViewerKind.AGENCY_SYSTEM, agency_id=NURSE.agency_id)
        )
    return Viewer(kind=ViewerKind.CLIENT, client_id=client)


SERVICES: dict[str, Callable[[GovStack, Viewer, dict[str, Any]], object]] = {
    "accessAudit": lambda gov, who, scene: governance.access_index(
        gov.services.databases.access, who
    ).page(AccessQuery(client_id=scene["client"])),
    "reconstructAccess": lambda gov, who, scene: governance.reconstruct_access(
        gov.app, gov.services.databases.access, who, scene["access"]
    ),
    "recordAsOf": lambda gov, who, scene: governance.record_as_of(
        gov.app, who, scene["client"], gov.clock() + timedelta(seconds=1)
    ),
    "breakGlassReviewQueue": lambda gov, who, scene: governance.review_queue(
        gov.services.databases.views, gov.services.databases.access, who
    ).page(granted_before=None, after=None, limit=10),
    "usageReport": lambda gov, who, scene: governance.usage_figures(
        gov.services.databases.views, gov.services.databases.access, who, now=gov.clock()
    ),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("caller", CALLERS)
def test_each_governance_service_checks_its_roles_itself_whatever_the_entry_point(
    gov: GovStack, scene: dict[str, Any], service: str, caller: str
) -> None:
    # Called directly, as another API (REST, FHIR) would: the same roles, the same code.
    who = _viewer(gov, caller, scene["client"])
    call = SERVICES[service]
    if caller in ALLOWED[service]:
        assert call(gov, who, scene) is not None
        return
    with pytest.raises(NotPermitted) as refused:
        call(gov, who, scene)
    assert refused.value.code == "NOT_PERMITTED"
