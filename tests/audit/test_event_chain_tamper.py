"""The event log's chain: intact logs verify; each tampering made in the database is
detected and located (log, position, stream, version, kind)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from audit_world import (
    GP,
    SECRET,
    Deployment,
    event_rows,
    event_tables,
    populate,
    raw,
    rechain_events,
    renumber_from,
    stored_id,
    stream_events,
    swap_ids,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carerecord.audit.chains import EVENTS, BreakKind, ChainCheck
from carerecord.audit.checkpoints import CheckpointSigner, TrustedKeys, checkpoint_log
from carerecord.audit.event_chain import check_event_chain
from carerecord.audit.verify import verify_log
from carerecord.chain import link_hash, record_digest


def check(dep: Deployment, page: int = 5000) -> ChainCheck:
    return check_event_chain(dep.dbs.events, event_tables(dep.settings), page=page)


def contribution_positions(dep: Deployment, stream: str) -> list[tuple[int, int]]:
    """(notification id, version) of a stream's contribution events."""
    return [
        (n, v) for n, v, topic in stream_events(dep.settings, stream) if "Contribution" in topic
    ]


@pytest.fixture
def clients(deployment: Deployment) -> list[str]:
    return populate(deployment.app, deployment.clock)


def test_an_untouched_log_verifies_record_by_record(
    deployment: Deployment, clients: list[str]
) -> None:
    rows = event_rows(deployment.settings)
    result = check(deployment, page=7)  # small pages: the walk crosses many page boundaries
    assert result.intact, result.first_break
    assert result.records == len(rows)
    assert result.head_position == int(rows[-1][0])


def test_an_edited_payload_is_located_as_altered_content(
    deployment: Deployment, clients: list[str]
) -> None:
    stream = clients[1]
    n, version = contribution_positions(deployment, stream)[2]
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        state = bytes(tx.scalar(f"SELECT state FROM {t.events} WHERE {t.id_column} = ?", (n,)))
        assert SECRET.encode() in state
        edited = state.replace(b"Quokka", b"Wombat")
        tx.execute(f"UPDATE {t.events} SET state = ? WHERE {t.id_column} = ?", (edited, n))
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.log, brk.kind, brk.position) == (EVENTS, BreakKind.CONTENT_ALTERED, n)
    assert (brk.stream, brk.version) == (stream, version)
    assert SECRET not in brk.detail
    assert "Wombat" not in brk.detail


def test_a_deleted_event_is_located_by_its_orphaned_chain_record(
    deployment: Deployment, clients: list[str]
) -> None:
    stream = clients[0]
    n, version = contribution_positions(deployment, stream)[1]
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        tx.execute(f"DELETE FROM {t.events} WHERE {t.id_column} = ?", (n,))
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream, brk.version) == (
        BreakKind.RECORD_MISSING,
        n,
        stream,
        version,
    )


def test_a_deleted_event_with_its_chain_record_is_located_between_its_neighbours(
    deployment: Deployment, clients: list[str]
) -> None:
    stream = clients[0]
    n, version = contribution_positions(deployment, stream)[1]
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        tx.execute(f"DELETE FROM {t.events} WHERE {t.id_column} = ?", (n,))
        tx.execute(f"DELETE FROM {t.chain} WHERE notification_id = ?", (n,))
    brk = check(deployment).first_break
    assert brk is not None
    assert brk.kind is BreakKind.RECORD_MISSING
    assert brk.after_position == n - 1
    assert brk.position == n + 1  # the first record whose link points at the removed one
    assert (brk.stream, brk.version) == (stream, version)  # found from the stream's next link


def test_a_removed_chain_record_is_reported_as_such(
    deployment: Deployment, clients: list[str]
) -> None:
    n, version = contribution_positions(deployment, clients[2])[0]
    with raw(deployment.settings, "events") as tx:
        tx.execute(
            f"DELETE FROM {event_tables(deployment.settings).chain} WHERE notification_id = ?",
            (n,),
        )
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream, brk.version) == (
        BreakKind.CHAIN_ROW_MISSING,
        n,
        clients[2],
        version,
    )


def test_two_events_with_swapped_versions_are_out_of_order(
    deployment: Deployment, clients: list[str]
) -> None:
    stream = clients[1]
    (a, va), (b, vb) = contribution_positions(deployment, stream)[1:3]
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        sql = f"UPDATE {t.events} SET originator_version = ? WHERE {t.id_column} = ?"
        tx.execute(sql, (-1, a))
        tx.execute(sql, (va, b))
        tx.execute(sql, (vb, a))
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream, brk.version) == (
        BreakKind.OUT_OF_ORDER,
        a,
        stream,
        vb,
    )


