"""Time travel: a client's record as of a past time, and the exact replay of a recorded read.

``reconstruct`` replays a read recorded in the access log, following the slice
contract (``docs/architecture.md``): what the read returned is the read-time
decision intersected with the curated view.

- The view part: the client's entries as of ``view_version``, curated with
  ``now=None`` under the sharing state at ``view_version`` and the protocol the view
  was built under, with the relationship the viewer's audience has (a care
  relationship; break-glass with the recorded grant; self for the client).

  Which protocol the view was built under is ``ViewProtocol``: by default the read's
  own ``protocol_version`` (``AT_READ``) - the read side re-curates the views when a
  protocol version is adopted and refuses reads (``VIEWS_BEHIND``) until they have
  caught up, so a served read's view was always built under the protocol in force
  at the read. ``AT_VIEW_VERSION`` (the version in force when ``view_version`` was
  recorded) is for views that are never re-curated.
- The read part: the same entries re-decided under the state at ``state_version``, the
  protocol version the access recorded, the viewer's standing from the record at
  ``state_version`` at the time of the read, and ``now`` = the time of the read.
- Shown = entries allowed by both, rendered with the read-time decision; its
  ``slice_hash`` must equal the recorded ``response_hash``. A feed page (or
  subscription delivery) delivered a part of that slice: shown is narrowed to the
  entries its record lists (``FEED_DELIVERIES``).

A ``view_version`` of 0 records that no view of the caller's audience existed yet
(the projections had not caught up with what gave the caller standing): nothing can
have been shown.

The viewer is rebuilt from the access record (kind, practitioner, agency,
profession, roles) with the agency's sector from the directory, and - only when the
client has a team relationship in the viewer's agency - the practitioner's teams as
recorded in the directory at the time of the read.

Speed: one read of the client's stream, one replay through the aggregate's own
``mutate`` (capturing the state at the two versions on the way), one fold of the
entries, protocols parsed once per version. The read-time policy runs only on the
entries the view allowed.

Times: "recorded at or before T" uses the library's recording timestamps; the
protocol in force at T is the last version whose adoption was recorded at or before T.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from carerecord import errors
from carerecord.access_log import AccessRecord
from carerecord.application import CareRecord
from carerecord.audit.as_of import RecordAsOf, entry_json, sort_entries
from carerecord.audit.replay import Moment, ProtocolHistory, client_events, replay
from carerecord.ids import parse_client_id
from carerecord.memory import BoundedCache, events_bytes
from carerecord.policy import CARE, SELF, ViewerRelationship, relationship_for, viewer_key
from carerecord.practitioner import Practitioner
from carerecord.slice import EntryState, SharedEntry, curate, fold_entries, slice_hash
from carerecord.values import Viewer
from carerecord.vocab import Purpose, RelationshipKind, Role, Sector, ViewerKind

__all__ = [
    "Outcome",
    "Reconstruction",
    "RecordAsOf",
    "TimeTravel",
    "ViewProtocol",
    "entry_json",
    "reconstruct",
    "reconstruct_all",
    "record_as_of",
]

# --- reconstruction of a recorded read ----------------------------------------------------


NOT_SLICE_READS = frozenset(
    {
        "involvement.read",
        "record.explain",
        "client.lookup",
        "caseload.list",
        "referrals.list",
        "concerns.list",
        "subject_access.access_log",
        "subject_access.export_log",
    }
)
"""Actions the API records that are not a slice read: their hash covers something else
(an identity, a list page, an explanation), so there is no slice to replay. Auditors'
own reads (``audit.*``) are not slices either."""

FEED_DELIVERIES = frozenset({"feed.page", "feed.subscription"})
"""Feed pages and subscription deliveries: per client, the entries that page delivered - a
part of the client's slice at that moment. They are replayed like a slice read and the
replayed slice narrowed to the entries the record lists (each as many times as it was
delivered); an entry listed that the slice did not allow is ``missing``, and the hash
covers exactly what was delivered. A page's referral and break-glass-notice records carry
no view version and stay ``not_a_slice_read``."""


class Outcome(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_RECONSTRUCTIBLE = "not_reconstructible"


STREAM_CACHE_BYTES = 32 * 1024 * 1024
"""Budget of the decoded streams kept with ``cached_clients`` (streams grow with data)."""


@dataclass(frozen=True)
class Reconstruction:
    """A recorded read, replayed: what it must have shown, and whether the hash agrees."""

    access_id: str
    client_id: str | None
    outcome: Outcome
    recorded_hash: str
    reconstructed_hash: str | None = None
    shown: tuple[SharedEntry, ...] = ()
    missing: tuple[str, ...] = ()
    """Entries the access recorded as returned that the replay did not show."""
    unexpected: tuple[str, ...] = ()
    """Entries the replay shows that the access did not record."""
    changed: tuple[str, ...] = ()
    """Entries both show, at different versions."""
    view_version: int | None = None
    state_version: int | None = None
    protocol_version: int | None = None
    view_protocol_version: int | None = None
    relationship: str | None = None
    reason: str | None = None

    @property
    def matches(self) -> bool:
        return self.outcome is Outcome.MATCH

    @property
    def differing_entry_ids(self) -> tuple[str, ...]:
        return tuple(sorted({*self.missing, *self.unexpected, *self.changed}))

    def to_json(self, *, show_text: bool = False) -> dict[str, Any]:
        shown = []
        for entry in self.shown:
            data = entry.to_json()
            if not show_text:
                data.pop("text")
                data.pop("heading")
            shown.append(data)
        return {
            "access_id": self.access_id,
            "client_id": self.client_id,
            "outcome": self.outcome.value,
            "recorded_hash": self.recorded_hash,
            "reconstructed_hash": self.reconstructed_hash,
            "differing_entry_ids": list(self.differing_entry_ids),
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "changed": list(self.changed),
            "view_version": self.view_version,
            "state_version": self.state_version,
            "protocol_version": self.protocol_version,
            "view_protocol_version": self.view_protocol_version,
            "relationship": self.relationship,
            "reason": self.reason,
            "shown": shown,
        }


class ViewProtocol(StrEnum):
    """Which protocol version a read's view part was curated under."""

    AT_READ = "at_read"
    """The read's ``protocol_version``: views are re-curated on adoption (the default)."""
    AT_VIEW_VERSION = "at_view_version"
    """The version in force when the view's client version was recorded."""


