"""The read repository: the only way to read the curated views, always as a caller.

Every read takes the caller (a ``Viewer`` already resolved by
``CareRecord.resolve_actor``); there is no read path without a principal. A read of
a client returns ``view ∩ read-time policy``: the caller's audience view (built by
the projections with the policy at projection time) intersected with a fresh
decision per entry using the client's *latest* consent state, relationships and
break-glass grants from the write model, the protocol in force and the real time.
So projection lag can never widen access (it can only delay what is shown).

"Not found" and "not permitted" are the same answer: ``ClientNotFound``, raised
after the same work (one load of the client's state, no view queries), so a
caller cannot tell a client they may not see from one that does not exist.

Lists are cursor-paged (``after`` / ``Page.next_after``) with page sizes capped at
``MAX_PAGE_LIMIT``.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from carerecord import errors
from carerecord.client_record import ClientRecord
from carerecord.db import Database
from carerecord.ids import ClientId, parse_client_id, parse_entity_id, parse_team_id
from carerecord.policy import ViewerRelationship, decide_entry, purpose_open, viewer_key
from carerecord.protocol import Protocol
from carerecord.slice import curate
from carerecord.values import Viewer
from carerecord.vocab import Purpose, RelationshipKind, Role, ViewerKind
from projections.audience.keys import audience_of
from projections.audience.reader import (
    AudienceViewReader,
    PostgresAudienceViewReader,
    SQLiteAudienceViewReader,
    ViewSnapshot,
)
from projections.engine.access import basis_of
from projections.engine.errors import ViewsBehind
from projections.engine.framework import TRACKING_TABLE
from projections.engine.heartbeat import read_beats
from projections.engine.reading import pick
from projections.engine.settings import MAX_PAGE_LIMIT, ProjectionSettings
from projections.engine.status import ProjectionStatus, Readiness
from projections.feed.reads import read_feed
from projections.feed.results import FeedPage
from projections.lists import reads as lists
from projections.lists.context import ReadContext
from projections.lists.overview import sections
from projections.lists.readers import (
    CaseloadReader,
    ConcernsReader,
    DirectoryReader,
    InvolvementReader,
    PostgresCaseloadReader,
    PostgresConcernsReader,
    PostgresDirectoryReader,
    PostgresInvolvementReader,
    PostgresReferralsReader,
    ReferralsReader,
    SQLiteCaseloadReader,
    SQLiteConcernsReader,
    SQLiteDirectoryReader,
    SQLiteInvolvementReader,
    SQLiteReferralsReader,
)
from projections.lists.record import ClientSlice, Involvement, ProfessionOverview
from projections.lists.results import (
    CaseloadItem,
    ConcernSummary,
    Explanation,
    Page,
    ReferralDirection,
    ReferralItem,
    ReferralStats,
)
from projections.registry import VIEW_NAMES

if TYPE_CHECKING:
    from carerecord.application import CareRecord
    from projections.engine.runner import ProjectionRunner

CLIENT_PURPOSES = frozenset({Purpose.SUBJECT_ACCESS})
PRACTITIONER_PURPOSES = frozenset({Purpose.DIRECT_CARE, Purpose.SAFEGUARDING, Purpose.EMERGENCY})
SYSTEM_PURPOSES = frozenset({Purpose.DIRECT_CARE})
"""An agency's integrating system reads for direct care only: through ``client(id)`` it
gets exactly what its feed carries (the agency system audience's slice), never a
safeguarding or emergency view (those are for people, under a role or a grant)."""


def capped(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise errors.InvalidInput(field="limit", reason="out_of_range")
    return min(limit, MAX_PAGE_LIMIT)


class ReadRepository:
    """Curated reads for callers. Thread-safe; create one per process.

    ``app`` supplies the read-time state (``load_client``, ``protocol``, the
    clock); ``views`` is the ``views`` storage area; ``runner`` (optional) is the
    in-process runner, used by ``wait_for`` to wake it and wait without polling.
    """

    def __init__(
        self,
        app: CareRecord,
        views: Database,
        *,
        settings: ProjectionSettings | None = None,
        runner: ProjectionRunner | None = None,
    ) -> None:
        self.app = app
        self.views = views
        self.settings = settings or ProjectionSettings()
        self.runner = runner
        self.audience: AudienceViewReader = pick(
            views, SQLiteAudienceViewReader, PostgresAudienceViewReader
        )
        self.directory: DirectoryReader = pick(
            views, SQLiteDirectoryReader, PostgresDirectoryReader
        )
        self.involvement_index: InvolvementReader = pick(
            views, SQLiteInvolvementReader, PostgresInvolvementReader
        )
        self.caseloads: CaseloadReader = pick(views, SQLiteCaseloadReader, PostgresCaseloadReader)
        self.referral_rows: ReferralsReader = pick(
            views, SQLiteReferralsReader, PostgresReferralsReader
        )
        self.concern_rows: ConcernsReader = pick(
            views, SQLiteConcernsReader, PostgresConcernsReader
        )
        self.context = ReadContext(
            app=app,
            settings=self.settings,
            audience=self.audience,
            directory=self.directory,
            involvement_index=self.involvement_index,
            caseloads=self.caseloads,
            referral_rows=self.referral_rows,
            concern_rows=self.concern_rows,
        )
        self._lock = threading.Lock()

    # --- standing ------------------------------------------------------------------------

    def _standing(
        self, caller: Viewer, client_id: object, now: datetime
    ) -> tuple[ClientRecord, ViewerRelationship]:
        """The client's latest state and the caller's standing; ``ClientNotFound`` for
        no such client and for no standing alike (after the same single load)."""
        cid = parse_client_id(client_id)
        try:
            record = self.app.load_client(cid)
        except errors.ClientNotFound:
            raise errors.ClientNotFound() from None
        standing = record.standing_of(caller, now)
        if standing.kind is RelationshipKind.NONE:
            raise errors.ClientNotFound()
        return record, standing

    def _check_purpose(self, caller: Viewer, purpose: Purpose) -> None:
        """Refuse a purpose the caller may not use (``NOT_PERMITTED``) before anything
        about the client is read: purposes not served to this kind of caller, and
        purposes the protocol in force does not open to the caller's audience."""
        if caller.kind is ViewerKind.CLIENT:
            allowed = CLIENT_PURPOSES
        elif caller.kind is ViewerKind.AGENCY_SYSTEM:
            allowed = SYSTEM_PURPOSES
        else:
            allowed = PRACTITIONER_PURPOSES
        if purpose not in allowed:
            raise errors.NotPermitted(reason="purpose_not_served")
        if purpose in PRACTITIONER_PURPOSES and not purpose_open(
            self.app.protocol(), viewer_key(caller), purpose
        ):
            raise errors.NotPermitted(reason="purpose_not_open")

    @staticmethod
    def _check_grant(standing: ViewerRelationship, purpose: Purpose) -> None:
        """A break-glass grant opens only the purpose it was granted for."""
        grant = standing.grant
        if standing.kind is RelationshipKind.BREAK_GLASS and (
            grant is None or grant.purpose is not purpose
        ):
            raise errors.NotPermitted(reason="purpose_not_granted")

    # --- a client's record ---------------------------------------------------------------

    def client_slice(
        self, caller: Viewer, client_id: object, purpose: Purpose = Purpose.DIRECT_CARE
    ) -> ClientSlice:
        """The caller's curated slice of the client for ``purpose``.

        Practitioners and agency systems need a care relationship (or, for
        practitioners, an unexpired break-glass grant for that purpose); a client
        reads their own record with ``Purpose.SUBJECT_ACCESS``. Raises
        ``ClientNotFound`` if the client does not exist *or* the caller has no
        standing; ``NotPermitted`` for purposes not served to this kind of caller
        (audit is never served here). Raises ``ViewsBehind`` while the views catch
        up with a protocol change.
        """
        slice_, _ = self._slice(caller, client_id, purpose)
        return slice_

    def _slice(
        self, caller: Viewer, client_id: object, purpose: Purpose
    ) -> tuple[ClientSlice, Protocol]:
        self._check_purpose(caller, purpose)
        now = self.app.clock()
        record, standing = self._standing(caller, client_id, now)
        self._check_grant(standing, purpose)
        protocol = self.app.protocol()
        viewer = viewer_key(caller)
        key = audience_of(viewer, purpose, standing.kind)
        view = self._view(str(record.id), key, protocol.version, record.version)
        shown = curate(
            view.entries,
            viewer=viewer,
            purpose=purpose,
            relationship=standing,
            state=record.sharing_state(),
            protocol=protocol,
            now=now,
        )
        result = ClientSlice(
            caller=caller,
            client_id=ClientId(record.id),
            purpose=purpose,
            basis=basis_of(standing),
            entries=tuple(shown),
            view_version=view.view_version,
            state_version=record.version,
            protocol_version=protocol.version,
            read_at=now,
        )
        return result, protocol

    def _view(
        self, client_id: str, key: object, protocol_version: int, state_version: int
    ) -> ViewSnapshot:
        """The view, decided under the protocol in force, for an audience the projection has
        built for this client. Waits briefly (``view_wait_seconds``) after a protocol
        change, and when the caller's standing is newer than the views (a care
        relationship or break-glass grant not yet projected: serving an empty record
        then would mislead, and could not be told apart later from "nothing shared");
        raises ``ViewsBehind`` if the views do not catch up in that time."""
        deadline = time.monotonic() + self.settings.view_wait_seconds
        pause = 0.002
        while True:
            view = self.audience.client_view(client_id, key)  # type: ignore[arg-type]
            current = view.protocol_version in (None, protocol_version)
            built = view.materialised or view.view_version >= state_version
            if current and built:
                return view
            if time.monotonic() >= deadline:
                raise ViewsBehind()
            if self.runner is not None:
                self.runner.wake()
            time.sleep(pause)  # waiting for another process to commit; nothing to wait on
            pause = min(pause * 2, 0.1)

    def overview(
        self, caller: Viewer, client_id: object, purpose: Purpose = Purpose.DIRECT_CARE
    ) -> ProfessionOverview:
        """The caller's profession overview of the client (shared categories, with the
        caller's own headings), built from exactly the caller's ``client_slice``."""
        slice_, protocol = self._slice(caller, client_id, purpose)
        return ProfessionOverview(
            slice=slice_,
            profession=caller.profession,
            sections=sections(slice_.entries, protocol, caller.profession),
        )

    def involvement(self, caller: Viewer, client_id: object) -> Involvement:
        """Which agencies and named workers are involved (active care relationships and
        open referrals) and how to reach them - no clinical content.

        Visible to anyone with a legitimate relationship with the client (care
        relationship, break-glass, the client themself) and to an agency that has an
        open referral for the client addressed to it. Otherwise ``ClientNotFound``.
        """
        return lists.involvement(self.context, caller, client_id)

    def explain(
        self,
        caller: Viewer,
        client_id: object,
        entry_id: object,
        purpose: Purpose = Purpose.DIRECT_CARE,
    ) -> Explanation:
        """Why the caller can (or cannot) see one entry: the policy's read-time decision.

        Only for callers with standing towards the client; anyone else gets
        ``ClientNotFound`` (so the existence of the client or entry is not revealed).
        """
        self._check_purpose(caller, purpose)
        entry_key = parse_entity_id(entry_id, field="entry_id")
        now = self.app.clock()
        record, standing = self._standing(caller, client_id, now)
        self._check_grant(standing, purpose)
        viewer = viewer_key(caller)
        entry, in_view = self.audience.entry(
            str(record.id), entry_key, audience_of(viewer, purpose, standing.kind)
        )
        basis = basis_of(standing)
        cid = ClientId(record.id)
        if entry is None:
            return Explanation(cid, entry_key, purpose, basis, False, False, None)
        decision = decide_entry(
            viewer,
            purpose,
            entry.labels,
            record.sharing_state(),
            standing,
            self.app.protocol(),
            now,
        )
        return Explanation(
            cid, entry_key, purpose, basis, True, in_view, decision, entered_in_error=entry.in_error
        )

    # --- lists ---------------------------------------------------------------------------

    def caseload(
        self,
        caller: Viewer,
        *,
        team_id: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[CaseloadItem]:
        """The caller's own caseload, or (``team_id``) a team the caller belongs to.

        Only clients with an active relationship (re-checked against the latest state):
        there is no browsing of other caseloads (a team the caller is not in, or a
        caller who is not a practitioner, gets ``NotPermitted``). Ordered by family
        name, given name, client id.
        """
        if caller.kind is not ViewerKind.PRACTITIONER or caller.agency_id is None:
            raise errors.NotPermitted(reason="practitioners_only")
        team = None if team_id is None else parse_team_id(team_id)
        if team is not None and team not in caller.teams:
            raise errors.NotPermitted(reason="not_a_team_member")
        return lists.caseload(self.context, caller, team, after, capped(limit))

    def referrals(
        self,
        caller: Viewer,
        direction: ReferralDirection,
        *,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[ReferralItem]:
        """Referrals of the caller's agency: ``incoming`` (open, to the agency),
        ``outgoing`` (open, from the agency) or ``overdue`` (incoming, awaiting a
        response past their due date). Ordered by due date."""
        if direction not in ("incoming", "outgoing", "overdue"):
            raise errors.InvalidInput(field="direction", reason="unknown_value")
        if caller.kind is ViewerKind.CLIENT or caller.agency_id is None:
            raise errors.NotPermitted(reason="agencies_only")
        return lists.referrals(self.context, caller.agency_id, direction, after, capped(limit))

    def referral_stats(
        self, caller: Viewer, direction: ReferralDirection = "incoming"
    ) -> ReferralStats:
        """Counts and response times of the referrals the caller's agency received
        (``incoming``) or sent (``outgoing``)."""
        if direction not in ("incoming", "outgoing"):
            raise errors.InvalidInput(field="direction", reason="unknown_value")
        if caller.kind is ViewerKind.CLIENT or caller.agency_id is None:
            raise errors.NotPermitted(reason="agencies_only")
        return lists.referral_stats(self.context, caller.agency_id, direction)

    def concerns(
        self, caller: Viewer, *, after: str | None = None, limit: int = 50
    ) -> Page[ConcernSummary]:
        """Clients with concerns from several agencies within the window, for
        safeguarding leads (role ``safeguarding_lead``) - limited to clients their
        agency has an active relationship with. Anyone else gets ``NotPermitted``."""
        if (
            caller.kind is not ViewerKind.PRACTITIONER
            or caller.agency_id is None
            or Role.SAFEGUARDING_LEAD not in caller.roles
        ):
            raise errors.NotPermitted(reason="safeguarding_leads_only")
        return lists.concerns(self.context, caller, after, capped(limit))

    # --- the audience feed ---------------------------------------------------------------

    def feed(self, caller: Viewer, *, after: int = 0, limit: int = 100) -> FeedPage:
        """Changes for the caller's audience (direct care) after the sequence ``after``.

        Items are filtered to clients the caller has a legitimate relationship with
        now (an agency system: clients with an active relationship with its agency;
        referral items: the two agencies involved), and every entry is re-checked
        with the read-time policy; a recall is always delivered to such a caller.
        """
        if caller.kind not in (ViewerKind.PRACTITIONER, ViewerKind.AGENCY_SYSTEM):
            raise errors.NotPermitted(reason="agencies_only")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise errors.InvalidInput(field="after", reason="out_of_range")
        return read_feed(self.context, caller, after, capped(limit))

    # --- readiness -----------------------------------------------------------------------

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Wait until every view has processed the log up to ``position`` (a command's
        ``CommandResult.position``). Returns False on timeout or if a projection has
        failed."""
        if self.runner is not None:
            return self.runner.wait_for(position, timeout)
        deadline = time.monotonic() + timeout
        pause = 0.002
        while True:
            statuses = self._tracking()
            if all(pos >= position for pos, _ in statuses.values()):
                return True
            if any(err is not None and pos < position for pos, err in statuses.values()):
                return False
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)  # another process commits the views; poll with back-off
            pause = min(pause * 2, 0.05)

    def _tracking(self) -> dict[str, tuple[int, str | None]]:
        with self.views.snapshot() as tx:
            rows = tx.fetchall(f"SELECT name, position, error FROM {TRACKING_TABLE}")
        found = {str(r[0]): (int(r[1]), None if r[2] is None else str(r[2])) for r in rows}
        return {name: found.get(name, (0, None)) for name in VIEW_NAMES}

    def positions(self) -> dict[str, int]:
        """Each view projection's tracking position."""
        return {name: pos for name, (pos, _) in self._tracking().items()}

    def readiness(self) -> Readiness:
        """Per projection: position, lag behind the log, error state; and the runners'
        heartbeats (for ``/readyz``)."""
        head = int(self.app.recorder.max_notification_id() or 0)
        failed = {} if self.runner is None else self.runner.failures()
        statuses = tuple(
            ProjectionStatus(
                name=name,
                position=pos,
                lag=max(0, head - pos),
                failed=error is not None or name in failed,
                error=error or failed.get(name),
                updated_at=None,
            )
            for name, (pos, error) in self._tracking().items()
        )
        return Readiness(head=head, projections=statuses, workers=tuple(read_beats(self.views)))


__all__ = ["ReadRepository"]
