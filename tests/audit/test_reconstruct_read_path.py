"""Reads served by the real read side (the projections' read repository, views that lag
behind the log) reconstruct to the identical hash from the access records it builds.

This is the fidelity check against the implementation rather than the contract; the
API end-to-end test will add the HTTP edge on top.
"""

from __future__ import annotations

import random
from collections import Counter
from uuid import uuid4

import pytest
from audit_history import generate
from audit_reads import Read
from audit_world import GP, POLICE, SECRET, Deployment, register_client

from carerecord.application import CareRecord
from carerecord.audit.reconstruct import TimeTravel, reconstruct
from carerecord.errors import ClientNotFound, NotPermitted
from carerecord.values import Viewer
from carerecord.vocab import Purpose, ViewerKind
from projections.errors import ViewsBehind
from projections.registry import view_runner
from projections.repository import ReadRepository
from projections.settings import ProjectionSettings

READS = 400


@pytest.mark.slow
def test_reads_served_by_the_read_repository_reconstruct_exactly(
    deployment: Deployment,
) -> None:
    config = ProjectionSettings(protocol_wait_seconds=0.0)
    runner = view_runner(deployment.app, deployment.dbs.views, config, core=deployment.settings)
    repo = ReadRepository(deployment.app, deployment.dbs.views, settings=config, runner=runner)
    lag = random.Random(7)

    def serve(app: CareRecord, caller: Viewer, cid: str, purpose: Purpose, _: int) -> Read | None:
        if lag.random() < 0.5:  # otherwise the views stay behind the log for this read
            runner.catch_up()
        viewer = caller if caller.kind is ViewerKind.CLIENT else app.resolve_actor(caller)
        try:
            try:
                got = repo.client_slice(viewer, cid, purpose)
            except ViewsBehind:
                runner.catch_up()
                got = repo.client_slice(viewer, cid, purpose)
        except (ClientNotFound, NotPermitted):
            return None
        access = got.access_record(request_id=str(uuid4()), action="clientSlice", at=got.read_at)
        return Read(access, got.entries, len(got.entries))

    try:
        history = generate(
            deployment.app,
            deployment.clock,
            seed=5,
            reads=READS,
            serve=serve,
            # The views catch up with what gives a caller standing before they read (see
            # the known issue below); otherwise they lag behind the log half the time.
            on_standing_change=runner.catch_up,
        )
    finally:
        runner.stop()
    engine = TimeTravel(deployment.app)
    replays = [(read, engine.reconstruct(read.access)) for read in history.reads]
    failures = [
        (r.access.access_id, x.outcome.value, x.reason, x.differing_entry_ids)
        for r, x in replays
        if not x.matches
    ]
    assert failures == [], failures[:5]
    reads = [r.access for r in history.reads]
    assert len(reads) >= READS
    assert sum(1 for a in reads if a.view_version < a.state_version) > 20  # lagging views
    assert {a.protocol_version for a in reads} == {1, 2}
    assert Counter(a.basis for a in reads).keys() == {
        "care_relationship",
        "break_glass",
        "subject_access",
    }
    assert sum(1 for r in history.reads if r.shown) > 100


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="read side: a caller whose audience view has not been projected yet (a new "
    "break-glass grant or care relationship) is served an empty slice recorded with the "
    "client's view_version; it should record view_version=0 (no view yet) or wait as for "
    "VIEWS_BEHIND, so that the read can be replayed",
)
def test_a_read_before_the_views_know_the_callers_audience_reconstructs(
    deployment: Deployment,
) -> None:
    app, clock = deployment.app, deployment.clock
    config = ProjectionSettings(protocol_wait_seconds=0.0)
    runner = view_runner(app, deployment.dbs.views, config, core=deployment.settings)
    repo = ReadRepository(app, deployment.dbs.views, settings=config, runner=runner)
    try:
        cid = register_client(app)
        app.record_contribution(GP.caller, cid, heading="History", text=SECRET, occurred_at=clock())
        runner.catch_up()
        app.break_glass(POLICE.caller, cid, reason="Street triage: person in crisis", minutes=60)
        clock.advance(minutes=1)
        got = repo.client_slice(app.resolve_actor(POLICE.caller), cid, Purpose.EMERGENCY)
    finally:
        runner.stop()
    access = got.access_record(request_id="r", action="clientSlice", at=got.read_at)
    assert reconstruct(app, access).matches
