"""Governance services: what auditors and information-governance officers read, each
guarded by the role it needs, so every entry point serving a caller (GraphQL today,
REST or FHIR later) refuses the same callers with the same codes before anything is
read. The entry points only translate.

| service | who |
|---|---|
| ``access_index`` | auditors and information-governance officers (the policy's audit roles) |
| ``reconstruct_access``, ``record_as_of`` | auditors |
| ``review_queue`` | information-governance officers, their own agency's grants |
| ``usage_figures`` | information-governance officers and auditors (counts only) |

``access_index`` and ``review_queue`` check the role when the caller asks for the index
or queue (before the entry point reads its paging input), the others on every call.
The role checks are ``carerecord.audit.roles``. The operator's command line
(``carerecord audit ...``, ``carerecord report usage``) works at the database's trust
level - it opens the stores itself - and uses the readers directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from carerecord.application import CareRecord
from carerecord.audit.access_chain import find_access
from carerecord.audit.as_of import RecordAsOf
from carerecord.audit.reconstruct import Reconstruction, TimeTravel
from carerecord.audit.roles import require_audit_role, require_auditor, require_ig_officer
from carerecord.db import Database
from carerecord.errors import AccessNotFound, InvalidInput, NotPermitted
from carerecord.ids import parse_entity_id
from carerecord.policy.reach import AudienceReach, reach_matrix
from carerecord.values import Viewer
from projections.audit.break_glass import BreakGlassGrantView, break_glass_reader
from projections.audit.index import AccessIndexReader, access_index_reader
from projections.audit.usage import UsageReport, usage_report


def access_index(access: Database, caller: Viewer) -> AccessIndexReader:
    """The access audit index (who saw what, when, under which basis)."""
    require_audit_role(caller)
    return access_index_reader(access)


def reconstruct_access(
    app: CareRecord, access: Database, caller: Viewer, access_id: object
) -> tuple[Reconstruction, bool]:
    """Replay a recorded read and compare its hash with the access log's; with whether
    the access record itself is intact. ``AccessNotFound`` for an unknown id."""
    require_auditor(caller)
    found = find_access(access, parse_entity_id(access_id, field="accessId"))
    if found is None:
        raise AccessNotFound()
    return TimeTravel(app).reconstruct(found.record), found.intact


def record_as_of(app: CareRecord, caller: Viewer, client_id: object, at: datetime) -> RecordAsOf:
    """A client's whole record as it stood at ``at`` (timezone-aware)."""
    require_auditor(caller)
    if at.tzinfo is None:
        raise InvalidInput(field="at", reason="timezone_required")
    return TimeTravel(app).record_as_of(client_id, at)


class ReviewQueue:
    """One information-governance officer's break-glass review queue: the grants by
    their own agency's practitioners awaiting review."""

    def __init__(self, views: Database, access: Database, agency_id: str) -> None:
        self._views, self._access, self.agency_id = views, access, agency_id

    def page(
        self,
        *,
        granted_before: datetime | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[BreakGlassGrantView]:
        """Grants awaiting review, oldest first (``granted_before``: only those older)."""
        return break_glass_reader(self._views).queue(
            self.agency_id, granted_before=granted_before, after=after, limit=limit
        )

    def reads_under(self, grant_ids: Sequence[str]) -> dict[str, int]:
        """How many recorded reads rested on each of these grants."""
        return access_index_reader(self._access).reads_under_grants(grant_ids)


def review_queue(views: Database, access: Database, caller: Viewer) -> ReviewQueue:
    """The caller's break-glass review queue."""
    officer = require_ig_officer(caller)
    if officer.agency_id is None:
        raise NotPermitted(reason="information_governance_officers_only")
    return ReviewQueue(views, access, officer.agency_id)


def usage_figures(
    views: Database,
    access: Database,
    caller: Viewer,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> UsageReport:
    """Usage and flow figures for the months from ``since`` to before ``until``."""
    require_audit_role(caller)
    return usage_report(views, access, now=now, since=since, until=until)


def protocol_reach(app: CareRecord, caller: Viewer) -> tuple[int, list[AudienceReach]]:
    """The protocol in force's version and its reach matrix: which categories each
    profession reaches for each purpose (``carerecord.policy.reach``)."""
    require_audit_role(caller)
    protocol = app.protocol()
    return protocol.version, list(reach_matrix(protocol))
