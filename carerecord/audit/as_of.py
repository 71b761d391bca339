"""The auditor's plain "as of" view of a client's record (built by ``TimeTravel``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carerecord.slice import EntryState
from carerecord.values import BreakGlassGrant, CareRelationship, ConsentDecision, Restriction


@dataclass(frozen=True)
class RecordAsOf:
    """A client's record as it stood at a time, for an auditor (the whole record)."""

    client_id: str
    at: datetime
    version: int
    """The stream version as of ``at`` (the last event recorded at or before it)."""
    recorded_at: datetime
    protocol_version: int | None
    entries: tuple[EntryState, ...]
    """Every entry (entered-in-error ones flagged), in slice order."""
    consents: tuple[ConsentDecision, ...]
    consents_in_force: frozenset[str]
    """Ids of the consent decisions in force at ``at`` (decided, not expired)."""
    restrictions: tuple[Restriction, ...]
    relationships: tuple[CareRelationship, ...]
    grants: tuple[BreakGlassGrant, ...]
    grants_active: frozenset[str]

    def to_json(self, *, show_text: bool = False) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "at": self.at.isoformat(),
            "version": self.version,
            "recorded_at": self.recorded_at.isoformat(),
            "protocol_version": self.protocol_version,
            "entries": [entry_json(e, show_text=show_text) for e in self.entries],
            "consents": [
                dict(c.to_json(), in_force=c.consent_id in self.consents_in_force)
                for c in self.consents
            ],
            "restrictions": [r.to_json() for r in self.restrictions],
            "relationships": [
                {k: v for k, v in r.to_json().items() if k != "reason"} for r in self.relationships
            ],
            "break_glass_grants": [
                dict(g.to_json(), active=g.grant_id in self.grants_active) for g in self.grants
            ],
        }


def entry_json(entry: EntryState, *, show_text: bool) -> dict[str, Any]:
    """An entry's labels and flags; its text only when asked for."""
    data: dict[str, Any] = {
        "entry_id": entry.labels.entry_id,
        "kind": entry.kind,
        "version": entry.version,
        "agency_id": entry.labels.agency_id,
        "author_id": entry.labels.author_id,
        "profession": entry.labels.profession,
        "category": entry.labels.category,
        "sensitivity": entry.labels.sensitivity.value,
        "lawful_basis": entry.labels.lawful_basis.value,
        "occurred_at": entry.labels.occurred_at.isoformat(),
        "recorded_at": entry.recorded_at.isoformat(),
        "amended": entry.amended,
        "in_error": entry.in_error,
        "resolved": entry.resolved,
    }
    if show_text:
        data["heading"] = entry.labels.heading
        data["text"] = entry.text
    return data


def sort_entries(entries: Iterable[EntryState]) -> list[EntryState]:
    """Entries in slice order (clinical time, then entry id)."""
    return sorted(entries, key=lambda e: (e.labels.occurred_at, e.labels.entry_id))
