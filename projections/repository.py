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

from typing import TYPE_CHECKING

from carerecord.db import Database
from carerecord.ids import ClientId
from carerecord.values import Viewer
from carerecord.vocab import Purpose
from projections.results import (
    CaseloadItem,
    ClientSlice,
    ConcernSummary,
    Explanation,
    FeedPage,
    Involvement,
    Page,
    ProfessionOverview,
    Readiness,
    ReferralDirection,
    ReferralItem,
    ReferralStats,
)
from projections.settings import ProjectionSettings

if TYPE_CHECKING:
    from carerecord.application import CareRecord
    from projections.runner import ProjectionRunner


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

    # --- a client's record ---------------------------------------------------------------

    def client_slice(
        self, caller: Viewer, client_id: object, purpose: Purpose = Purpose.DIRECT_CARE
    ) -> ClientSlice:
        """The caller's curated slice of the client for ``purpose``.

        Practitioners and agency systems need a care relationship (or, for
        practitioners, an unexpired break-glass grant for that purpose); a client
        reads their own record with ``Purpose.SUBJECT_ACCESS``. Raises
        ``ClientNotFound`` if the client does not exist *or* the caller has no
        standing; ``NotPermitted`` for purposes that are never served here (audit).
        Raises ``ViewsBehind`` while the views catch up with a protocol change.
        """
        raise NotImplementedError

    def overview(
        self, caller: Viewer, client_id: object, purpose: Purpose = Purpose.DIRECT_CARE
    ) -> ProfessionOverview:
        """The caller's profession overview of the client (shared categories, with the
        caller's own headings), built from exactly the caller's ``client_slice``."""
        raise NotImplementedError

    def involvement(self, caller: Viewer, client_id: object) -> Involvement:
        """Which agencies and named workers are involved (active care relationships and
        open referrals) and how to reach them - no clinical content.

        Visible to anyone with a legitimate relationship with the client (care
        relationship, break-glass, the client themself) and to an agency that has an
        open referral for the client addressed to it. Otherwise ``ClientNotFound``.
        """
        raise NotImplementedError

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
        raise NotImplementedError

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

        Only clients with an active relationship: there is no browsing of other
        caseloads (a team the caller is not in gives ``NotPermitted``). Ordered by
        family name, given name, client id.
        """
        raise NotImplementedError

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
        raise NotImplementedError

    def referral_stats(
        self, caller: Viewer, direction: ReferralDirection = "incoming"
    ) -> ReferralStats:
        """Counts and response times of the referrals the caller's agency received
        (``incoming``) or sent (``outgoing``)."""
        raise NotImplementedError

    def concerns(
        self, caller: Viewer, *, after: str | None = None, limit: int = 50
    ) -> Page[ConcernSummary]:
        """Clients with concerns from several agencies within the window, for
        safeguarding leads (role ``safeguarding_lead``) - limited to clients their
        agency is involved with. Anyone else gets ``NotPermitted``."""
        raise NotImplementedError

    # --- the audience feed ---------------------------------------------------------------

    def feed(self, caller: Viewer, *, after: int = 0, limit: int = 100) -> FeedPage:
        """Changes for the caller's audience (direct care) after the sequence ``after``.

        Items are filtered to clients the caller has a legitimate relationship with
        now (an agency system: clients with an active relationship with its agency;
        referral items: the two agencies involved), and every entry is re-checked
        with the read-time policy; a recall is always delivered to such a caller.
        """
        raise NotImplementedError

    # --- readiness -----------------------------------------------------------------------

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Wait until every view has processed the log up to ``position`` (a command's
        ``CommandResult.position``). Returns False on timeout or if a projection has
        failed."""
        raise NotImplementedError

    def positions(self) -> dict[str, int]:
        """Each view projection's tracking position."""
        raise NotImplementedError

    def readiness(self) -> Readiness:
        """Per projection: position, lag behind the log, error state (for ``/readyz``)."""
        raise NotImplementedError


__all__ = ["ClientId", "ReadRepository"]
