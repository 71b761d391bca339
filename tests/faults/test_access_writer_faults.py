"""The access-log writer through an outage: the batches it cannot commit fail their reads
(fail closed), the writer itself carries on and commits again once the server is back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pg_cluster import PgCluster

from carerecord.access_log import AccessLog, AccessLogWriter, AccessRecord
from carerecord.db import PostgresDatabase
from carerecord.errors import AuditUnavailable
from carerecord.migrate import apply_area

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _record() -> AccessRecord:
    return AccessRecord(
        access_id=str(uuid.uuid4()),
        at=datetime.now(UTC),
        request_id="fault-test",
        action="record.read",
        viewer_kind="practitioner",
        practitioner_id="nurse-ann",
        agency_id="community-health",
        profession="district_nurse",
        roles=("practitioner",),
        purpose="direct_care",
        basis="care_relationship",
        client_id=str(uuid.uuid4()),
        items=(),
        response_hash="0" * 64,
    )


@pytest.fixture
def access(healthy: PgCluster) -> Iterator[PostgresDatabase]:
    db = PostgresDatabase(healthy.new_database(), min_size=1, max_size=2)
    apply_area(db, "access")
    try:
        yield db
    finally:
        db.close()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_the_writer_refuses_during_an_outage_and_commits_again_after_it(
    healthy: PgCluster, access: PostgresDatabase, mode: str
) -> None:
    log = AccessLog(access)
    writer = AccessLogWriter(log, timeout=15)
    try:
        assert writer.record(_record()) == 1
        healthy.stop(mode)
        with pytest.raises(AuditUnavailable) as refused:
            writer.record(_record())
        assert refused.value.fields["reason"] == "store_unavailable"
        assert refused.value.passes
        healthy.start()
        assert writer.record(_record()) == 2, "the refused record was not written"
        assert writer._thread.is_alive()
    finally:
        writer.close()
    assert log.head()[0] == 2
