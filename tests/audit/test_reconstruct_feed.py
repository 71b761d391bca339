"""Feed pages replay too: what a page delivered of each client is a part of that client's
slice at that moment, and the access record lists exactly those entries.

Feed pages are read by practitioners and by their agencies' systems all through a
generated history (consents withdrawn, restrictions, amendments, entries in error,
break-glass, relationships ended, a protocol change), each recorded as the API records
it, and every record must replay to its hash; forged records must not.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import pytest
from audit_history import generate
from audit_reads import Read, repository_read
from audit_world import Deployment

from carerecord.access_log import AccessRecord
from carerecord.application import CareRecord
from carerecord.audit.reconstruct import Outcome, TimeTravel
from carerecord.values import Viewer
from carerecord.vocab import Purpose, ViewerKind
from projections.engine.settings import ProjectionSettings
from projections.registry import view_runner
from projections.repository import ReadRepository

READS = 400


@pytest.fixture
def deliveries(deployment: Deployment) -> list[AccessRecord]:
    """The access records of feed pages read all through a generated history."""
    config = ProjectionSettings(view_wait_seconds=0.0)
    runner = view_runner(deployment.app, deployment.dbs.views, config, core=deployment.settings)
    repo = ReadRepository(deployment.app, deployment.dbs.views, settings=config, runner=runner)
    cursors: dict[tuple[str, str | None, str | None], int] = {}
    records: list[AccessRecord] = []

    def read_pages(app: CareRecord, caller: Viewer) -> None:
        system = Viewer(kind=ViewerKind.AGENCY_SYSTEM, agency_id=caller.agency_id)
        for who in (app.resolve_actor(caller), app.resolve_actor(system)):
            key = (who.kind.value, who.agency_id, who.practitioner_id)
            page = repo.feed(who, after=cursors.get(key, 0), limit=4)
            cursors[key] = page.next_after
            records.extend(
                page.access_records(request_id=str(uuid4()), action="feed.page", at=page.read_at)
            )

    def serve(app: CareRecord, caller: Viewer, cid: str, purpose: Purpose, _: int) -> Read | None:
        runner.catch_up()
        if caller.kind is ViewerKind.PRACTITIONER:
            read_pages(app, caller)
        return repository_read(repo, runner, app, caller, cid, purpose)

    try:
        generate(deployment.app, deployment.clock, seed=11, reads=READS, serve=serve)
    finally:
        runner.stop()
    return records


@pytest.mark.slow
def test_every_feed_delivery_reconstructs_to_its_hash(
    deployment: Deployment, deliveries: list[AccessRecord]
) -> None:
    engine = TimeTravel(deployment.app)
    replays = [(a, engine.reconstruct(a)) for a in deliveries]
    failures = [
        (a.access_id, x.outcome.value, x.reason, x.differing_entry_ids)
        for a, x in replays
        if not x.matches
    ]
    assert failures == [], failures[:5]
    assert len(deliveries) > 100
    assert sum(len(a.items) for a in deliveries) > 150
    assert {a.viewer_kind for a in deliveries} == {"practitioner", "agency_system"}
    assert {a.protocol_version for a in deliveries} == {1, 2, 3}
    for access, replay in replays:  # the replay shows what was delivered, no more
        assert {e.entry_id for e in replay.shown} == {i for i, _ in access.items}
        assert replay.unexpected == ()


@pytest.mark.slow
def test_a_forged_feed_delivery_is_a_mismatch_that_names_the_entry(
    deployment: Deployment, deliveries: list[AccessRecord]
) -> None:
    engine = TimeTravel(deployment.app)
    several = next(a for a in deliveries if len({i for i, _ in a.items}) >= 2)
    other = next(a for a in deliveries if a.client_id != several.client_id and a.items)
    foreign = other.items[0]  # an entry of another client: never in this client's slice

    dropped = engine.reconstruct(replace(several, items=several.items[1:]))
    claimed = engine.reconstruct(replace(several, items=(*several.items, foreign)))
    altered = engine.reconstruct(replace(several, response_hash="0" * 64))
    bumped = engine.reconstruct(
        replace(several, items=((several.items[0][0], several.items[0][1] + 1), *several.items[1:]))
    )

    assert engine.reconstruct(several).outcome is Outcome.MATCH
    assert dropped.outcome is Outcome.MISMATCH  # the hash covers exactly what was delivered
    assert claimed.outcome is Outcome.MISMATCH  # delivered, says the record; not allowed
    assert claimed.missing == (foreign[0],)
    assert altered.outcome is Outcome.MISMATCH
    assert altered.differing_entry_ids == ()
    assert bumped.outcome is Outcome.MISMATCH
    assert bumped.changed == (several.items[0][0],)
