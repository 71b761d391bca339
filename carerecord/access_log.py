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
import hashlib
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import orjson

from carerecord.chain import GENESIS, link_hash, record_digest
from carerecord.db import Database
from carerecord.errors import AuditUnavailable
from carerecord.transient import is_transient
from carerecord.values import Viewer

log = logging.getLogger("carerecord.access_log")
NO_CLIENT = UUID(int=0)
ACCESS_TOPIC = "access"
SHOWN = "shown"
REFUSED = "refused"


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
    outcome: str = SHOWN
    refusal: str | None = None

    @property
    def refused(self) -> bool:
        return self.outcome == REFUSED

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
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
        # Only when not the defaults: a shown record's bytes are as they always were.
        if self.outcome != SHOWN:
            body["outcome"] = self.outcome
        if self.refusal is not None:
            body["refusal"] = self.refusal
        return body

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
            outcome=data.get("outcome", SHOWN),
            refusal=data.get("refusal"),
        )

    def canonical_bytes(self) -> bytes:
        return orjson.dumps(self.to_json(), option=orjson.OPT_SORT_KEYS)


def response_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON of a response that is not a slice of entries (a
    lookup's identity, a list's items, a summary); slices use ``slice.slice_hash``."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def access_record(
    viewer: Viewer,
    *,
    request_id: str,
    at: datetime,
    action: str,
    purpose: str,
    basis: str,
    client_id: str | None,
    response_hash: str,
    items: Sequence[tuple[str, int]] = (),
    access_id: str | None = None,
    view_version: int | None = None,
    state_version: int | None = None,
    protocol_version: int | None = None,
    grant_id: str | None = None,
    outcome: str = SHOWN,
    refusal: str | None = None,
) -> AccessRecord:
    """The access record of one read by ``viewer`` (or of a refused attempt, with
    ``outcome`` refused and the ``refusal`` code): the one way to make one."""
    return AccessRecord(
        access_id=access_id or str(uuid4()),
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
        view_version=view_version,
        state_version=state_version,
        protocol_version=protocol_version,
        grant_id=grant_id,
        outcome=outcome,
        refusal=refusal,
    )


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
AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"


def refused_twin(record: AccessRecord, refusal: str, *, access_id: str) -> AccessRecord:
    """``record`` as a refused attempt: same caller, client, action and request, nothing
    returned (no items), with the refusal's code."""
    return replace(
        record,
        access_id=access_id,
        items=(),
        outcome=REFUSED,
        refusal=refusal,
    )


def _settle(future: Future[Any], outcome: object) -> None:
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


@dataclass(frozen=True)
class _Job:
    """Records committed together (one request's, all or none) and their waiter."""

    records: tuple[AccessRecord, ...]
    future: Future[Any]
    single: bool