def test_two_events_with_swapped_positions_are_out_of_order(
    deployment: Deployment, clients: list[str]
) -> None:
    a, _ = contribution_positions(deployment, clients[0])[2]
    b, _ = contribution_positions(deployment, clients[2])[0]
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        swap_ids(tx, t.events, t.id_column, a, b)
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position) == (BreakKind.OUT_OF_ORDER, a)
    assert brk.stream == clients[2]  # what is now stored at position a


def test_events_moved_with_their_chain_records_are_out_of_order(
    deployment: Deployment, clients: list[str]
) -> None:
    a, _ = contribution_positions(deployment, clients[0])[2]
    b, _ = contribution_positions(deployment, clients[2])[0]
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        swap_ids(tx, t.events, t.id_column, a, b)
        swap_ids(tx, t.chain, "notification_id", a, b)
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream) == (BreakKind.OUT_OF_ORDER, a, clients[2])


def test_two_events_with_swapped_contents_are_out_of_order(
    deployment: Deployment, clients: list[str]
) -> None:
    stream = clients[1]
    (a, va), (b, vb) = contribution_positions(deployment, stream)[0:2]
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        sql = f"SELECT state FROM {t.events} WHERE {t.id_column} = ?"
        state_a, state_b = bytes(tx.scalar(sql, (a,))), bytes(tx.scalar(sql, (b,)))
        update = f"UPDATE {t.events} SET state = ? WHERE {t.id_column} = ?"
        tx.execute(update, (state_b, a))
        tx.execute(update, (state_a, b))
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream, brk.version) == (
        BreakKind.OUT_OF_ORDER,
        a,
        stream,
        va,
    )
    assert f"version {vb}" in brk.detail


def _forge_after(dep: Deployment, stream: str, k: int) -> tuple[int, int]:
    """Slot a forged event of ``stream`` in at position k+1 (moving later rows along),
    with a chain record computed correctly from its neighbours. Returns its (id, version)."""
    t = event_tables(dep.settings)
    with raw(dep.settings, "events") as tx:
        topic, state = tx.fetchone(
            f"SELECT topic, state FROM {t.events} WHERE originator_id = ? "
            "AND topic LIKE '%ContributionRecorded' LIMIT 1",
            (stored_id(dep.settings, stream),),
        )
        version = (
            int(
                tx.scalar(
                    f"SELECT MAX(originator_version) FROM {t.chain} WHERE originator_id = ?",
                    (stream,),
                )
            )
            + 1
        )
        stream_prev = bytes(
            tx.scalar(
                f"SELECT hash FROM {t.chain} WHERE originator_id = ? AND originator_version = ?",
                (stream, version - 1),
            )
        )
        prev = bytes(tx.scalar(f"SELECT hash FROM {t.chain} WHERE notification_id = ?", (k,)))
        renumber_from(tx, t.events, t.id_column, k, 1)
        renumber_from(tx, t.chain, "notification_id", k, 1)
        n = k + 1
        tx.execute(
            f"INSERT INTO {t.events} ({t.id_column}, originator_id, originator_version, topic, "
            "state) VALUES (?,?,?,?,?)",
            (n, stored_id(dep.settings, stream), version, topic, bytes(state)),
        )
        forged = link_hash(
            prev, stream_prev, record_digest(n, stream, version, topic, bytes(state))
        )
        tx.execute(
            f"INSERT INTO {t.chain} VALUES (?,?,?,?,?,?)",
            (n, stream, version, stream_prev, prev, forged),
        )
    return n, version


def test_an_inserted_event_without_a_chain_record_is_located(
    deployment: Deployment, clients: list[str]
) -> None:
    stream = clients[0]
    t = event_tables(deployment.settings)
    version = len(stream_events(deployment.settings, stream)) + 1
    with raw(deployment.settings, "events") as tx:
        topic, state = tx.fetchone(
            f"SELECT topic, state FROM {t.events} WHERE originator_id = ? "
            "AND topic LIKE '%ContributionRecorded' LIMIT 1",
            (stored_id(deployment.settings, stream),),
        )
        top = int(tx.scalar(f"SELECT MAX({t.id_column}) FROM {t.events}"))
        tx.execute(
            f"INSERT INTO {t.events} ({t.id_column}, originator_id, originator_version, topic, "
            "state) VALUES (?,?,?,?,?)",
            (top + 1, stored_id(deployment.settings, stream), version, topic, bytes(state)),
        )
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream, brk.version) == (
        BreakKind.RECORD_INSERTED,
        top + 1,
        stream,
        version,
    )


