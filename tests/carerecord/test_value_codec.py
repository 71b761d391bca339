"""The one codec of stored values: sets sorted, old records without an optional field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carerecord.values import AudienceSelector, CareRelationship, ConsentScope
from carerecord.vocab import Purpose, Sector


def test_sets_are_stored_sorted_whatever_their_order() -> None:
    scope = ConsentScope(
        categories=frozenset(["risk", "housing", "mobility"]),
        audience=AudienceSelector(sectors=frozenset([Sector.POLICE, Sector.HEALTH])),
        purposes=frozenset([Purpose.EMERGENCY, Purpose.DIRECT_CARE]),
    )
    data = scope.to_json()
    assert data["categories"] == ["housing", "mobility", "risk"]
    assert data["audience"]["sectors"] == ["health", "police"]
    assert data["purposes"] == ["direct_care", "emergency"]
    assert list(data) == ["categories", "audience", "purposes"]  # declaration order
    assert ConsentScope.from_json(data) == scope


def test_a_record_without_an_optional_field_decodes_with_it_none() -> None:
    data = {
        "relationship_id": "r1",
        "agency_id": "north-gp",
        "reason": "registered patient",
        "started_by": "gp-1",
        "started_at": "2026-01-15T09:45:00+00:00",
    }
    relationship = CareRelationship.from_json(data)
    assert relationship.practitioner_id is None
    assert relationship.team_id is None
    assert relationship.profession is None
    assert relationship.started_at == datetime(2026, 1, 15, 9, 45, tzinfo=UTC)
    assert "profession" not in data  # the caller's dict is not changed


def test_an_unknown_enum_value_is_refused() -> None:
    data = AudienceSelector(sectors=frozenset([Sector.HEALTH])).to_json()
    data["sectors"] = ["astrology"]
    with pytest.raises((KeyError, ValueError)):
        AudienceSelector.from_json(data)
