"""Reads computed exactly as the read path computes them, to record as access records.

The read side's contract (``docs/architecture.md``, ``projections/repository.py``): a
read returns the caller's audience view (entries as of ``view_version``, allowed at
projection time with ``now=None`` under the sharing state at that version and the
protocol in force - views are re-curated on a protocol change and reads wait for
them) intersected with a fresh decision per entry under the client's latest state,
the caller's standing now, the protocol in force and the real time; entries are
rendered with the read-time decision. The caller is resolved against the directory.

This deliberately takes a different road from ``carerecord.audit.reconstruct``: it
loads states with the library's repository (snapshots and all), the caller through
``resolve_actor``, and the protocol through ``app.protocol()`` - so an agreement of
the two is evidence, not an echo.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

from carerecord import errors
from carerecord.access_log import AccessRecord
from carerecord.application import CareRecord
from carerecord.client_record import ClientRecord
from carerecord.policy import CARE, SELF, ViewerRelationship, viewer_key
from carerecord.protocol import Protocol
from carerecord.slice import SharedEntry, curate, fold_entries, slice_hash
from carerecord.values import Viewer
from carerecord.vocab import Purpose, RelationshipKind, ViewerKind
from projections.engine.errors import ViewsBehind
from projections.engine.runner import ProjectionRunner
from projections.repository import ReadRepository


@dataclass(frozen=True)
class Read:
    """A served read: its access record, and how the view and the read-time check differed."""

    access: AccessRecord
    shown: tuple[SharedEntry, ...]
    in_view: int
    """Entries the view held for the caller (the read-time check may have removed some)."""


def read_basis(standing: ViewerRelationship) -> str:
    return {
        RelationshipKind.CARE: "care_relationship",
        RelationshipKind.BREAK_GLASS: "break_glass",
        RelationshipKind.SELF: "subject_access",
    }[standing.kind]


def serve_read(
    app: CareRecord,
    caller: Viewer,
    client_id: str,
    purpose: Purpose,
    view_version: int,
    *,
    view_protocol: Protocol | None = None,
) -> Read | None:
    """The read the read path would serve (None where it refuses: the caller has no standing).

    ``view_protocol`` overrides the protocol the view was curated under (default: the
    one in force at the read).
    """
    now = app.clock()
    viewer = caller if caller.kind is ViewerKind.CLIENT else app.resolve_actor(caller)
    current: ClientRecord = app.repository.get(UUID(client_id))
    standing = current.standing_of(viewer, now)
    if standing.kind is RelationshipKind.NONE:
        return None
    protocol = app.protocol()
    then: ClientRecord = app.repository.get(UUID(client_id), version=view_version)
    entries = fold_entries(app.events.get(UUID(client_id), lte=view_version)).values()
    audience = (
        SELF
        if standing.kind is RelationshipKind.SELF
        else standing
        if standing.kind is RelationshipKind.BREAK_GLASS
        else CARE
    )
    key = viewer_key(viewer)
    view = curate(
        entries,
        viewer=key,
        purpose=purpose,
        relationship=audience,
        state=then.sharing_state(),
        protocol=view_protocol or protocol,
        now=None,
    )
    in_view = {e.entry_id for e in view}
    shown = curate(
        [e for e in entries if e.labels.entry_id in in_view],
        viewer=key,
        purpose=purpose,
        relationship=standing,
        state=current.sharing_state(),
        protocol=protocol,
        now=now,
    )
    access = AccessRecord(
        access_id=str(uuid4()),
        at=now,
        request_id=str(uuid4()),
        action="clientSlice",
        viewer_kind=viewer.kind.value,
        practitioner_id=viewer.practitioner_id,
        agency_id=viewer.agency_id,
        profession=viewer.profession,
        roles=tuple(sorted(r.value for r in viewer.roles)),
        purpose=purpose.value,
        basis=read_basis(standing),
        client_id=client_id,
        items=tuple((e.entry_id, e.version) for e in shown),
        response_hash=slice_hash(shown),
        view_version=view_version,
        state_version=current.version,
        protocol_version=protocol.version,
        grant_id=None if standing.grant is None else standing.grant.grant_id,
    )
    return Read(access, tuple(shown), len(in_view))


def repository_read(
    repo: ReadRepository,
    runner: ProjectionRunner,
    app: CareRecord,
    caller: Viewer,
    client_id: str,
    purpose: Purpose,
) -> Read | None:
    """A read served by the real read repository, recorded as the API records it (views
    that are behind the caller's standing are caught up and the read tried again)."""
    viewer = caller if caller.kind is ViewerKind.CLIENT else app.resolve_actor(caller)
    try:
        try:
            got = repo.client_slice(viewer, client_id, purpose)
        except ViewsBehind:
            runner.catch_up()
            got = repo.client_slice(viewer, client_id, purpose)
    except (errors.ClientNotFound, errors.NotPermitted):
        return None
    access = got.access_record(request_id=str(uuid4()), action="clientSlice", at=got.read_at)
    return Read(access, got.entries, len(got.entries))
