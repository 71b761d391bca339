"""The access log: who saw what, when, and why it was allowed.

Every read that returns a client's data appends one ``AccessRecord`` per client,
durably, before the response leaves; if it cannot be written the read fails
(``AUDIT_UNAVAILABLE``). Records are hash-chained globally and per client (the
same scheme as the event log, see ``carerecord.chain``) so tampering is evident.

Writes are group-committed: concurrent requests hand their records to one writer
thread, which appends whatever has queued in one transaction, and each request
waits for the commit that contains its own record.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from carerecord.chain import GENESIS, link_hash, record_digest
from carerecord.db import Database
from carerecord.errors import AuditUnavailable
from carerecord.transient import is_transient

log = logging.getLogger("carerecord.access_log")
NO_CLIENT = UUID(int=0)
ACCESS_TOPIC = "access"


@dataclass(frozen=True)
class AccessRecord:
    """One read of one client's data (or one lookup), as the auditors will see it.

    ``items`` are the (entry id, entry version) pairs returned; ``response_hash`` is
    ``carerecord.slice.slice_hash`` of what was returned. ``view_version`` is the
    client's stream version the curated view reflected, ``state_version`` the
    version used for the read-time consent re-check, and ``protocol_version`` the
    protocol in force at the read: with these an auditor can replay the read.
    """

    access_id: str
    at: datetime
    request_id: str
    action: str
    viewer_kind: str
    practitioner_id: str | None
    agency_id: str | None
    profession: str | None
    roles: tuple[str, ...]
    purpose: str
    basis: str
    client_id: str | None
    items: tuple[tuple[str, int], ...]
    response_hash: str
    view_version: int | None = None
    state_version: int | None = None
    protocol_version: int | None = None
    grant_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "access_id": self.access_id,
            "at": self.at.isoformat(),
            "request_id": self.request_id,
            "action": self.action,
            "viewer_kind": self.viewer_kind,
            "practitioner_id": self.practitioner_id,
            "agency_id": self.agency_id,
            "profession": self.profession,
            "roles": sorted(self.roles),
            "purpose": self.purpose,
            "basis": self.basis,
            "client_id": self.client_id,
            "items": [[entry_id, version] for entry_id, version in self.items],
            "response_hash": self.response_hash,
            "view_version": self.view_version,
            "state_version": self.state_version,
            "protocol_version": self.protocol_version,
            "grant_id": self.grant_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccessRecord:
        return cls(
            access_id=data["access_id"],
            at=datetime.fromisoformat(data["at"]),
            request_id=data["request_id"],
            action=data["action"],
            viewer_kind=data["viewer_kind"],
            practitioner_id=data["practitioner_id"],
            agency_id=data["agency_id"],
            profession=data["profession"],
            roles=tuple(data["roles"]),
            purpose=data["purpose"],
            basis=data["basis"],
            client_id=data["client_id"],
            items=tuple((str(e), int(v)) for e, v in data["items"]),
            response_hash=data["response_hash"],
            view_version=data.get("view_version"),
            state_version=data.get("state_version"),
            protocol_version=data.get("protocol_version"),
            grant_id=data.get("grant_id"),
        )

    def canonical_bytes(self) -> bytes:
        return orjson.dumps(self.to_json(), option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class StoredAccess:
    """An access record as stored, with its place in the chain."""

    position: int
    client_seq: int
    record: AccessRecord
    record_bytes: bytes
    stream_prev_hash: bytes
    prev_hash: bytes
    hash: bytes


def access_digest(position: int, client_id: str | None, client_seq: int, record: bytes) -> bytes:
    return record_digest(position, client_id or NO_CLIENT, client_seq, ACCESS_TOPIC, record)


class AccessLog:
    """The append-only, hash-chained access log table (``access_log``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, records: Sequence[AccessRecord]) -> list[int]:
        """Append records in one transaction; returns their positions."""
        if not records:
            return []
        with self.db.transaction() as tx:
            if self.db.dialect == "postgres":
                # Serialise appenders across processes so each sees the true chain head.
                tx.execute("LOCK TABLE access_log IN EXCLUSIVE MODE")
            head = tx.fetchone(
                "SELECT position, hash FROM access_log ORDER BY position DESC LIMIT 1"
            )
            position, prev = (0, GENESIS) if head is None else (int(head[0]), bytes(head[1]))
            streams: dict[str, tuple[int, bytes]] = {}
            rows = []
            positions = []
            for record in records:
                stream = record.client_id or ""
                if stream not in streams:
                    # "= ?" / "IS NULL", not "IS NOT DISTINCT FROM ?": PostgreSQL cannot use
                    # the (client_id, client_seq) index for the latter and scans the table.
                    last = (
                        tx.fetchone(
                            "SELECT client_seq, hash FROM access_log WHERE client_id IS NULL "
                            "ORDER BY client_seq DESC LIMIT 1"
                        )
                        if record.client_id is None
                        else tx.fetchone(
                            "SELECT client_seq, hash FROM access_log WHERE client_id = ? "
                            "ORDER BY client_seq DESC LIMIT 1",
                            (record.client_id,),
                        )
                    )
                    streams[stream] = (
                        (0, GENESIS) if last is None else (int(last[0]), bytes(last[1]))
                    )
                seq, stream_prev = streams[stream]
                position += 1
                seq += 1
                body = record.canonical_bytes()
                current = link_hash(
                    prev, stream_prev, access_digest(position, record.client_id, seq, body)
                )
                rows.append(
                    (
                        position,
                        record.access_id,
                        record.at.isoformat(),
                        record.request_id,
                        record.action,
                        record.viewer_kind,
                        record.practitioner_id,
                        record.agency_id,
                        record.profession,
                        record.purpose,
                        record.basis,
                        record.client_id,
                        seq,
                        record.response_hash,
                        body,
                        stream_prev,
                        prev,
                        current,
                    )
                )
                positions.append(position)
                streams[stream] = (seq, current)
                prev = current
            tx.executemany(
                "INSERT INTO access_log (position, access_id, at, request_id, action, viewer_kind, "
                "practitioner_id, agency_id, profession, purpose, basis, client_id, client_seq, "
                "response_hash, record, stream_prev_hash, prev_hash, hash) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
        return positions

    def read(self, *, after: int = 0, limit: int = 1000) -> list[StoredAccess]:
        """Stored records after ``after``, in position order."""
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                "SELECT position, client_seq, record, stream_prev_hash, prev_hash, hash "
                "FROM access_log WHERE position > ? ORDER BY position LIMIT ?",
                (after, limit),
            )
        return [
            StoredAccess(
                position=int(r[0]),
                client_seq=int(r[1]),
                record=AccessRecord.from_json(orjson.loads(bytes(r[2]))),
                record_bytes=bytes(r[2]),
                stream_prev_hash=bytes(r[3]),
                prev_hash=bytes(r[4]),
                hash=bytes(r[5]),
            )
            for r in rows
        ]

    def head(self) -> tuple[int, bytes]:
        with self.db.snapshot() as tx:
            row = tx.fetchone(
                "SELECT position, hash FROM access_log ORDER BY position DESC LIMIT 1"
            )
        return (0, GENESIS) if row is None else (int(row[0]), bytes(row[1]))


