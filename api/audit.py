"""Audit of every read: the access records of one request, written before the response leaves.

Resolvers that return a client's data add an access record to the request's
``AuditTrail``; the HTTP edge flushes the trail (one group commit with other
requests' records) after execution and before the response is sent. If the write
fails, the response is replaced by ``AUDIT_UNAVAILABLE`` with no data (fail
closed). One record per client per kind of read in a request: several fields that
show the same read (entries, alerts and the overview of one slice) share its record.

Refused attempts are evidence too: a refused read or command that names a client adds
a refused record (``refuse``: who, when, what was asked, the refusal code - no data).
They are written after the shown records and before the response leaves, but a
refusal never waits on, or fails because of, the audit store: if they cannot be
written the refusal is still answered (it shows nothing) and a warning is logged. When
the shown records cannot be written (``AUDIT_UNAVAILABLE``), they are recorded as
refused attempts instead, if the log takes them - never as shown.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from uuid import uuid4

from carerecord.access_log import (
    AUDIT_UNAVAILABLE,
    REFUSED,
    AccessLogWriter,
    AccessRecord,
    access_record,
    refused_twin,
)
from carerecord.errors import AuditUnavailable
from carerecord.values import Viewer

log = logging.getLogger("carerecord.audit")
REFUSED_HASH = hashlib.sha256(b"").hexdigest()
"""The response hash of a refused attempt: nothing was returned."""


class AuditTrail:
    """The access records of one request (or one subscription delivery)."""

    def __init__(self, writer: AccessLogWriter) -> None:
        self._writer = writer
        self._pending: dict[tuple[str | None, str, str], AccessRecord] = {}
        self._refusals: list[AccessRecord] = []
        self._lock = threading.Lock()

    def add(self, record: AccessRecord) -> None:
        """Note a read of one client (the first record per client, action and purpose stands)."""
        key = (record.client_id, record.action, record.purpose)
        with self._lock:
            self._pending.setdefault(key, record)

    def refuse(self, record: AccessRecord) -> None:
        """Note a refused attempt (a record with ``outcome`` refused)."""
        with self._lock:
            self._refusals.append(record)

    @property
    def refusals(self) -> list[AccessRecord]:
        with self._lock:
            return list(self._refusals)

    @property
    def records(self) -> list[AccessRecord]:
        with self._lock:
            return list(self._pending.values())

    def __len__(self) -> int:
        return len(self._pending)

    def flush(self) -> list[AccessRecord]:
        """Write the records durably (blocking, all or none), then the refused attempts
        (best effort); raises ``AuditUnavailable`` if the records were not written - they
        are then queued as refused attempts (``AUDIT_UNAVAILABLE``) instead."""
        records = self._take()
        try:
            if records:
                self._writer.record_many(records)
        except AuditUnavailable:
            self._writer.record_later(
                [refused_twin(r, AUDIT_UNAVAILABLE, access_id=str(uuid4())) for r in records]
                + self._take_refusals()
            )
            raise
        self.flush_refusals()
        return list(records)

    def flush_refusals(self) -> int:
        """Write the refused attempts, waiting for the commit when the store answers;
        never raises (a refusal is answered whatever the audit store does)."""
        refusals = self._take_refusals()
        if not refusals:
            return 0
        try:
            self._writer.record_many(refusals)
        except AuditUnavailable:
            log.warning("audit: %d refused attempts could not be recorded", len(refusals))
            return 0
        return len(refusals)

    def _take_refusals(self) -> list[AccessRecord]:
        with self._lock:
            refusals = list(self._refusals)
            self._refusals.clear()
        return refusals

    async def flush_async(self) -> list[int]:
        # Submitted together, so they share one group commit.
        return list(await asyncio.gather(*(self._writer.record_async(r) for r in self._take())))

    def _take(self) -> Sequence[AccessRecord]:
        with self._lock:
            records = list(self._pending.values())
            self._pending.clear()
        return records


def refused_record(
    viewer: Viewer,
    *,
    request_id: str,
    at: datetime,
    action: str,
    purpose: str,
    client_id: str,
    refusal: str,
) -> AccessRecord:
    """The record of a refused attempt on a client: who, when, what was asked, the code."""
    return access_record(
        viewer,
        request_id=request_id,
        at=at,
        action=action,
        purpose=purpose,
        basis="none",
        client_id=client_id,
        response_hash=REFUSED_HASH,
        outcome=REFUSED,
        refusal=refusal,
    )
