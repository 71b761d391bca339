"""Why a caller may read a client, and the access record of a read (shared by the results)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from carerecord.access_log import AccessRecord, access_record
from carerecord.policy import ViewerRelationship
from carerecord.values import Viewer
from carerecord.vocab import RelationshipKind

BasisKind = Literal[
    "care_relationship", "break_glass", "subject_access", "open_referral", "agency_involvement"
]
"""Why the caller may read: their own standing (care relationship, break-glass, the client
themself), an open referral addressed to their agency (involvement index only), or their
agency's involvement (safeguarding leads' concern summaries)."""


@dataclass(frozen=True)
class ReadBasis:
    """Why the caller may read this client at all (their standing at the read)."""

    kind: BasisKind
    relationship_id: str | None = None
    grant_id: str | None = None


def basis_of(standing: ViewerRelationship) -> ReadBasis:
    """The read basis of a standing towards a client (care, break-glass, self)."""
    if standing.kind is RelationshipKind.BREAK_GLASS:
        grant = standing.grant
        return ReadBasis("break_glass", grant_id=None if grant is None else grant.grant_id)
    if standing.kind is RelationshipKind.SELF:
        return ReadBasis("subject_access")
    return ReadBasis("care_relationship", relationship_id=standing.relationship_id)


def access_record_for(
    *,
    caller: Viewer,
    purpose: str,
    basis: ReadBasis,
    client_id: str | None,
    items: tuple[tuple[str, int], ...],
    response_hash: str,
    request_id: str,
    action: str,
    at: datetime,
    view_version: int | None,
    state_version: int | None,
    protocol_version: int | None,
    access_id: str | None,
) -> AccessRecord:
    """The access record of a read result, with the caller's standing as its basis."""
    return access_record(
        caller,
        request_id=request_id,
        at=at,
        action=action,
        purpose=purpose,
        basis=basis.kind,
        client_id=client_id,
        response_hash=response_hash,
        items=items,
        access_id=access_id,
        view_version=view_version,
        state_version=state_version,
        protocol_version=protocol_version,
        grant_id=basis.grant_id,
    )
