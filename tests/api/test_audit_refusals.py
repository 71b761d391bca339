"""Reads refused because their access record was not written in time showed nothing, and
the access log says so: the attempt is recorded as refused (``outcome: refused``, no
items), never left standing as a read that returned entries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from waiting import wait_until

from carerecord.access_log import NOTHING_SHOWN, REFUSED, AccessLog, AccessLogWriter, AccessRecord
from carerecord.db import Database, Databases
from carerecord.errors import AuditUnavailable
from carerecord.migrate import apply_area
from carerecord.settings import Settings


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
        items=(("entry-1", 1), ("entry-2", 3)),
        response_hash="a" * 64,
        view_version=4,
        state_version=4,
        protocol_version=1,
    )


@pytest.fixture
def access(settings: Settings) -> Iterator[Database]:
    databases = Databases(settings)
    apply_area(databases.access, "access")
    try:
        yield databases.access
    finally:
        databases.close()


@contextmanager
def held(db: Database) -> Iterator[None]:
    """The access log locked by another transaction: the writer's commit has to wait."""
    with db.transaction() as tx:
        if db.dialect == "postgres":
            tx.execute("LOCK TABLE access_log IN EXCLUSIVE MODE")
        else:
            tx.execute("SELECT COUNT(*) FROM access_log")  # BEGIN IMMEDIATE holds the lock
        yield


def stored(log: AccessLog) -> list[AccessRecord]:
    return [s.record for s in log.read(after=0, limit=100)]


def test_a_read_refused_while_its_record_was_being_committed_is_then_recorded_as_refused(
    access: Database,
) -> None:
    log = AccessLog(access)
    writer = AccessLogWriter(log, timeout=0.5)
    read = _record()
    try:
        with held(access):
            pending = writer.submit(read)
            wait_until(pending.running, timeout=5, what="the writer to start on the record")
            with pytest.raises(AuditUnavailable) as refused:
                writer._wait(pending)  # the request's own wait, as writer.record does
            assert refused.value.fields["reason"] == "timeout"
        wait_until(lambda: log.head()[0] == 2, timeout=30, what="the refusal to be recorded")
    finally:
        writer.close()

    first, second = stored(log)
    assert first == read  # its commit completed after the caller was refused ...
    assert second.outcome == REFUSED  # ... so a refusal for the same request follows it
    assert second.request_id == read.request_id
    assert second.client_id == read.client_id
    assert second.practitioner_id == read.practitioner_id
    assert second.items == ()
    assert second.response_hash == NOTHING_SHOWN
    assert second.access_id != read.access_id


def test_a_read_refused_before_its_record_was_taken_is_recorded_as_refused_only(
    access: Database,
) -> None:
    log = AccessLog(access)
    writer = AccessLogWriter(log, timeout=0.5)
    answered, refused_read = _record(), _record()
    try:
        with held(access):
            first = writer.submit(answered)
            wait_until(first.running, timeout=5, what="the writer to start on a record")
            with pytest.raises(AuditUnavailable):
                writer.record(refused_read)  # queued behind the held commit, then gave up
        assert first.result(timeout=30) == 1
        wait_until(lambda: log.head()[0] == 2, timeout=30, what="the refusal to be recorded")
        assert writer.record(_record()) == 3  # the writer carries on
    finally:
        writer.close()

    records = stored(log)
    assert records[0] == answered
    assert records[0].outcome is None
    assert records[1] == refused_read.refused()
    assert records[1].access_id == refused_read.access_id
    assert records[1].outcome == REFUSED
    assert records[1].items == ()
    assert "outcome" not in answered.to_json()  # answered reads keep their stored form
