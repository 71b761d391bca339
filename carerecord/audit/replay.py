"""Replaying the log: the protocol's versions over time, and a client's stream.

Shared by the time-travel engine (``reconstruct``) and the auditor's "as of" view.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from carerecord import errors
from carerecord.application import CareRecord
from carerecord.client_record import ClientRecord
from carerecord.policy import SharingState
from carerecord.protocol import Protocol, parse_protocol
from carerecord.sharing_protocol import SharingProtocol
from carerecord.values import BreakGlassGrant, CareRelationship

# --- the protocol's history ----------------------------------------------------------------


@dataclass(frozen=True)
class AdoptedVersion:
    version: int
    recorded_at: datetime
    protocol: Protocol


class ProtocolHistory:
    """Every adopted version of the partnership's protocol and when it was recorded.

    Loaded once and topped up (one cheap read) on ``refresh``; each version's
    document is parsed once.
    """

    def __init__(self, app: CareRecord) -> None:
        self._app = app
        self._id = SharingProtocol.id_for(app.partnership)
        self._seen = 0
        self._adopted: list[AdoptedVersion] = []
        self._times: list[datetime] = []
        self._by_version: dict[int, AdoptedVersion] = {}

    def refresh(self) -> None:
        for event in self._app.events.get(self._id, gt=self._seen or None):
            self._seen = event.originator_version
            if isinstance(event, SharingProtocol.VersionAdopted):
                adopted = AdoptedVersion(
                    event.version, event.timestamp, parse_protocol(event.document)
                )
                self._adopted.append(adopted)
                self._times.append(event.timestamp)
                self._by_version[event.version] = adopted

    def version(self, number: int) -> AdoptedVersion | None:
        return self._by_version.get(number)

    def in_force_at(self, at: datetime) -> AdoptedVersion | None:
        """The last version whose adoption was recorded at or before ``at``."""
        index = bisect.bisect_right(self._times, at)
        return self._adopted[index - 1] if index else None


# --- replaying a client's stream -----------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """What the client's record said at one version (the parts the policy reads)."""

    version: int
    recorded_at: datetime
    state: SharingState
    relationships: tuple[CareRelationship, ...]
    grants: tuple[BreakGlassGrant, ...]


def replay(events: Iterable[Any], versions: Iterable[int]) -> dict[int, Moment]:
    """Replay a client's events once through the aggregate, capturing the given versions."""
    wanted = set(versions)
    record: Any = None
    moments: dict[int, Moment] = {}
    for event in events:
        record = event.mutate(record)
        version = event.originator_version
        if version in wanted:
            moments[version] = Moment(
                version,
                event.timestamp,
                record.sharing_state(),
                tuple(record.relationships.values()),
                tuple(record.grants.values()),
            )
    return moments


def client_events(app: CareRecord, client_id: UUID, lte: int | None = None) -> list[Any]:
    events = list(app.events.get(client_id, lte=lte))
    if not events or not isinstance(events[0], ClientRecord.Registered):
        raise errors.ClientNotFound()
    return events
