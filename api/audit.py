"""Audit of every read: the access records of one request, written before the response leaves.

Resolvers that return a client's data add an access record to the request's
``AuditTrail``; the HTTP edge flushes the trail (one group commit with other
requests' records) after execution and before the response is sent. If the write
fails, the response is replaced by ``AUDIT_UNAVAILABLE`` with no data (fail
closed). One record per client per kind of read in a request: several fields that
show the same read (entries, alerts and the overview of one slice) share its record.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

import orjson

from carerecord.access_log import AccessLogWriter, AccessRecord
from carerecord.values import Viewer


def identity_hash(value: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a non-entry response (e.g. a lookup's identity)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


class AuditTrail:
    """The access records of one request (or one subscription delivery)."""

    def __init__(self, writer: AccessLogWriter) -> None:
        self._writer = writer
        self._pending: dict[tuple[str | None, str, str], AccessRecord] = {}
        self._lock = threading.Lock()

    def add(self, record: AccessRecord) -> None:
        """Note a read of one client (the first record per client, action and purpose stands)."""
        key = (record.client_id, record.action, record.purpose)
        with self._lock:
            self._pending.setdefault(key, record)

    @property
    def records(self) -> list[AccessRecord]:
        with self._lock:
            return list(self._pending.values())

    def __len__(self) -> int:
        return len(self._pending)

    def flush(self) -> list[AccessRecord]:
        """Write the records durably (blocking); raises ``AuditUnavailable`` if it cannot."""
        records = self._take()
        if records:
            self._writer.record_many(records)
        return list(records)

    async def flush_async(self) -> list[int]:
        # Submitted together, so they share one group commit.
        return list(await asyncio.gather(*(self._writer.record_async(r) for r in self._take())))

    def _take(self) -> Sequence[AccessRecord]:
        with self._lock:
            records = list(self._pending.values())
            self._pending.clear()
        return records


def access_record(
    viewer: Viewer,
    *,
    request_id: str,
    at: datetime,
    action: str,
    purpose: str,
    basis: str,
    client_id: str | None,
    items: Sequence[tuple[str, int]] = (),
    response_hash: str,
    **versions: Any,
) -> AccessRecord:
    """An access record for a read the API serves itself (e.g. a lookup)."""
    return AccessRecord(
        access_id=str(uuid4()),
        at=at,
        request_id=request_id,
        action=action,
        viewer_kind=viewer.kind.value,
        practitioner_id=viewer.practitioner_id,
        agency_id=viewer.agency_id,
        profession=viewer.profession,
        roles=tuple(sorted(r.value for r in viewer.roles)),
        purpose=purpose,
        basis=basis,
        client_id=client_id,
        items=tuple(items),
        response_hash=response_hash,
        **versions,
    )
