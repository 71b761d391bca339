"""A recorded read that does not agree with the log is caught, and the entries named.

Each test serves a real read (as the read path would), then records an access that
differs from it in one way an altered or faulty audit trail could, and shows the
replay disagrees - or, for reads that cannot be replayed, says why.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest
from audit_reads import Read, serve_read
from audit_world import GP, MH, POLICE, SECRET, SOCIAL_WORKER, SUPPORT, Deployment, register_client

from carerecord.audit.reconstruct import Outcome, TimeTravel, ViewProtocol, reconstruct
from carerecord.protocol import bundled_document, parse_protocol
from carerecord.slice import slice_hash
from carerecord.vocab import Purpose


@pytest.fixture
def client(deployment: Deployment) -> str:
    """A client with consent to share, a social worker involved, and two GP entries."""
    app, clock = deployment.app, deployment.clock
    cid = register_client(app)
    app.start_care_relationship(SOCIAL_WORKER.caller, cid, reason="Allocated")
    app.record_consent(GP.caller, cid, decision="granted", everyone=True)
    for heading in ("History", "Plan"):
        clock.advance(minutes=5)
        app.record_contribution(GP.caller, cid, heading=heading, text=SECRET, occurred_at=clock())
    return cid


def version_of(dep: Deployment, cid: str) -> int:
    return dep.app.load_client(cid).version


def served(dep: Deployment, cid: str, purpose: Purpose = Purpose.DIRECT_CARE) -> Read:
    read = serve_read(dep.app, SOCIAL_WORKER.caller, cid, purpose, version_of(dep, cid))
    assert read is not None
    return read


def test_a_faithful_record_of_a_read_matches(deployment: Deployment, client: str) -> None:
    read = served(deployment, client)
    assert len(read.shown) == 2
    result = reconstruct(deployment.app, read.access)
    assert result.outcome is Outcome.MATCH
    assert result.reconstructed_hash == read.access.response_hash
    assert [e.entry_id for e in result.shown] == [e.entry_id for e in read.shown]


def test_a_read_recorded_against_a_later_consent_state_is_a_mismatch(
    deployment: Deployment, client: str
) -> None:
    read = served(deployment, client)
    deployment.clock.advance(minutes=1)
    deployment.app.record_consent(GP.caller, client, decision="refused", everyone=True)
    # The access claims it was served after the refusal, yet shows what consent allowed.
    claimed = replace(
        read.access, state_version=version_of(deployment, client), at=deployment.clock()
    )
    result = reconstruct(deployment.app, claimed)
    assert result.outcome is Outcome.MISMATCH
    assert result.missing == tuple(sorted(e.entry_id for e in read.shown))
    assert result.shown == ()


def test_an_access_claiming_an_entry_that_was_not_shown_names_it(
    deployment: Deployment, client: str
) -> None:
    deployment.clock.advance(minutes=1)
    hidden = deployment.app.record_contribution(
        GP.caller, client, heading="Sexual health", text=SECRET, occurred_at=deployment.clock()
    ).id
    assert hidden is not None
    read = served(deployment, client)
    assert hidden not in {e.entry_id for e in read.shown}  # restricted to the GP's agency
    forged = replace(read.shown[0], entry_id=hidden)
    claimed = replace(
        read.access,
        items=(*read.access.items, (hidden, forged.version)),
        response_hash=slice_hash([*read.shown, forged]),
    )
    result = reconstruct(deployment.app, claimed)
    assert result.outcome is Outcome.MISMATCH
    assert result.missing == (hidden,)
    assert result.differing_entry_ids == (hidden,)


def test_an_altered_response_hash_is_a_mismatch_without_an_entry_to_blame(
    deployment: Deployment, client: str
) -> None:
    read = served(deployment, client)
    result = reconstruct(deployment.app, replace(read.access, response_hash="0" * 64))
    assert result.outcome is Outcome.MISMATCH
    assert result.differing_entry_ids == ()
    assert result.reconstructed_hash == read.access.response_hash


def test_a_read_claiming_another_protocol_version_is_a_mismatch(
    deployment: Deployment, client: str
) -> None:
    app, clock = deployment.app, deployment.clock
    app.start_care_relationship(SUPPORT.caller, client, reason="Support plan")
    app.start_care_relationship(MH.caller, client, reason="Referred")
    clock.advance(minutes=1)
    entry = app.record_contribution(
        MH.caller, client, heading="Mental state", text=SECRET, occurred_at=clock()
    ).id
    app.adopt_protocol(bundled_document(2))  # v2 opens sensitive mental health to support
    read = serve_read(
        app, SUPPORT.caller, client, Purpose.DIRECT_CARE, version_of(deployment, client)
    )
    assert read is not None
    assert entry in {e.entry_id for e in read.shown}
    assert reconstruct(app, read.access).matches
    result = reconstruct(app, replace(read.access, protocol_version=1))
    assert result.outcome is Outcome.MISMATCH
    assert result.missing == (entry,)


def test_a_break_glass_read_replays_only_while_the_grant_was_active(
    deployment: Deployment, client: str
) -> None:
    app, clock = deployment.app, deployment.clock
    app.break_glass(POLICE.caller, client, reason="Street triage: person in crisis", minutes=30)
    clock.advance(minutes=10)
    read = serve_read(app, POLICE.caller, client, Purpose.EMERGENCY, version_of(deployment, client))
    assert read is not None
    assert read.access.basis == "break_glass"
    assert read.access.grant_id is not None
    assert read.shown  # implied consent does not reach the police; the grant does
    assert reconstruct(app, read.access).matches
    later = replace(read.access, at=read.access.at + timedelta(minutes=30))
    result = reconstruct(app, later)
    assert result.outcome is Outcome.MISMATCH
    assert result.relationship == "none"
    assert result.missing == tuple(sorted(e.entry_id for e in read.shown))


def test_views_that_kept_their_protocol_version_replay_under_that_rule(
    deployment: Deployment, client: str
) -> None:
    app, clock = deployment.app, deployment.clock
    app.start_care_relationship(SUPPORT.caller, client, reason="Support plan")
    app.start_care_relationship(MH.caller, client, reason="Referred")
    clock.advance(minutes=1)
    entry = app.record_contribution(
        MH.caller, client, heading="Mental state", text=SECRET, occurred_at=clock()
    ).id
    lagging = version_of(deployment, client)
    app.adopt_protocol(bundled_document(2))
    version_1 = parse_protocol(bundled_document(1))
    kept = serve_read(
        app, SUPPORT.caller, client, Purpose.DIRECT_CARE, lagging, view_protocol=version_1
    )
    recurated = serve_read(app, SUPPORT.caller, client, Purpose.DIRECT_CARE, lagging)
    assert kept is not None
    assert recurated is not None
    assert entry not in {e.entry_id for e in kept.shown}
    assert entry in {e.entry_id for e in recurated.shown}
    at_view = TimeTravel(app, view_protocol=ViewProtocol.AT_VIEW_VERSION)
    at_read = TimeTravel(app)
    assert at_view.reconstruct(kept.access).matches
    assert not at_view.reconstruct(recurated.access).matches
    assert at_read.reconstruct(recurated.access).matches
    assert not at_read.reconstruct(kept.access).matches


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"view_version": None}, "no_versions"),
        ({"client_id": None}, "no_client_id"),
        ({"client_id": str(uuid4())}, "client_not_found"),
        ({"protocol_version": 9}, "protocol_version_unknown"),
        ({"state_version": 10_000}, "version_not_in_log"),
        ({"purpose": "browsing"}, "unknown_value"),
    ],
)
def test_reads_that_cannot_be_replayed_say_why(
    deployment: Deployment, client: str, change: dict[str, object], reason: str
) -> None:
    read = served(deployment, client)
    result = reconstruct(deployment.app, replace(read.access, **change))  # type: ignore[arg-type]
    assert (result.outcome, result.reason) == (Outcome.NOT_RECONSTRUCTIBLE, reason)
    assert not result.matches


def test_a_read_recorded_before_any_view_of_its_audience_can_have_shown_nothing(
    deployment: Deployment, client: str
) -> None:
    read = served(deployment, client)
    nothing = replace(read.access, view_version=0, items=(), response_hash=slice_hash([]))
    assert reconstruct(deployment.app, nothing).matches
    result = reconstruct(deployment.app, replace(read.access, view_version=0))
    assert result.outcome is Outcome.MISMATCH
    assert result.missing == tuple(sorted(e.entry_id for e in read.shown))
