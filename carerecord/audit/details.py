"""What a recorded read returned, entry by entry: whose entries, and on which basis each.

An access record names the entries (and versions) a read returned and the versions it
rested on, not why each entry could be shown. ``ReadDetails`` recovers that from the
event log, for the audit index and the usage figures:

- each returned entry's labels as written (contributing agency, sector, profession,
  category) - labels are fixed at write time, so the client's stream up to the
  entry's version says them exactly;
- each entry's read-time basis (``consent``, ``implied_consent``, ``controller``,
  ``safeguarding``, ``vital_interests``, ``legal_obligation``, ``break_glass``,
  ``subject_access``, ``audit``): the sharing policy's decision with exactly the
  inputs the read used - the client's sharing state at ``state_version``, the
  caller's standing then at the time of the read, the protocol version the access
  recorded - which is how the read path rendered it (``carerecord.slice.share``).

Records without versions (lookups, lists, audit reads) get the labels only. Nothing
here reads the write model's current state: only the append-only log, up to the
versions the access record names, so the result never changes (rebuilds equal
incremental builds).

Reads of the same client follow each other in the access log with growing versions;
the engine keeps, per recently seen client, the decoded stream, the labels folded so
far and the aggregate replayed to the last version asked for, and continues from
there (an older version replays afresh).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from carerecord import errors
from carerecord.access_log import AccessRecord
from carerecord.application import CareRecord
from carerecord.audit.reconstruct import TimeTravel
from carerecord.audit.replay import Moment, client_events
from carerecord.client_record import labels_of
from carerecord.ids import parse_client_id
from carerecord.memory import BoundedCache, events_bytes
from carerecord.policy import decide_many, relationship_for, viewer_key
from carerecord.values import Labels
from carerecord.vocab import Purpose, Role, ViewerKind


@dataclass(frozen=True)
class ItemDetail:
    """One entry a read returned: its labels, and the basis it was shown on (if known)."""

    entry_id: str
    version: int
    agency_id: str
    sector: str
    profession: str
    category: str
    basis: str | None


@dataclass(frozen=True)
class AccessDetail:
    """A recorded read, entry by entry."""

    access_id: str
    items: tuple[ItemDetail, ...] = ()
    complete: bool = True
    """False when some returned entry could not be found in the log (never expected)."""

    @property
    def entry_bases(self) -> frozenset[str]:
        return frozenset(i.basis for i in self.items if i.basis is not None)

    @property
    def source_agencies(self) -> frozenset[str]:
        return frozenset(i.agency_id for i in self.items)

    def bases(self, record: AccessRecord) -> frozenset[str]:
        """Every basis the access rests on: the record's own and its entries'."""
        return self.entry_bases | {record.basis}


CACHE_BYTES = 16 * 1024 * 1024
"""Budget of the per-client cache (decoded streams grow with every entry written)."""
RECENT_BYTES = 8 * 1024 * 1024
RECENT_ITEMS = 4096


def detail_bytes(detail: AccessDetail) -> int:
    return 200 + 160 * len(detail.items)


@dataclass
class _Client:
    events: list[Any] = field(default_factory=list)
    labels: dict[str, Labels] = field(default_factory=dict)
    folded: int = 0
    record: Any = None
    version: int = 0
    weight: int = 0
    """``events_bytes(events)``, kept up to date as the stream is extended."""


class ReadDetails:
    """Recovers the entry-level detail of recorded reads (keep one per process)."""

    def __init__(
        self, app: CareRecord, *, cached_clients: int = 512, cache_bytes: int = CACHE_BYTES
    ) -> None:
        self.app = app
        self.cached_clients = cached_clients
        self.engine = TimeTravel(app)
        # Bounded by bytes as well as count: a client's stream grows with every entry,
        # so 512 clients' streams alone would grow with the data (measured: the worker's
        # largest growth over a soak before this bound).
        self._clients: BoundedCache[UUID, _Client] = BoundedCache(
            max_items=cached_clients, max_bytes=cache_bytes, weigh=lambda c: c.weight
        )
        self._recent: BoundedCache[str, AccessDetail] = BoundedCache(
            max_items=RECENT_ITEMS, max_bytes=RECENT_BYTES, weigh=detail_bytes
        )

    def forget(self) -> None:
        self._clients.clear()
        self._recent.clear()

    def details(self, access: AccessRecord) -> AccessDetail:
        """The entries ``access`` returned, with their labels and read-time bases."""
        known = self._recent.get(access.access_id)
        if known is not None:
            return known
        found = self._details(access)
        self._recent.put(access.access_id, found)
        return found

    def _details(self, access: AccessRecord) -> AccessDetail:
        if not access.items or access.client_id is None:
            return AccessDetail(access.access_id)
        try:
            cid = parse_client_id(access.client_id)
            client = self._client(cid, max(v for _, v in access.items))
        except errors.CareRecordError:
            return AccessDetail(access.access_id, complete=False)
        decided = self._decisions(access, cid, client)
        items = []
        complete = True
        for entry_id, version in access.items:
            labels = client.labels.get(entry_id)
            if labels is None:
                complete = False
                continue
            items.append(
                ItemDetail(
                    entry_id=entry_id,
                    version=version,
                    agency_id=labels.agency_id,
                    sector=labels.sector.value,
                    profession=labels.profession,
                    category=labels.category,
                    basis=decided.get(entry_id),
                )
            )
        return AccessDetail(access.access_id, tuple(items), complete)

    def _client(self, cid: UUID, upto: int) -> _Client:
        """The client's cached state, with its stream read (and labels folded) to ``upto``."""
        client = self._clients.get(cid)
        if client is None:
            client = _Client(events=client_events(self.app, cid, lte=upto))
            client.weight = events_bytes(client.events)
        elif len(client.events) < upto:
            more = list(self.app.events.get(cid, gt=len(client.events), lte=upto))
            client.events.extend(more)
            client.weight += events_bytes(more)
        self._clients.put(cid, client)
        for event in client.events[client.folded : upto]:
            labels = labels_of(event)
            if labels is not None:
                client.labels.setdefault(labels.entry_id, labels)
        client.folded = max(client.folded, min(upto, len(client.events)))
        return client

    def _decisions(self, access: AccessRecord, cid: UUID, client: _Client) -> dict[str, str]:
        """Each returned entry's read-time basis (empty if the read cannot be re-decided)."""
        version, protocol_version = access.state_version, access.protocol_version
        if version is None or protocol_version is None or version < 1:
            return {}
        try:
            purpose = Purpose(access.purpose)
            kind = ViewerKind(access.viewer_kind)
            roles = frozenset(Role(r) for r in access.roles)
        except ValueError:
            return {}
        adopted = self.engine.protocols.version(protocol_version)
        if adopted is None:  # adopted since we last looked (versions never change)
            self.engine.protocols.refresh()
            adopted = self.engine.protocols.version(protocol_version)
        if adopted is None:
            return {}
        record = self._state_at(cid, client, version)
        if record is None:
            return {}
        state = record.sharing_state()
        moment = Moment(
            version,
            client.events[version - 1].timestamp,
            state,
            tuple(record.relationships.values()),
            tuple(record.grants.values()),
        )
        viewer = self.engine._viewer(access, kind, roles, str(cid), moment)
        standing = relationship_for(
            viewer, str(cid), moment.relationships, moment.grants, access.at
        )
        wanted = [
            (entry_id, labels)
            for entry_id, _ in access.items
            if (labels := client.labels.get(entry_id)) is not None
        ]
        decisions = decide_many(
            viewer_key(viewer),
            purpose,
            (labels for _, labels in wanted),
            state,
            standing,
            adopted.protocol,
            access.at,
        )
        found: dict[str, str] = {}
        for (entry_id, _), decision in zip(wanted, decisions, strict=True):
            if decision.allowed and decision.basis is not None:
                found[entry_id] = decision.basis
        return found

    def _state_at(self, cid: UUID, client: _Client, version: int) -> Any:
        """The client's aggregate replayed to ``version`` (continuing the cached replay)."""
        if len(client.events) < version:
            client.events.extend(self.app.events.get(cid, gt=len(client.events), lte=version))
        if len(client.events) < version:
            return None
        if client.record is None or client.version > version:
            client.record, client.version = None, 0
        for event in client.events[client.version : version]:
            client.record = event.mutate(client.record)
        client.version = version
        return client.record
