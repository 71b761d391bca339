"""Refused attempts are evidence: an information-governance officer finds them in the
access audit (GraphQL and ``carerecord audit who-saw``) and counted per caller and code in
the usage figures - apart from reads, which they are not."""

from __future__ import annotations

from uuid import uuid4

import orjson
from gov_stack import GovStack, cli_env
from gov_world import AUDITOR, HEALTH_IG, HOUSING, NURSE, care_team_client
from typer.testing import CliRunner

from entrypoint.cli import app as cli

READ = "query($c: ID!) { client(id: $c) { entries { items { entryId } } } }"
AUDIT = """query($f: AccessAuditFilter) {
  accessAudit(filter: $f, first: 100) {
    items { action practitionerId clientId itemCount outcome refusal purpose }
  }
}"""
USAGE = """{ usageReport {
  reads { agency profession count }
  refusedAttempts { practitionerId agency refusal attempts viewerKind }
} }"""


def test_repeated_refusals_by_one_caller_are_visible_to_governance(gov: GovStack) -> None:
    client = care_team_client(gov.app, gov.clock(), family_name="Probed")
    gov.wait_for_views()
    usage_before = gov.gql(gov.token(HEALTH_IG), USAGE)["usageReport"]
    housing = gov.token(HOUSING)  # no relationship with anyone
    probes = [client, str(uuid4()), str(uuid4())]
    for probe in probes:
        body = gov.post(housing, READ, c=probe)
        assert body["errors"][0]["extensions"]["code"] == "CLIENT_NOT_FOUND"
    gov.gql(gov.token(NURSE), READ, c=client)  # one read that shows something
    gov.wait_for_index()

    refused = gov.gql(
        gov.token(AUDITOR),
        AUDIT,
        f={"practitionerId": HOUSING.practitioner_id, "outcome": "REFUSED"},
    )["accessAudit"]["items"]
    assert sorted(i["clientId"] for i in refused) == sorted(probes)
    assert {(i["outcome"], i["refusal"], i["itemCount"], i["action"]) for i in refused} == {
        ("REFUSED", "CLIENT_NOT_FOUND", 0, "query.client")
    }
    shown = gov.gql(gov.token(AUDITOR), AUDIT, f={"clientId": client, "outcome": "SHOWN"})
    assert all(i["outcome"] == "SHOWN" for i in shown["accessAudit"]["items"])
    assert NURSE.practitioner_id in {i["practitionerId"] for i in shown["accessAudit"]["items"]}
    by_code = gov.gql(gov.token(AUDITOR), AUDIT, f={"refusal": "CLIENT_NOT_FOUND"})
    assert len(by_code["accessAudit"]["items"]) >= 3

    usage = gov.gql(gov.token(HEALTH_IG), USAGE)["usageReport"]

    def attempts(report: dict[str, object]) -> int:
        rows = report["refusedAttempts"]
        assert isinstance(rows, list)
        return sum(
            r["attempts"]
            for r in rows
            if r["practitionerId"] == HOUSING.practitioner_id and r["refusal"] == "CLIENT_NOT_FOUND"
        )

    def housing_reads(report: dict[str, object]) -> int:
        rows = report["reads"]
        assert isinstance(rows, list)
        return sum(r["count"] for r in rows if r["agency"] == HOUSING.agency_id)

    assert attempts(usage) - attempts(usage_before) == 3
    assert housing_reads(usage) == housing_reads(usage_before)  # refusals are not reads

    env = cli_env(gov.settings)  # the store the API writes to
    saw = CliRunner().invoke(cli, ["audit", "who-saw", "--client", client, "--json"], env=env)
    assert saw.exit_code == 0, saw.output
    accesses = orjson.loads(saw.stdout)["accesses"]
    mine = [a for a in accesses if a["practitioner_id"] == HOUSING.practitioner_id]
    assert [(a["outcome"], a["refusal"]) for a in mine] == [("refused", "CLIENT_NOT_FOUND")]
