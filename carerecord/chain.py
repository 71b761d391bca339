"""Hash-chaining of stored records (tamper evidence).

Each stored event gets a chain record carrying the hash of its predecessor in the
whole log and in its own stream. The hash of a record covers its position, stream,
version, topic and the stored bytes (ciphertext if encryption is on), so editing,
deleting, reordering or inserting a record breaks a link that ``carerecord audit
verify`` can point at. Signed checkpoints pin the head of the chain.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

GENESIS = bytes(32)


def record_digest(
    position: int, stream_id: UUID | str, version: int, topic: str, state: bytes
) -> bytes:
    """SHA-256 over one record's identity and content."""
    stream = str(stream_id) if isinstance(stream_id, UUID) else str(UUID(stream_id))
    h = hashlib.sha256()
    h.update(f"{position}\x1f{stream}\x1f{version}\x1f{topic}\x1f".encode())
    h.update(state)
    return h.digest()


def link_hash(prev_hash: bytes, stream_prev_hash: bytes, digest: bytes) -> bytes:
    """The chain hash of a record, given its global and per-stream predecessors."""
    return hashlib.sha256(prev_hash + stream_prev_hash + digest).digest()
