"""The access audit index: through GraphQL and the CLI, by client, practitioner, agency,
basis, purpose, action and time - exactly the access log's records, paged without gaps or
repeats, rebuilt from the log to the same rows."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from gov_stack import GovStack, cli_env
from gov_world import AUDITOR, GP, HEALTH_IG, NURSE, SECRET, SOCIAL_WORKER, care_team_client
from typer.testing import CliRunner

from carerecord.access_log import AccessRecord
from entrypoint.cli import app as cli
from projections.audit.registry import rebuild_audit

READ = "query($c: ID!) { client(id: $c) { entries { items { entryId } } } }"
AUDIT = """query($f: AccessAuditFilter, $first: Int, $after: String) {
  accessAudit(filter: $f, first: $first, after: $after) {
    items { accessId position at action practitionerId agency profession purpose basis
            entryBases clientId itemCount sourceAgencies }
    pageInfo { endCursor hasNextPage }
    indexedUpTo
  }
}"""


@pytest.fixture(scope="module")
def scene(gov: GovStack) -> dict[str, Any]:
    """Two clients read by several practitioners, on two days three days apart."""
    first = care_team_client(gov.app, gov.clock(), family_name="IndexOne")
    second = care_team_client(gov.app, gov.clock(), family_name="IndexTwo")
    gov.wait_for_views()
    mark = gov.access_head()
    for person in (NURSE, SOCIAL_WORKER, GP):
        gov.gql(gov.token(person), READ, c=first)
    gov.gql(gov.token(NURSE), READ, c=second)
    split = gov.clock()
    gov.clock.advance(days=3)
    for person in (GP, NURSE):
        gov.gql(gov.token(person), READ, c=first)
    gov.wait_for_index()
    return {"first": first, "second": second, "split": split, "mark": mark}


def _all(gov: GovStack, token: str, f: dict[str, Any], first: int = 100) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        page = gov.gql(token, AUDIT, f=f, first=first, after=after)["accessAudit"]
        items += page["items"]
        if not page["pageInfo"]["hasNextPage"]:
            return items
        after = page["pageInfo"]["endCursor"]


def _ids(records: list[AccessRecord]) -> list[str]:
    return [r.access_id for r in reversed(records)]  # newest first


def test_by_client_practitioner_agency_and_time_it_lists_exactly_the_logs_records(
    gov: GovStack, scene: dict[str, Any]
) -> None:
    token = gov.token(AUDITOR)
    log = gov.access_records()[: gov.access_head()]
    first = scene["first"]
    by_client = _all(gov, token, {"clientId": first})
    assert [i["accessId"] for i in by_client] == _ids([r for r in log if r.client_id == first])
    by_nurse = _all(gov, token, {"practitionerId": NURSE.practitioner_id})
    assert [i["accessId"] for i in by_nurse] == _ids(
        [r for r in log if r.practitioner_id == NURSE.practitioner_id]
    )
    by_agency = _all(gov, token, {"agency": "adult-care", "clientId": first})
    assert {i["practitionerId"] for i in by_agency} == {SOCIAL_WORKER.practitioner_id}
    split = scene["split"].isoformat()
    before = _all(gov, token, {"clientId": first, "to": split})
    after = _all(gov, token, {"clientId": first, "from": split})
    assert len(before) == 3
    assert len(after) >= 2
    assert {i["accessId"] for i in before}.isdisjoint({i["accessId"] for i in after})
    reads = _all(gov, token, {"clientId": first, "action": "record.read", "purpose": "DIRECT_CARE"})
    assert len(reads) == 5
    for item in reads:
        assert item["basis"] == "care_relationship"
        assert item["itemCount"] > 0
        assert item["sourceAgencies"]
        assert item["entryBases"]
    assert SECRET not in str(by_client)


def test_by_basis_it_finds_the_entry_level_bases(gov: GovStack, scene: dict[str, Any]) -> None:
    token = gov.token(HEALTH_IG)
    first = scene["first"]
    consent = _all(gov, token, {"clientId": first, "basis": "consent"})
    controller = _all(gov, token, {"clientId": first, "basis": "controller"})
    everything = _all(gov, token, {"clientId": first, "action": "record.read"})
    assert consent
    assert controller
    for item in everything:
        assert (item in consent) == ("consent" in item["entryBases"])
    assert _all(gov, token, {"clientId": first, "basis": "break_glass"}) == []
    standing = _all(gov, token, {"clientId": first, "basis": "care_relationship"})
    assert {i["accessId"] for i in everything} <= {i["accessId"] for i in standing}


def test_pages_have_no_gaps_or_repeats_and_cursors_are_the_callers_own(
    gov: GovStack, scene: dict[str, Any]
) -> None:
    token = gov.token(AUDITOR)
    gov.wait_for_index()
    window = {"to": gov.clock().isoformat()}  # the audit reads below come after it
    whole = _all(gov, token, window, first=100)
    paged = _all(gov, token, window, first=3)
    assert len(whole) > 6
    assert [i["accessId"] for i in paged] == [i["accessId"] for i in whole]
    assert len({i["accessId"] for i in paged}) == len(paged)
    page = gov.gql(token, AUDIT, f={}, first=2)["accessAudit"]
    foreign = gov.post(
        gov.token(HEALTH_IG), AUDIT, f={}, first=2, after=page["pageInfo"]["endCursor"]
    )
    assert foreign["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


def test_who_saw_and_what_saw_from_the_command_line(gov: GovStack, scene: dict[str, Any]) -> None:
    gov.wait_for_index()  # nothing is recorded while the commands run
    runner = CliRunner()
    env = cli_env(gov.settings)
    first = scene["first"]
    saw = runner.invoke(cli, ["audit", "who-saw", "--client", first, "--json"], env=env)
    assert saw.exit_code == 0, saw.output
    data = orjson.loads(saw.output)
    logged = [r for r in gov.access_records()[: data["indexed_up_to"]] if r.client_id == first]
    assert [a["access_id"] for a in data["accesses"]] == [r.access_id for r in logged]
    what = runner.invoke(
        cli,
        [
            "audit",
            "what-saw",
            "--practitioner",
            GP.practitioner_id,
            "--from",
            scene["split"].isoformat(),
            "--json",
        ],
        env=env,
    )
    assert what.exit_code == 0, what.output
    rows = orjson.loads(what.output)["accesses"]
    assert [a["client_id"] for a in rows] == [first]
    table = runner.invoke(cli, ["audit", "who-saw", "--client", first], env=env)
    assert table.exit_code == 0
    assert SECRET not in table.output
    assert f"{len(data['accesses'])} accesses." in table.output
    bad = runner.invoke(cli, ["audit", "who-saw", "--client", first, "--from", "March"], env=env)
    assert bad.exit_code == 2


def test_a_rebuilt_index_equals_the_one_built_as_the_log_grew(
    gov: GovStack, scene: dict[str, Any]
) -> None:
    tasks = gov.tasks
    assert tasks.runner is not None
    gov.wait_for_index()
    tasks.runner.stop()
    try:
        db = gov.services.databases.access

        def rows() -> list[tuple[Any, ...]]:
            with db.snapshot() as tx:
                return (
                    tx.fetchall("SELECT * FROM ai_accesses ORDER BY position")
                    + tx.fetchall("SELECT * FROM ai_bases ORDER BY position, basis")
                    + tx.fetchall("SELECT * FROM ua_reads ORDER BY 1, 2, 3, 4, 5")
                    + tx.fetchall("SELECT * FROM ua_flow ORDER BY 1, 2, 3, 4")
                )

        built = rows()
        report = rebuild_audit(gov.app, db)
        assert report.events == gov.access_head()
        assert rows() == built
        result = CliRunner().invoke(cli, ["rebuild", "access_index"], env=cli_env(gov.settings))
        assert result.exit_code == 0, result.output
        assert rows() == built
    finally:
        tasks.runner.start()
