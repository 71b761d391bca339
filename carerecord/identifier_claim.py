"""Uniqueness of client identifiers (NHS number, local authority ids) across streams.

Each identifier is claimed by an aggregate whose id is a keyed hash of the
identifier (HMAC-SHA256 with the deployment's identifier key), saved in the same
transaction as the client's registration: a second registration of the same NHS
number collides on the claim's id and is refused. Lookup by exact identifier is a
single read; partial matching is impossible by construction (no browsing), and the
identifier never appears in clear in the claim.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event


def claim_id(key: bytes, kind: str, value: str) -> UUID:
    """The claim id for an identifier: ``kind`` is ``nhs`` or ``local:<authority>``."""
    digest = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()
    return UUID(bytes=digest[:16], version=4)


class IdentifierClaim(Aggregate):
    """Points from one identifier (by its keyed hash) to the client who holds it."""

    class Claimed(Aggregate.Created):
        client_id: str
        at: datetime

    @event(Claimed)
    def __init__(self, client_id: str, at: datetime) -> None:
        self.client_id = client_id

    @classmethod
    def claim(cls, *, claim_id: UUID, client_id: str, at: datetime) -> IdentifierClaim:
        return cls._create(cls.Claimed, id=claim_id, client_id=client_id, at=at)
