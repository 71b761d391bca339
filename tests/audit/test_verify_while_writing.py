"""Verification runs against a live store: records appended while it walks are either
checked (if they were there when it started) or left for the next run - never a false
break."""

from __future__ import annotations

import threading

from audit_world import GP, SECRET, Deployment, populate, some_access

from carerecord.access_log import AccessLog
from carerecord.audit.access_chain import check_access_chain
from carerecord.audit.chains import EventTables
from carerecord.audit.event_chain import check_event_chain
from carerecord.runtime import open_care_record


def test_logs_verify_intact_while_commands_and_reads_are_being_recorded(
    deployment: Deployment,
) -> None:
    clients = populate(deployment.app, deployment.clock, clients=2, entries=1)
    some_access(deployment, clients[0])
    writer_app = open_care_record(deployment.settings, clock=deployment.clock)
    access = AccessLog(deployment.dbs.access)
    done = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(60):
                writer_app.record_contribution(
                    GP.caller,
                    clients[n % 2],
                    heading="Plan",
                    text=SECRET,
                    occurred_at=deployment.clock(),
                )
                some_access(deployment, clients[n % 2])
        except BaseException as exc:  # reported below, on the test's thread
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    tables = EventTables.for_settings(deployment.settings)
    walks = 0
    try:
        while not done.is_set() or walks < 3:
            events = check_event_chain(deployment.dbs.events, tables, page=16)
            accesses = check_access_chain(deployment.dbs.access, page=16)
            assert events.intact, events.first_break
            assert accesses.intact, accesses.first_break
            walks += 1
    finally:
        thread.join()
        writer_app.close()
    assert failures == []
    assert check_access_chain(deployment.dbs.access).records == access.head()[0] == 305