def test_an_inserted_event_with_a_forged_chain_record_is_located_by_its_successor(
    deployment: Deployment, clients: list[str]
) -> None:
    k, _ = contribution_positions(deployment, clients[0])[1]
    n, version = _forge_after(deployment, clients[2], k)
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream, brk.version) == (
        BreakKind.RECORD_INSERTED,
        n,
        clients[2],
        version,
    )
    assert brk.after_position == k


def _signed(dep: Deployment) -> tuple[CheckpointSigner, TrustedKeys]:
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    trusted = TrustedKeys({signer.key_id: signer.public_key})
    checkpoint_log(dep.settings, dep.dbs, signer, EVENTS, now=dep.clock(), trusted=trusted)
    return signer, trusted


def test_a_consistent_rewrite_after_a_checkpoint_is_caught_by_the_checkpoint(
    deployment: Deployment, clients: list[str]
) -> None:
    _, trusted = _signed(deployment)
    head = int(event_rows(deployment.settings)[-1][0])
    k = stream_events(deployment.settings, clients[0])[-1][0]  # a plausible next version
    _forge_after(deployment, clients[0], k)
    rechain_events(deployment.settings)  # every hash recomputed: the chain alone looks fine
    assert check(deployment).intact
    report = verify_log(deployment.settings, deployment.dbs, EVENTS, trusted=trusted)
    brk = report.first_break
    assert brk is not None
    assert (brk.kind, brk.position) == (BreakKind.CHECKPOINT_MISMATCH, head)


def test_records_removed_from_the_end_are_caught_by_the_checkpoint(
    deployment: Deployment, clients: list[str]
) -> None:
    _, trusted = _signed(deployment)
    head = int(event_rows(deployment.settings)[-1][0])
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        tx.execute(f"DELETE FROM {t.events} WHERE {t.id_column} >= ?", (head - 1,))
        tx.execute(f"DELETE FROM {t.chain} WHERE notification_id >= ?", (head - 1,))
    assert check(deployment).intact  # a truncated chain is still a chain...
    brk = verify_log(deployment.settings, deployment.dbs, EVENTS, trusted=trusted).first_break
    assert brk is not None  # ...but not the one that was signed
    assert (brk.kind, brk.position) == (BreakKind.RECORD_MISSING, head)
    assert f"ends at position {head - 2}" in brk.detail


@pytest.mark.postgres
def test_gaps_in_postgres_notification_ids_are_not_breaks(pg_deployment: Deployment) -> None:
    deployment = pg_deployment
    clients = populate(deployment.app, deployment.clock)
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        seq = tx.scalar("SELECT pg_get_serial_sequence(?, 'notification_id')", (t.events,))
        # As failed inserts would, only far more: the walk must jump the gap, not page it.
        tx.execute("SELECT setval(?, nextval(?) + 10000000)", (seq, seq))
    deployment.clock.advance(minutes=1)
    deployment.app.record_contribution(
        GP.caller, clients[0], heading="Plan", text=SECRET, occurred_at=deployment.clock()
    )
    ids = [int(r[0]) for r in event_rows(deployment.settings)]
    assert ids[-1] - ids[-2] > 10000000
    result = check(deployment)
    assert result.intact, result.first_break
    assert result.head_position == ids[-1]


def test_an_intact_log_with_a_checkpoint_verifies_through_it(
    deployment: Deployment, clients: list[str]
) -> None:
    _, trusted = _signed(deployment)
    deployment.clock.advance(minutes=1)
    deployment.app.record_contribution(
        GP.caller, clients[0], heading="Plan", text=SECRET, occurred_at=deployment.clock()
    )
    report = verify_log(deployment.settings, deployment.dbs, EVENTS, trusted=trusted)
    assert report.intact, report.first_break
    assert (report.checkpoints, report.checkpoints_valid, report.chain.pins_checked) == (1, 1, 1)


def test_an_edit_of_the_newest_event_is_altered_content_not_an_insertion(
    deployment: Deployment, clients: list[str]
) -> None:
    n, version, _ = stream_events(deployment.settings, clients[-1])[-1]
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        tx.execute(f"UPDATE {t.events} SET state = ? WHERE {t.id_column} = ?", (b"{}", n))
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.version) == (BreakKind.CONTENT_ALTERED, n, version)


def test_an_event_moved_to_another_stream_is_out_of_order(
    deployment: Deployment, clients: list[str]
) -> None:
    n, version = contribution_positions(deployment, clients[1])[0]
    elsewhere = str(uuid4())
    t = event_tables(deployment.settings)
    with raw(deployment.settings, "events") as tx:
        tx.execute(
            f"UPDATE {t.events} SET originator_id = ? WHERE {t.id_column} = ?",
            (stored_id(deployment.settings, elsewhere), n),
        )
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream, brk.version) == (
        BreakKind.OUT_OF_ORDER,
        n,
        elsewhere,
        version,
    )
