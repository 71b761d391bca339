"""Who may use the governance services: the role checks every entry point shares.

The services (``projections.audit.governance``: the access audit index, read
reconstruction, a record as of a past time, the break-glass review queue, the usage
figures) call these before they read, so GraphQL, REST or any later API refuses the
same callers with the same codes. Only practitioners hold these roles.
"""

from __future__ import annotations

from carerecord.errors import NotPermitted
from carerecord.policy import AUDIT_ROLES
from carerecord.values import Viewer
from carerecord.vocab import Role, ViewerKind

AUDITORS = frozenset({Role.AUDITOR})
IG_OFFICERS = frozenset({Role.IG_OFFICER})


def _practitioner_with(viewer: Viewer, roles: frozenset[Role], reason: str) -> Viewer:
    if viewer.kind is not ViewerKind.PRACTITIONER or not (viewer.roles & roles):
        raise NotPermitted(reason=reason)
    return viewer


def require_audit_role(viewer: Viewer) -> Viewer:
    """Auditors and information-governance officers (the policy's audit roles)."""
    return _practitioner_with(viewer, AUDIT_ROLES, "audit_roles_only")


def require_auditor(viewer: Viewer) -> Viewer:
    """Auditors only."""
    return _practitioner_with(viewer, AUDITORS, "auditors_only")


def require_ig_officer(viewer: Viewer) -> Viewer:
    """Information-governance officers only."""
    return _practitioner_with(viewer, IG_OFFICERS, "information_governance_officers_only")
