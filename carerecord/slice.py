"""What a caller is shown of a client's record: entries, curated by the policy, rendered.

This is the single definition of (1) what an entry currently says, folded from the
client's events (recorded, amended, entered in error; alerts raised and resolved),
(2) how an entry is shown to a caller once the policy has decided (redactions
applied), and (3) the canonical bytes and hash of a slice. The curated views build
their rows with ``fold_entry``; the API hashes what it returns with
``slice_hash``; auditors reconstruct a past read by replaying the stream through
``curate`` and compare hashes. If any of these drifted apart, reconstruction would
stop matching, so they live together here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from carerecord.client_record import ClientRecord
from carerecord.policy import Decision, SharingState, ViewerKey, ViewerRelationship, decide_many
from carerecord.protocol import Protocol
from carerecord.values import Labels
from carerecord.vocab import Purpose

CONTRIBUTION = "contribution"
ALERT = "alert"


@dataclass(frozen=True, slots=True)
class EntryState:
    """The current content of one entry (a contribution or an alert) of a client's record."""

    labels: Labels
    kind: str
    text: str
    version: int
    recorded_at: datetime
    amended: bool = False
    amended_at: datetime | None = None
    in_error: bool = False
    alert_kind: str | None = None
    severity: str | None = None
    resolved: bool = False


def fold_entry(entries: Mapping[str, EntryState], event: Any) -> EntryState | None:
    """The new state of the entry ``event`` touches, or None if it touches no entry.

    ``entries`` holds the current states of the client's entries (by entry id).
    Events are the client's own, in stream order.
    """
    if isinstance(event, ClientRecord.ContributionRecorded):
        return EntryState(
            labels=event.labels,
            kind=CONTRIBUTION,
            text=event.text,
            version=event.originator_version,
            recorded_at=event.timestamp,
        )
    if isinstance(event, ClientRecord.AlertRaised):
        return EntryState(
            labels=event.labels,
            kind=ALERT,
            text=event.summary,
            version=event.originator_version,
            recorded_at=event.timestamp,
            alert_kind=event.kind,
            severity=event.severity,
        )
    if isinstance(event, ClientRecord.ContributionAmended):
        return replace(
            entries[event.entry_id],
            text=event.text,
            version=event.originator_version,
            amended=True,
            amended_at=event.timestamp,
        )
    if isinstance(event, ClientRecord.ContributionEnteredInError):
        return replace(entries[event.entry_id], version=event.originator_version, in_error=True)
    if isinstance(event, ClientRecord.AlertResolved):
        return replace(entries[event.alert_id], version=event.originator_version, resolved=True)
    return None


def fold_entries(events: Iterable[Any]) -> dict[str, EntryState]:
    """All entries of a client, as of the last of ``events`` (the client's stream, in order)."""
    entries: dict[str, EntryState] = {}
    for event in events:
        changed = fold_entry(entries, event)
        if changed is not None:
            entries[changed.labels.entry_id] = changed
    return entries


@dataclass(frozen=True, slots=True)
class SharedEntry:
    """One entry as shown to one caller: the policy's decision applied, redactions blanked."""

    entry_id: str
    kind: str
    version: int
    agency_id: str
    sector: str
    author_id: str | None
    profession: str
    category: str
    heading: str | None
    sensitivity: str
    lawful_basis: str
    occurred_at: datetime
    recorded_at: datetime
    text: str
    amended: bool
    alert_kind: str | None
    severity: str | None
    resolved: bool
    basis: str
    rule: str

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "kind": self.kind,
            "version": self.version,
            "agency_id": self.agency_id,
            "sector": self.sector,
            "author_id": self.author_id,
            "profession": self.profession,
            "category": self.category,
            "heading": self.heading,
            "sensitivity": self.sensitivity,
            "lawful_basis": self.lawful_basis,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "text": self.text,
            "amended": self.amended,
            "alert_kind": self.alert_kind,
            "severity": self.severity,
            "resolved": self.resolved,
            "basis": self.basis,
            "rule": self.rule,
        }


def share(entry: EntryState, decision: Decision) -> SharedEntry:
    """Render an entry for a caller the policy allowed, applying the decision's redactions."""
    if not decision.allowed or decision.basis is None:
        raise ValueError("share() needs an allowing decision")
    labels = entry.labels
    return SharedEntry(
        entry_id=labels.entry_id,
        kind=entry.kind,
        version=entry.version,
        agency_id=labels.agency_id,
        sector=labels.sector.value,
        author_id=None if "author" in decision.redactions else labels.author_id,
        profession=labels.profession,
        category=labels.category,
        heading=None if "heading" in decision.redactions else labels.heading,
        sensitivity=labels.sensitivity.value,
        lawful_basis=labels.lawful_basis.value,
        occurred_at=labels.occurred_at,
        recorded_at=entry.recorded_at,
        text=entry.text,
        amended=entry.amended,
        alert_kind=entry.alert_kind,
        severity=entry.severity,
        resolved=entry.resolved,
        basis=decision.basis,
        rule=decision.rule,
    )


def curate(
    entries: Iterable[EntryState],
    *,
    viewer: ViewerKey,
    purpose: Purpose,
    relationship: ViewerRelationship,
    state: SharingState,
    protocol: Protocol,
    now: datetime | None,
) -> list[SharedEntry]:
    """The entries a viewer (by the policy's key of them) may see, shown as the policy
    decides, in slice order.

    Entries entered in error are never shown (they stay in the log).
    """
    kept = [entry for entry in entries if not entry.in_error]
    decisions = decide_many(
        viewer, purpose, (e.labels for e in kept), state, relationship, protocol, now
    )
    return sort_slice(share(e, d) for e, d in zip(kept, decisions, strict=True) if d.allowed)


def sort_slice(entries: Iterable[SharedEntry]) -> list[SharedEntry]:
    """Slice order: by clinical time, then entry id (stable across stores)."""
    return sorted(entries, key=lambda e: (e.occurred_at, e.entry_id))


def slice_bytes(entries: Iterable[SharedEntry]) -> bytes:
    """Canonical bytes of a slice (sorted keys, slice order)."""
    return orjson.dumps([e.to_json() for e in sort_slice(entries)], option=orjson.OPT_SORT_KEYS)


def slice_hash(entries: Iterable[SharedEntry]) -> str:
    """SHA-256 (hex) of a slice's canonical bytes: what the access log records."""
    return hashlib.sha256(slice_bytes(entries)).hexdigest()
