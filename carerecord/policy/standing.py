"""The viewer's standing towards a client: what the policy reads of a relationship.

``relationship_for`` derives it from the client's state (care relationships, break-glass
grants) and the viewer's identity - the only place the policy looks at a viewer's id and
teams; ``decide`` then reads the standing's kind and, for break-glass, the grant's
purpose (and expiry when a time is given).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from carerecord.values import BreakGlassGrant, CareRelationship, Viewer
from carerecord.vocab import Purpose, RelationshipKind, ViewerKind


@dataclass(frozen=True)
class ViewerRelationship:
    """How the viewer stands towards the client at the time of the decision.

    ``decide`` reads its kind and, for break-glass, the grant's purpose (and its expiry
    when a time is given); ``relationship_id`` is for the caller's own records."""

    kind: RelationshipKind
    grant: BreakGlassGrant | None = None
    relationship_id: str | None = None


NO_RELATIONSHIP = ViewerRelationship(RelationshipKind.NONE)
CARE = ViewerRelationship(RelationshipKind.CARE)
SELF = ViewerRelationship(RelationshipKind.SELF)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def standing_at_projection(kind: RelationshipKind, purpose: Purpose) -> ViewerRelationship:
    """The standing of every viewer of an audience with standing ``kind``, for the
    projection-time decision (``now=None``): with no time given, the policy reads of a
    break-glass grant only its purpose, so one stands for any grant for ``purpose``."""
    if kind is RelationshipKind.SELF:
        return SELF
    if kind is RelationshipKind.CARE:
        return CARE
    if kind is RelationshipKind.BREAK_GLASS:
        grant = BreakGlassGrant("-", "-", "-", "-", purpose, _EPOCH, _EPOCH)
        return ViewerRelationship(RelationshipKind.BREAK_GLASS, grant=grant)
    return NO_RELATIONSHIP


def relationship_for(
    viewer: Viewer,
    client_id: str,
    relationships: Iterable[CareRelationship],
    grants: Iterable[BreakGlassGrant],
    now: datetime,
) -> ViewerRelationship:
    """How ``viewer`` stands towards the client, from the client's active relationships.

    A practitioner has a care relationship if one names them, or names a team they
    belong to in their agency; an agency system if any active relationship is with
    its agency. Otherwise an unexpired break-glass grant gives break-glass standing.
    """
    if viewer.kind is ViewerKind.CLIENT:
        return SELF if viewer.client_id == client_id else NO_RELATIONSHIP
    for rel in relationships:
        if rel.agency_id != viewer.agency_id:
            continue
        if viewer.kind is ViewerKind.AGENCY_SYSTEM:
            return ViewerRelationship(RelationshipKind.CARE, relationship_id=rel.relationship_id)
        if (rel.practitioner_id is not None and rel.practitioner_id == viewer.practitioner_id) or (
            rel.team_id is not None and rel.team_id in viewer.teams
        ):
            return ViewerRelationship(RelationshipKind.CARE, relationship_id=rel.relationship_id)
    if viewer.kind is ViewerKind.PRACTITIONER:
        for grant in grants:
            if grant.practitioner_id == viewer.practitioner_id and grant.active_at(now):
                return ViewerRelationship(RelationshipKind.BREAK_GLASS, grant=grant)
    return NO_RELATIONSHIP
