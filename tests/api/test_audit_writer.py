"""The group-committing audit writer survives waiters that give up (a subscriber that
disconnects while its delivery's access record is being written)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from api_stack import Stack

from carerecord.access_log import AccessLog, AccessLogWriter, AccessRecord


def _record() -> AccessRecord:
    return AccessRecord(
        access_id=str(uuid4()),
        at=datetime.now(UTC),
        request_id="test",
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