class TimeTravel:
    """The auditor's engine over one application: "as of" views and read reconstruction.

    Keep one per process to reuse its caches (parsed protocol versions, agency
    sectors). Client streams are read afresh for every reconstruction unless
    ``cached_clients`` > 0: then the decoded streams of that many clients are kept
    (recorded events never change) and only newer events are read - for auditing many
    reads of the same clients.
    """

    def __init__(
        self,
        app: CareRecord,
        *,
        view_protocol: ViewProtocol = ViewProtocol.AT_READ,
        cached_clients: int = 0,
    ) -> None:
        self.app = app
        self.view_protocol = view_protocol
        self.cached_clients = cached_clients
        self._streams: BoundedCache[UUID, list[Any]] = BoundedCache(
            max_items=max(1, cached_clients), max_bytes=STREAM_CACHE_BYTES, weigh=events_bytes
        )
        self.protocols = ProtocolHistory(app)
        self._sectors: dict[str, Sector] = {}

    # --- as of ------------------------------------------------------------------------

    def record_as_of(self, client_id: object, at: datetime) -> RecordAsOf:
        """The client's whole record as of the last event recorded at or before ``at``."""
        cid = parse_client_id(client_id)
        events = client_events(self.app, cid)
        upto = 0
        for event in events:
            if event.timestamp > at:
                break
            upto += 1
        if upto == 0:
            raise errors.ClientNotFound()
        prefix = events[:upto]
        moment = replay(prefix, [upto])[upto]
        self.protocols.refresh()
        adopted = self.protocols.in_force_at(at)
        entries = sort_entries(fold_entries(prefix).values())
        return RecordAsOf(
            client_id=str(cid),
            at=at,
            version=upto,
            recorded_at=moment.recorded_at,
            protocol_version=None if adopted is None else adopted.version,
            entries=tuple(entries),
            consents=moment.state.consents,
            consents_in_force=frozenset(
                c.consent_id for c in moment.state.consents if c.in_force_at(at)
            ),
            restrictions=moment.state.restrictions,
            relationships=moment.relationships,
            grants=moment.grants,
            grants_active=frozenset(g.grant_id for g in moment.grants if g.active_at(at)),
        )

    # --- reconstruction ----------------------------------------------------------------

    def reconstruct(self, access: AccessRecord) -> Reconstruction:
        """Replay a recorded read and compare what it must have shown with the record."""
        client_id, view_version = access.client_id, access.view_version
        state_version, protocol_version = access.state_version, access.protocol_version
        delivery = access.action in FEED_DELIVERIES
        if access.refused:  # a refused attempt returned nothing: there is nothing to replay
            return self._unreconstructible(access, "refused")
        if (
            access.action in NOT_SLICE_READS
            or access.action.startswith("audit.")
            or (delivery and view_version is None)
        ):
            return self._unreconstructible(access, "not_a_slice_read")
        if client_id is None:
            return self._unreconstructible(access, "no_client_id")
        if view_version is None or state_version is None or protocol_version is None:
            return self._unreconstructible(access, "no_versions")
        try:
            purpose = Purpose(access.purpose)
            kind = ViewerKind(access.viewer_kind)
            roles = frozenset(Role(r) for r in access.roles)
            cid = parse_client_id(client_id)
        except (ValueError, errors.CareRecordError):
            return self._unreconstructible(access, "unknown_value")
        client = str(cid)
        top = max(view_version, state_version)
        try:
            events = self._events(cid, top)
        except errors.ClientNotFound:
            return self._unreconstructible(access, "client_not_found")
        if len(events) < top or state_version < 1 or view_version < 0:
            return self._unreconstructible(access, "version_not_in_log")
        moments = replay(events, (view_version, state_version))
        at_read = moments[state_version]
        self.protocols.refresh()
        read_protocol = self.protocols.version(protocol_version)
        if read_protocol is None:
            return self._unreconstructible(access, "protocol_version_unknown")
        viewer = self._viewer(access, kind, roles, client, at_read)
        read_standing = relationship_for(
            viewer, client, at_read.relationships, at_read.grants, access.at
        )
        key = viewer_key(viewer)
        view_protocol_version: int | None = None
        candidates: list[EntryState] = []
        if view_version > 0:  # 0: no view of the caller's audience existed yet
            at_view = moments[view_version]
            view_protocol = (
                read_protocol
                if self.view_protocol is ViewProtocol.AT_READ
                else self.protocols.in_force_at(at_view.recorded_at)
            )
            if view_protocol is None:
                return self._unreconstructible(access, "protocol_version_unknown")
            view_standing = _view_relationship(viewer, access, at_read)
            if view_standing is None:
                return self._unreconstructible(access, "grant_not_found")
            view_protocol_version = view_protocol.version
            entries = list(fold_entries(events[:view_version]).values())
            in_view = {
                shared.entry_id
                for shared in curate(
                    entries,
                    viewer=key,
                    purpose=purpose,
                    relationship=view_standing,
                    state=at_view.state,
                    protocol=view_protocol.protocol,
                    now=None,
                )
            }
            candidates = [e for e in entries if e.labels.entry_id in in_view]
        shown = curate(
            candidates,
            viewer=key,
            purpose=purpose,
            relationship=read_standing,
            state=at_read.state,
            protocol=read_protocol.protocol,
            now=access.at,
        )
        recorded = dict(access.items)
        if delivery:  # a part of the slice: what the slice shows of the entries delivered
            in_slice = {e.entry_id: e for e in shown}
            delivered = [in_slice[i] for i, _ in access.items if i in in_slice]
            digest = slice_hash(delivered)
            shown = list({e.entry_id: e for e in delivered}.values())
        else:
            digest = slice_hash(shown)
        replayed = {e.entry_id: e.version for e in shown}
        unexpected = () if delivery else tuple(sorted(replayed.keys() - recorded.keys()))
        missing = tuple(sorted(recorded.keys() - replayed.keys()))
        changed = tuple(
            sorted(k for k in recorded.keys() & replayed.keys() if recorded[k] != replayed[k])
        )
        faithful = digest == access.response_hash and not missing and not changed
        return Reconstruction(
            access_id=access.access_id,
            client_id=client,
            outcome=Outcome.MATCH if faithful else Outcome.MISMATCH,
            recorded_hash=access.response_hash,
            reconstructed_hash=digest,
            shown=tuple(shown),
            missing=missing,
            unexpected=unexpected,
            changed=changed,
            view_version=access.view_version,
            state_version=access.state_version,
            protocol_version=access.protocol_version,
            view_protocol_version=view_protocol_version,
            relationship=read_standing.kind.value,
        )

    def _events(self, client_id: UUID, upto: int) -> list[Any]:
        """The client's events up to version ``upto``: one read, or (with ``cached_clients``)
        only the part not read before - recorded events never change."""
        if self.cached_clients <= 0:
            return client_events(self.app, client_id, lte=upto)
        known = self._streams.get(client_id)
        if known is None:
            known = client_events(self.app, client_id, lte=upto)
        elif len(known) < upto:
            known.extend(self.app.events.get(client_id, gt=len(known), lte=upto))
        self._streams.put(client_id, known)  # (re)weighed: bounded by bytes and count
        return known[:upto]

    def _unreconstructible(self, access: AccessRecord, reason: str) -> Reconstruction:
        return Reconstruction(
            access_id=access.access_id,
            client_id=access.client_id,
            outcome=Outcome.NOT_RECONSTRUCTIBLE,
            recorded_hash=access.response_hash,
            view_version=access.view_version,
            state_version=access.state_version,
            protocol_version=access.protocol_version,
            reason=reason,
        )

    def _viewer(
        self,
        access: AccessRecord,
        kind: ViewerKind,
        roles: frozenset[Role],
        client: str,
        at_read: Moment,
    ) -> Viewer:
        if kind is ViewerKind.CLIENT:
            return Viewer(kind=kind, client_id=client)
        teams: frozenset[str] = frozenset()
        if (
            kind is ViewerKind.PRACTITIONER
            and access.practitioner_id is not None
            and any(
                r.team_id is not None and r.agency_id == access.agency_id
                for r in at_read.relationships
            )
        ):
            teams = self._teams_as_of(access.practitioner_id, access.at)
        return Viewer(
            kind=kind,
            agency_id=access.agency_id,
            sector=None if access.agency_id is None else self._sector(access.agency_id),
            profession=access.profession,
            practitioner_id=access.practitioner_id,
            roles=roles,
            teams=teams,
        )

    def _sector(self, agency_id: str) -> Sector | None:
        sector = self._sectors.get(agency_id)
        if sector is None:
            try:
                sector = self.app.agency(agency_id).sector
            except errors.CareRecordError:
                return None
            self._sectors[agency_id] = sector
        return sector

    def _teams_as_of(self, practitioner_id: str, at: datetime) -> frozenset[str]:
        """The practitioner's teams as the directory recorded them at ``at``."""
        record: Any = None
        events: list[Any] = list(self.app.events.get(Practitioner.id_for(practitioner_id)))
        for event in events:
            if event.timestamp > at:
                break
            record = event.mutate(record)
        return frozenset() if record is None else frozenset(record.teams)


def _view_relationship(
    viewer: Viewer, access: AccessRecord, at_read: Moment
) -> ViewerRelationship | None:
    """The relationship the viewer's audience view was curated with."""
    if viewer.kind is ViewerKind.CLIENT:
        return SELF
    if access.grant_id is None:
        return CARE
    for grant in at_read.grants:
        if grant.grant_id == access.grant_id:
            return ViewerRelationship(RelationshipKind.BREAK_GLASS, grant=grant)
    return None


def record_as_of(app: CareRecord, client_id: object, at: datetime) -> RecordAsOf:
    """A client's whole record as of ``at`` (see ``TimeTravel.record_as_of``)."""
    return TimeTravel(app).record_as_of(client_id, at)


def reconstruct(app: CareRecord, access: AccessRecord) -> Reconstruction:
    """Replay one recorded read (see ``TimeTravel.reconstruct``)."""
    return TimeTravel(app).reconstruct(access)


def reconstruct_all(app: CareRecord, accesses: Sequence[AccessRecord]) -> list[Reconstruction]:
    """Replay many recorded reads with one engine (shared protocol and directory caches)."""
    engine = TimeTravel(app, cached_clients=64)
    return [engine.reconstruct(a) for a in accesses]
