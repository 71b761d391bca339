"""The entry-level detail the audit index keeps for each recorded read - every returned
entry's contributing agency and the basis it was shown on - is exactly what the full
reconstruction of that read shows, over a generated history (consent granted, refused,
limited, withdrawn and expired; restrictions; team relationships; break-glass used and
run out; protocol version 2 adopted partway; views lagging), read in access-log order."""

from __future__ import annotations

from collections import Counter

import pytest
from audit_history import generate
from audit_world import Deployment

from carerecord.access_log import AccessLog
from carerecord.audit.details import CACHE_BYTES, ReadDetails
from carerecord.audit.reconstruct import TimeTravel


@pytest.mark.slow
@pytest.mark.parametrize(
    "bounds",
    [{"cached_clients": 2}, {"cached_clients": 512, "cache_bytes": 30_000}],
    ids=["few-clients", "few-bytes"],  # fewer than the clients; less than their streams
)
def test_recovered_bases_and_agencies_equal_the_replayed_reads(
    deployment: Deployment, bounds: dict[str, int]
) -> None:
    history = generate(deployment.app, deployment.clock, seed=41, reads=300)
    log = AccessLog(deployment.dbs.access)
    log.append([r.access for r in history.reads])
    stored = [s.record for s in log.read(after=0, limit=10_000)]
    details = ReadDetails(deployment.app, **bounds)
    engine = TimeTravel(deployment.app, cached_clients=8)
    bases: Counter[str] = Counter()
    for access in stored:
        replay = engine.reconstruct(access)
        assert replay.matches, access.access_id
        found = details.details(access)
        assert found.complete
        assert [(i.entry_id, i.version) for i in found.items] == list(access.items)
        assert {i.entry_id: i.basis for i in found.items} == {
            e.entry_id: e.basis for e in replay.shown
        }
        assert {i.entry_id: i.agency_id for i in found.items} == {
            e.entry_id: e.agency_id for e in replay.shown
        }
        bases.update(i.basis or "-" for i in found.items)
        cache = details._clients
        assert len(cache) <= bounds["cached_clients"]
        assert len(cache) == 1 or cache.bytes <= bounds.get("cache_bytes", CACHE_BYTES)
    # The history really produced the bases the index is asked about.
    assert {"consent", "implied_consent", "controller", "break_glass"} <= set(bases)
    assert "-" not in bases