class AccessLogWriter:
    """Group-commits access records from many threads or coroutines into the access log.

    A failed commit fails the requests in that batch (``AUDIT_UNAVAILABLE``: fail
    closed), never the writer: it takes the next batch as soon as it arrives, so it
    succeeds again as soon as the store is back. One request's records are committed
    together or not at all (``submit_many``).

    A read is answered with data only if its records were committed, and a read refused
    because they were not is never left in the log as shown (issue 11, 11c): a request
    that stops waiting (its timeout) withdraws its records if the writer has not started
    on them; if the writer has (they are in a transaction), the request waits for that
    commit's outcome instead - for up to another timeout. Only if the commit outlives
    that too is the read refused while its records may still commit: then, if they do,
    the writer appends a refused twin of each (``refused_twin``, code
    ``AUDIT_UNAVAILABLE``, same request id) so the log says nothing was returned.
    """

    def __init__(self, log: AccessLog, *, max_batch: int = 512, timeout: float = 10.0) -> None:
        self.log = log
        self.max_batch = max_batch
        self.timeout = timeout
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="access-log-writer", daemon=True)
        self._closed = False
        self._lock = threading.Lock()
        self._abandoned: set[int] = set()
        self._thread.start()

    def submit(self, record: AccessRecord) -> Future[int]:
        """Queue a record; the future completes with its position once it is committed."""
        return self._submit((record,), single=True)

    def submit_many(self, records: Sequence[AccessRecord]) -> Future[list[int]]:
        """Queue records to commit together (all or none); the future gets their positions."""
        return self._submit(tuple(records), single=False)

    def _submit(self, records: tuple[AccessRecord, ...], *, single: bool) -> Future[Any]:
        future: Future[Any] = Future()
        if self._closed:
            future.set_exception(AuditUnavailable(reason="writer_closed"))
            return future
        self._queue.put(_Job(records, future, single))
        return future

    def record(self, record: AccessRecord) -> int:
        """Append ``record`` durably and return its position; raise ``AuditUnavailable`` if not."""
        position: int = self._wait(self.submit(record))
        return position

    def record_many(self, records: Sequence[AccessRecord]) -> list[int]:
        """Append records durably, together; raise ``AuditUnavailable`` if they were not."""
        if not records:
            return []
        positions: list[int] = self._wait(self.submit_many(records))
        return positions

    def record_later(self, records: Sequence[AccessRecord]) -> None:
        """Queue records without waiting (written with the next batch, or lost with it if
        that commit fails): for evidence whose answer must not wait on the store."""
        if records:
            self.submit_many(records)

    async def record_async(self, record: AccessRecord) -> int:
        future = self.submit(record)
        waiting = asyncio.wrap_future(future)
        try:
            # Shielded: a timeout must not cancel a record the writer is committing.
            position: int = await asyncio.wait_for(asyncio.shield(waiting), self.timeout)
            return position
        except TimeoutError:
            if future.cancel():  # withdrawn before the writer took it
                raise AuditUnavailable(reason="timeout") from None
            try:
                position = await asyncio.wait_for(asyncio.shield(waiting), self.timeout)
                return position
            except TimeoutError:
                return int(self._give_up(future))
            except AuditUnavailable:
                raise
            except Exception:
                raise AuditUnavailable() from None
        except AuditUnavailable:
            raise
        except Exception:
            raise AuditUnavailable() from None

    def _wait(self, future: Future[Any]) -> Any:
        try:
            return future.result(timeout=self.timeout)
        except AuditUnavailable:
            raise
        except TimeoutError:
            if future.cancel():  # withdrawn: the writer had not started on it
                raise AuditUnavailable(reason="timeout") from None
            try:  # in a transaction: its commit decides (see the class docstring)
                return future.result(timeout=self.timeout)
            except TimeoutError:
                return self._give_up(future)
            except AuditUnavailable:
                raise
            except Exception:
                raise AuditUnavailable() from None
        except Exception:
            raise AuditUnavailable() from None

    def _give_up(self, future: Future[Any]) -> Any:
        """Stop waiting for a commit in flight: its outcome if it just came, else refuse
        and let the writer record the refusal if the commit succeeds after all."""
        with self._lock:
            if not future.done():
                self._abandoned.add(id(future))
                raise AuditUnavailable(reason="timeout")
        try:
            return future.result(timeout=0)
        except AuditUnavailable:
            raise
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
            size = len(item.records)
            while size < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
                size += len(more.records)
            # Drop records whose requests stopped waiting (they were refused already).
            batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if batch:
                failing = self._commit(batch, failing)
            if stop:
                return

    def _commit(self, batch: list[_Job], failing: bool) -> bool:
        """Append one batch and settle its waiters; returns whether it failed."""
        try:
            positions = self.log.append([r for job in batch for r in job.records])
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
            with self._lock:
                for job in batch:
                    self._abandoned.discard(id(job.future))
                    _settle(job.future, failure)
            return True
        if failing:
            log.warning("access-log writer: committing again")
        late: list[AccessRecord] = []
        start = 0
        with self._lock:
            for job in batch:
                mine = positions[start : start + len(job.records)]
                start += len(job.records)
                _settle(job.future, mine[0] if job.single else mine)
                if id(job.future) in self._abandoned:
                    self._abandoned.discard(id(job.future))
                    late.extend(
                        refused_twin(r, AUDIT_UNAVAILABLE, access_id=str(uuid4()))
                        for r in job.records
                    )
        if late:
            log.warning(
                "access-log writer: recording %d reads refused during a slow commit", len(late)
            )
            self._queue.put(_Job(tuple(late), Future(), single=False))
        return False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout=self.timeout)
