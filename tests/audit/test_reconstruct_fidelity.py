"""Every recorded read of a generated history reconstructs to the identical hash.

At least 1,000 reads, served (as the read path serves them) across consent granted,
refused, limited, withdrawn, re-granted and expired; restrictions placed and lifted;
protocol versions 2 and 3 adopted partway; amendments, entries in error, alerts; care,
team, break-glass and subject-access readers; views lagging behind the record.
The reads are written to the real access log and read back from it before replay.
"""

from __future__ import annotations

from collections import Counter

import pytest
from audit_history import generate
from audit_world import Deployment

from carerecord.access_log import AccessLog
from carerecord.audit.reconstruct import Outcome, TimeTravel, ViewProtocol

READS = 1000


@pytest.mark.slow
def test_every_recorded_read_reconstructs_to_the_identical_hash(deployment: Deployment) -> None:
    history = generate(deployment.app, deployment.clock, seed=20260302, reads=READS)
    log = AccessLog(deployment.dbs.access)
    log.append([r.access for r in history.reads])
    stored = []
    after = 0
    while page := log.read(after=after, limit=400):
        stored.extend(s.record for s in page)
        after = page[-1].position
    assert len(stored) == len(history.reads) >= READS

    engine = TimeTravel(deployment.app, cached_clients=2)  # fewer than the clients: evictions
    outcomes = Counter()
    failures = []
    for access in stored:
        replayed = engine.reconstruct(access)
        outcomes[replayed.outcome] += 1
        if not replayed.matches:
            failures.append((access.access_id, replayed.outcome, replayed.differing_entry_ids))
    assert failures == [], failures[:5]
    assert outcomes == {Outcome.MATCH: len(stored)}

    # The history really exercised what fidelity depends on (else this proves little).
    did = history.did
    for fact in (
        "contribution",
        "amendment",
        "entered_in_error",
        "alert",
        "alert_resolved",
        "consent",
        "consent_withdrawn",
        "restriction",
        "restriction_lifted",
        "break_glass",
        "relationship_ended",
        "protocol_v2",
        "protocol_v3",
    ):
        assert did[fact] > 0, fact
    reads = [r.access for r in history.reads]
    assert Counter(a.basis for a in reads).keys() == {
        "care_relationship",
        "break_glass",
        "subject_access",
    }
    assert {a.protocol_version for a in reads} == {1, 2, 3}
    assert sum(1 for a in reads if a.view_version < a.state_version) > 100
    assert sum(1 for r in history.reads if r.shown) > 300
    assert sum(1 for r in history.reads if not r.shown) > 20
    assert sum(1 for r in history.reads if len(r.shown) < r.in_view) > 20
    assert sum(1 for r in history.reads if any(e.amended for e in r.shown)) > 20
    assert sum(1 for r in history.reads if any(e.author_id is None for e in r.shown)) > 0
    assert len({a.purpose for a in reads}) == 4
    shown_by_basis = Counter(r.access.basis for r in history.reads if r.shown)
    assert shown_by_basis["break_glass"] > 10
    assert shown_by_basis["subject_access"] > 30
    assert sum(1 for r in history.reads if r.access.practitioner_id == "nurse-bo" and r.shown) > 10

    # The protocol change mattered: views that lagged behind it would have shown otherwise.
    other_rule = TimeTravel(deployment.app, view_protocol=ViewProtocol.AT_VIEW_VERSION)
    assert any(not other_rule.reconstruct(a).matches for a in stored)
