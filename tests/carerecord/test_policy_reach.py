"""The reach report: which categories each profession reaches per purpose, with consent,
without it and under break-glass, and what a proposed version changes - as ``decide``
decides, compared with the protocol document's own matrix."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_cases import document, practitioner, protocol
from typer.testing import CliRunner

from carerecord.policy import viewer_key
from carerecord.policy.reach import audience_reach, reach_changes, reach_matrix
from carerecord.vocab import Purpose, Sector
from entrypoint.cli import app as cli

DIRECT, EMERGENCY = Purpose.DIRECT_CARE, Purpose.EMERGENCY


def test_the_housing_officer_reaches_the_v3_matrix_and_no_medication_or_health() -> None:
    row = audience_reach(protocol(3), "housing_officer", DIRECT)
    assert row.with_consent == {
        "housing", "mobility", "equipment", "daily_living", "risk", "carers_and_family",
        "finances",
    }  # fmt: skip
    assert row.without_consent == {}  # housing is outside implied consent
    assert row.under_break_glass == frozenset()


def test_the_police_in_an_emergency_reach_the_crisis_plan_never_treatment() -> None:
    row = audience_reach(protocol(3), "police_officer", EMERGENCY)
    assert "crisis_plan" in row.with_consent
    assert not row.with_consent & {"mental_health", "medication", "physical_health"}
    assert row.under_break_glass == {"crisis_plan", "risk", "communication"}
    # Version 2: break-glass is a basis for every emergency category the police may see.
    old = audience_reach(protocol(2), "police_officer", EMERGENCY)
    assert {"mental_health", "carers_and_family"} <= old.under_break_glass


def test_implied_consent_is_reported_with_the_sectors_it_comes_from() -> None:
    row = audience_reach(protocol(3), "district_nurse", DIRECT)
    assert row.without_consent["medication"] == {Sector.HEALTH}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_no_profession_reaches_more_than_its_matrix_gives(version: int) -> None:
    rules = protocol(version)
    for row in reach_matrix(rules):
        viewer = viewer_key(practitioner(row.profession, "viewer-agency", sector=row.sector))
        bound = rules.need_to_know(viewer, row.purpose)
        reached = row.with_consent | set(row.without_consent) | row.under_break_glass
        assert bound is None or reached <= bound, row


def test_the_changes_from_v2_to_v3_are_the_intended_narrowing() -> None:
    changes = {(c.profession, c.purpose): c for c in reach_changes(protocol(2), protocol(3))}
    housing = changes["housing_officer", DIRECT]
    assert {"medication", "physical_health"} <= housing.loses_with_consent
    assert housing.gains_with_consent == frozenset()
    police = changes["police_officer", EMERGENCY]
    assert "crisis_plan" in police.gains_with_consent
    assert "mental_health" in police.loses_with_consent
    assert "carers_and_family" in police.loses_under_break_glass
    assert ("gp", DIRECT) in changes  # gains the new crisis-plan category
    assert changes["gp", DIRECT].loses_with_consent == frozenset()
    assert reach_changes(protocol(3), protocol(3)) == []


def test_the_cli_prints_the_reach_and_the_changes_against_the_version_in_force(
    tmp_path: Path,
) -> None:
    env = {"CARERECORD_DATA_DIR": str(tmp_path / "data"), "CARERECORD_DATABASE_URL": ""}
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"], env=env).exit_code == 0
    adopted = runner.invoke(cli, ["protocol", "adopt", "--bundled", "2"], env=env)
    assert adopted.exit_code == 0, adopted.output
    wide = {**env, "COLUMNS": "400"}

    reach = runner.invoke(cli, ["protocol", "reach", "--bundled", "3"], env=wide)
    assert reach.exit_code == 0, reach.output
    housing = next(line for line in reach.output.splitlines() if "housing_officer" in line)
    assert "housing" in housing
    assert "medication" not in housing

    changes = runner.invoke(cli, ["protocol", "changes", "--bundled", "3"], env=wide)
    assert changes.exit_code == 0, changes.output
    assert "Version 2 in force -> proposed version 3" in changes.output
    assert "housing_officer" in changes.output
    assert runner.invoke(cli, ["protocol", "show"], env=env).output.count("version 2") == 1

    unknown = runner.invoke(cli, ["protocol", "reach", "--bundled", "9"], env=env)
    assert unknown.exit_code == 2
    assert "INVALID_PROTOCOL" in unknown.output
    assert document(3)["version"] == 3
