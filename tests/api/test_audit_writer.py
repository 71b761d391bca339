"""The group-committing audit writer survives waiters that give up (a subscriber that
disconnects while its delivery's access record is being written)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
from api_stack import Stack
from waiting import wait_until

from carerecord.access_log import REFUSED, AccessLog, AccessLogWriter, AccessRecord, refused_twin
from carerecord.db import Database
from carerecord.errors import AuditUnavailable


def _record() -> AccessRecord:
    return AccessRecord(
        access_id=str(uuid4()),
        at=datetime.now(UTC),
        request_id=str(uuid4()),
        action="record.read",
        viewer_kind="practitioner",
        practitioner_id="nurse-ann",
        agency_id="community-health",
        profession="district_nurse",
        roles=("practitioner",),
        purpose="direct_care",
        basis="care_relationship",
        client_id=str(uuid4()),
        items=(),
        response_hash="0" * 64,
    )


def test_a_cancelled_waiter_does_not_stop_the_writer(stack: Stack) -> None:
    db = stack.server.services.databases.access
    writer = AccessLogWriter(AccessLog(db), timeout=5)
    try:
        with db.transaction() as tx:  # hold the access log so the writer has to wait
            if db.dialect == "postgres":
                tx.execute("LOCK TABLE access_log IN EXCLUSIVE MODE")
            else:
                tx.execute("SELECT COUNT(*) FROM access_log")
            gave_up = writer.submit(_record())
            assert gave_up.cancel()
        position = writer.record(_record())
        assert position > 0
        assert writer._thread.is_alive()
    finally:
        writer.close()


@contextmanager
def access_log_held(db: Database) -> Iterator[threading.Event]:
    """Hold the access log's write lock in another transaction until the event is set."""
    release = threading.Event()
    held = threading.Event()

    def hold() -> None:
        with db.transaction() as tx:
            if db.dialect == "postgres":
                tx.execute("LOCK TABLE access_log IN EXCLUSIVE MODE")
            else:
                tx.execute("SELECT COUNT(*) FROM access_log")  # BEGIN IMMEDIATE holds it
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        yield release
    finally:
        release.set()
        holder.join(10)


def _attempt(writer: AccessLogWriter, record: AccessRecord) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(writer.record(record))
        except AuditUnavailable as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_read_refused_while_its_commit_hung_is_recorded_as_refused_not_shown(
    stack: Stack,
) -> None:
    """Issue 11, 11c: the writer had the record in a transaction when the reader gave up
    (after a timeout, and another waiting for that commit); the commit then succeeded, so
    the log holds the shown record and, after it, its refused twin - never "shown" alone."""
    db = stack.server.services.databases.access
    writer = AccessLogWriter(AccessLog(db), timeout=0.3)
    record = _record()
    try:
        with access_log_held(db) as release:
            start = AccessLog(db).head()[0]
            reader, outcome = _attempt(writer, record)
            reader.join(10)  # gives up: 0.3 s, then 0.3 s more for the commit in flight
            assert isinstance(outcome[0], AuditUnavailable)
            release.set()
        wait_until(lambda: AccessLog(db).head()[0] >= start + 2, what="the refused twin")
        written = [s.record for s in AccessLog(db).read(after=start)]
        mine = [r for r in written if r.request_id == record.request_id]
        assert [(r.outcome, r.refusal, r.items) for r in mine[-2:]] == [
            ("shown", None, ()),
            (REFUSED, "AUDIT_UNAVAILABLE", ()),
        ]
        assert mine[-1].client_id == record.client_id
        assert mine[-1].access_id != record.access_id
    finally:
        writer.close()


def test_a_read_whose_record_was_not_yet_taken_is_withdrawn_on_timeout(stack: Stack) -> None:
    db = stack.server.services.databases.access
    writer = AccessLogWriter(AccessLog(db), timeout=0.3)
    first, second = _record(), _record()
    try:
        with access_log_held(db):
            start = AccessLog(db).head()[0]
            taken = writer.submit(first)  # the writer takes it and waits for the lock
            wait_until(taken.running, what="the writer to take the first record")
            reader, outcome = _attempt(writer, second)  # queued behind it
            reader.join(10)
            assert isinstance(outcome[0], AuditUnavailable)
        assert taken.result(timeout=10) == start + 1
        written = [s.record.access_id for s in AccessLog(db).read(after=start)]
        assert first.access_id in written
        assert second.access_id not in written
    finally:
        writer.close()


def test_a_shown_record_keeps_its_canonical_bytes_and_a_refused_one_says_so() -> None:
    shown = _record()
    body = orjson.loads(shown.canonical_bytes())
    assert set(body).isdisjoint({"outcome", "refusal"})  # records before them hash alike
    assert AccessRecord.from_json(body) == shown
    twin = refused_twin(shown, "NO_CARE_RELATIONSHIP", access_id=str(uuid4()))
    refused = orjson.loads(twin.canonical_bytes())
    assert (refused["outcome"], refused["refusal"], refused["items"]) == (
        REFUSED,
        "NO_CARE_RELATIONSHIP",
        [],
    )
    assert AccessRecord.from_json(refused) == twin