_STOP = object()


def _settle(future: Future[int], outcome: int | BaseException) -> None:
    """Complete a waiter's future, unless the waiter gave up (cancelled) meanwhile.

    A cancelled waiter (say, a client that disconnected) must not stop the writer
    thread that every other request depends on.
    """
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:
        pass


class AccessLogWriter:
    """Group-commits access records from many threads or coroutines into the access log.

    A failed commit fails the requests in that batch (``AUDIT_UNAVAILABLE``: fail
    closed), never the writer: it takes the next batch as soon as it arrives, so it
    succeeds again as soon as the store is back. A request that stops waiting (its
    timeout) withdraws its record if the writer has not started on it yet.
    """

    def __init__(self, log: AccessLog, *, max_batch: int = 512, timeout: float = 10.0) -> None:
        self.log = log
        self.max_batch = max_batch
        self.timeout = timeout
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="access-log-writer", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, record: AccessRecord) -> Future[int]:
        """Queue a record; the future completes with its position once it is committed."""
        future: Future[int] = Future()
        if self._closed:
            future.set_exception(AuditUnavailable(reason="writer_closed"))
            return future
        self._queue.put((record, future))
        return future

    def record(self, record: AccessRecord) -> int:
        """Append ``record`` durably and return its position; raise ``AuditUnavailable`` if not."""
        return self._wait(self.submit(record))

    def record_many(self, records: Sequence[AccessRecord]) -> list[int]:
        futures = [self.submit(r) for r in records]
        return [self._wait(f) for f in futures]

    async def record_async(self, record: AccessRecord) -> int:
        future = asyncio.wrap_future(self.submit(record))
        try:
            # On a timeout wait_for cancels the wrapper, which cancels the queued record.
            return await asyncio.wait_for(future, self.timeout)
        except AuditUnavailable:
            raise
        except TimeoutError:
            raise AuditUnavailable(reason="timeout") from None
        except Exception:
            raise AuditUnavailable() from None

    def _wait(self, future: Future[int]) -> int:
        try:
            return future.result(timeout=self.timeout)
        except AuditUnavailable:
            raise
        except TimeoutError:
            future.cancel()  # withdrawn unless the writer has already started on it
            raise AuditUnavailable(reason="timeout") from None
        except Exception:
            raise AuditUnavailable() from None

    def _run(self) -> None:
        failing = False
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            # Drop records whose requests stopped waiting (they were refused already).
            batch = [(r, f) for r, f in batch if f.set_running_or_notify_cancel()]
            if batch:
                failing = self._commit(batch, failing)
            if stop:
                return

    def _commit(self, batch: list[tuple[AccessRecord, Future[int]]], failing: bool) -> bool:
        """Append one batch and settle its waiters; returns whether it failed."""
        try:
            positions = self.log.append([record for record, _ in batch])
        except Exception as exc:
            transient = is_transient(exc)
            if not failing:
                log.warning(
                    "access-log writer: a group commit failed (%s); refusing those reads",
                    "store unavailable" if transient else type(exc).__name__,
                )
            failure = AuditUnavailable(
                reason="store_unavailable" if transient else type(exc).__name__
            )
            for _, future in batch:
                _settle(future, failure)
            return True
        if failing:
            log.warning("access-log writer: committing again")
        for (_, future), position in zip(batch, positions, strict=True):
            _settle(future, position)
        return False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout=self.timeout)
