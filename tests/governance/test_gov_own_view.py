"""The person's own view: what is held about them never includes an entry withheld under a
lawful exception the protocol names, always includes everything else, and the access log
they see always shows every access recorded against their record. Their own reads (and
exports) are audited and replay exactly."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from gov_stack import GovStack
from gov_world import GP, NURSE, POLICE, SECRET, SOCIAL_WORKER, care_team_client, note, register

from carerecord.audit.reconstruct import Outcome, reconstruct
from carerecord.policy import SELF, viewer_key
from carerecord.slice import curate, fold_entries
from carerecord.values import Viewer
from carerecord.vocab import Purpose, ViewerKind

MY_RECORD = """query($after: String) { myRecord {
  clientId givenName familyName note
  entries(first: 100, after: $after) {
    items { entryId text organisation profession category heading amended }
    pageInfo { endCursor hasNextPage } totalCount
  }
} }"""
MY_LOG = """query($first: Int, $after: String) { myAccessLog(first: $first, after: $after) {
  items { at description action organisation profession breakGlass byAuditor }
  pageInfo { endCursor hasNextPage }
} }"""
EXEMPTIONS = (None, None, None, "serious_harm", "third_party", "crime_prevention")


def _expected(gov: GovStack, client: str) -> list[tuple[str, str]]:
    """The oracle: what the sharing policy lets the person see of their record now."""
    me = Viewer(kind=ViewerKind.CLIENT, client_id=client)
    state = gov.app.load_client(client)
    entries = fold_entries(gov.app.repository.event_store.get(UUID(client)))
    shown = curate(
        entries.values(),
        viewer=viewer_key(me),
        purpose=Purpose.SUBJECT_ACCESS,
        relationship=SELF,
        state=state.sharing_state(),
        protocol=gov.app.protocol(),
        now=gov.clock(),
    )
    return [(e.entry_id, e.text) for e in shown]


def _withheld(gov: GovStack, client: str) -> dict[str, str]:
    entries = fold_entries(gov.app.repository.event_store.get(UUID(client)))
    return {
        k: e.text
        for k, e in entries.items()
        if e.labels.subject_access_exemption is not None and not e.in_error
    }


def _history(gov: GovStack, seed: int) -> str:
    """A client with entries by several agencies, some withheld under each named exception,
    some amended or entered in error, consent and a restriction."""
    rng = random.Random(seed)
    client = care_team_client(gov.app, gov.clock(), family_name=f"Own{seed}")
    authors = (GP, NURSE, SOCIAL_WORKER)
    headings = {GP: "History", NURSE: "Wound care", SOCIAL_WORKER: "Needs assessment"}
    made = []
    for i in range(12):
        author = rng.choice(authors)
        exemption = rng.choice(EXEMPTIONS)
        result = gov.app.record_contribution(
            author.caller,
            client,
            heading=headings[author],
            text=f"{'WITHHELD' if exemption else 'Held'}-{seed}-{i} {SECRET}",
            occurred_at=gov.clock() - timedelta(days=rng.randint(1, 90)),
            subject_access_exemption=exemption,
        )
        assert result.id is not None
        made.append((author, result.id))
    for author, entry in rng.sample(made, 3):
        gov.app.amend_contribution(
            author.caller, client, entry, text=f"Corrected {entry}", reason="Typo"
        )
    author, entry = made[0]
    if entry not in {e for _, e in made[1:4]}:
        gov.app.enter_contribution_in_error(author.caller, client, entry, reason="Wrong client")
    gov.app.place_restriction(
        SOCIAL_WORKER.caller,
        client,
        requested_by="client",
        reason="Asked",
        category="physical_health",
        sectors=["police"],
    )
    return client


def _held(gov: GovStack, token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        page = gov.gql(token, MY_RECORD, after=after)["myRecord"]["entries"]
        items += page["items"]
        if not page["pageInfo"]["hasNextPage"]:
            return items
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_person_sees_everything_held_except_what_a_named_exception_withholds(
    gov: GovStack, seed: int
) -> None:
    client = _history(gov, seed)
    gov.wait_for_views()
    token = gov.client_token(client)
    expected = _expected(gov, client)
    withheld = _withheld(gov, client)
    held = _held(gov, token)
    assert [(i["entryId"], i["text"]) for i in held] == expected
    assert not {i["entryId"] for i in held} & set(withheld)
    assert all("WITHHELD" not in i["text"] for i in held)
    exported = gov.get("/subject-access/export.json", token)
    assert exported.status_code == 200
    document = exported.json()
    assert [(h["entry_id"], h["text"]) for h in document["held"]] == expected
    printable = gov.get("/subject-access/export.html", token)
    assert printable.headers["content-type"].startswith("text/html")
    for text in withheld.values():
        assert text not in exported.text
        assert text not in printable.text
    assert "WITHHELD" not in exported.text + printable.text
    for _, text in expected:
        assert text.replace("'", "&#x27;") in printable.text
    assert "withheld" in document["notes"][0]  # a general statement, never a count


def test_the_access_log_the_person_sees_is_every_access_to_their_record(gov: GovStack) -> None:
    client = care_team_client(gov.app, gov.clock(), family_name="Logged")
    nhs = gov.app.load_client(client).nhs_number
    gov.wait_for_views()
    read = "query($c: ID!) { client(id: $c) { entries { items { entryId } } } }"
    for person in (NURSE, SOCIAL_WORKER, GP, NURSE):
        gov.gql(gov.token(person), read, c=client)
    gov.gql(
        gov.token(SOCIAL_WORKER),
        "query($c: ID!) { involvement(clientId: $c) { agencies { agencyCode } } }",
        c=client,
    )
    gov.gql(
        gov.token(POLICE), "query($n: String!) { findClient(nhsNumber: $n) { clientId } }", n=nhs
    )
    gov.get("/feed?limit=100", gov.agency_token(NURSE.agency_id))
    token = gov.client_token(client)
    gov.gql(token, MY_RECORD)
    head = gov.access_head()
    recorded = [r for r in gov.access_records()[:head] if r.client_id == client]
    assert {r.action for r in recorded} >= {
        "record.read",
        "involvement.read",
        "client.lookup",
        "feed.page",
        "subject_access.record",
    }
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = gov.gql(token, MY_LOG, first=3, after=after)["myAccessLog"]
        seen += page["items"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # Each page was itself recorded; the log seen is exactly the records before the first.
    assert [(i["at"], i["action"]) for i in seen] == [
        (r.at.isoformat(), r.action) for r in reversed(recorded)
    ]
    lookup = next(i for i in seen if i["action"] == "client.lookup")
    assert lookup["description"].startswith("A police officer from Shires Police looked you up")
    pages = [r for r in gov.access_records(after=head) if r.client_id == client]
    assert pages
    assert {r.action for r in pages} == {"subject_access.access_log"}
    export_mark = gov.access_head()
    document = gov.get("/subject-access/export.json", token).json()
    before_export = [r for r in gov.access_records()[:export_mark] if r.client_id == client]
    assert len(document["access_log"]) == len(before_export)
    text = str(document["access_log"])
    for name in ("Nurse Ann Surname", "Pc Ian Surname", NURSE.practitioner_id):
        assert name not in text


def test_the_persons_reads_are_audited_and_replay_exactly(gov: GovStack) -> None:
    client = care_team_client(gov.app, gov.clock(), family_name="Replayed")
    gov.wait_for_views()
    token = gov.client_token(client)
    mark = gov.access_head()
    gov.gql(token, MY_RECORD)
    gov.get("/subject-access/export.json", token)
    gov.get("/subject-access/export.html", token)
    records = gov.access_records(after=mark)
    assert [r.action for r in records] == [
        "subject_access.record",
        "subject_access.export",
        "subject_access.export_log",
        "subject_access.export",
        "subject_access.export_log",
    ]
    for record in records:
        assert (record.viewer_kind, record.client_id) == ("client", client)
        assert (record.purpose, record.basis) == ("subject_access", "subject_access")
        if record.action != "subject_access.export_log":
            assert reconstruct(gov.app, record).outcome is Outcome.MATCH


def test_only_the_person_gets_their_export(gov: GovStack) -> None:
    client = care_team_client(gov.app, gov.clock(), family_name="Mine")
    someone_else = register(gov.app, family_name="Theirs")
    note(gov.app, someone_else, GP, "History", at=gov.clock())
    gov.wait_for_views()
    mark = gov.access_head()
    for token in (gov.token(NURSE), gov.agency_token(NURSE.agency_id)):
        refused = gov.get("/subject-access/export.json", token)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["code"] == "NOT_PERMITTED"
    assert gov.get("/subject-access/export.html", None).status_code == 401
    assert gov.access_head() == mark
    mine = gov.get("/subject-access/export.json", gov.client_token(client)).json()
    assert someone_else not in str(mine)
    assert mine["person"]["client_id"] == client
