"""The reach matrix through the API, for the partnership board: exactly what the policy
decides for the protocol in force (``carerecord.policy.reach``), categories only."""

from __future__ import annotations

from gov_stack import GovStack
from gov_world import AUDITOR, HEALTH_IG

from carerecord.policy.reach import reach_matrix

REACH = """{ protocolReach { version professions {
  profession sector purpose withConsent withoutConsent underBreakGlass } } }"""


def test_the_reach_matrix_is_the_policys_answer_for_the_protocol_in_force(
    gov: GovStack,
) -> None:
    protocol = gov.app.protocol()
    shown = gov.gql(gov.token(HEALTH_IG), REACH)["protocolReach"]
    assert shown["version"] == protocol.version
    expected = [
        {
            "profession": r.profession,
            "sector": r.sector.value,
            "purpose": r.purpose.value,
            "withConsent": sorted(r.with_consent),
            "withoutConsent": sorted(r.without_consent),
            "underBreakGlass": sorted(r.under_break_glass),
        }
        for r in reach_matrix(protocol)
    ]
    assert shown["professions"] == expected
    assert len(expected) == len(protocol.professions) * len(protocol.purposes)
    # An auditor sees the same; nothing about any client is in it.
    assert gov.gql(gov.token(AUDITOR), REACH)["protocolReach"] == shown
