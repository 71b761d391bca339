"""The access log's chain: intact logs verify; each tampering made in the database is
detected and located (position, client, client sequence, kind)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import orjson
import pytest
from audit_world import Deployment, raw, renumber_from, swap_ids
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carerecord.access_log import AccessLog, AccessRecord, access_digest
from carerecord.audit.access_chain import check_access_chain
from carerecord.audit.chains import ACCESS, BreakKind, ChainCheck
from carerecord.audit.checkpoints import CheckpointSigner, TrustedKeys, checkpoint_log
from carerecord.audit.verify import verify_log
from carerecord.chain import link_hash

CLIENTS = [str(uuid4()) for _ in range(3)]
COLUMNS = (
    "position, access_id, at, request_id, action, viewer_kind, practitioner_id, agency_id, "
    "profession, purpose, basis, client_id, client_seq, response_hash, record, "
    "stream_prev_hash, prev_hash, hash"
)


def record(dep: Deployment, n: int, client: str | None) -> AccessRecord:
    return AccessRecord(
        access_id=str(uuid4()),
        at=dep.clock() + timedelta(seconds=n),
        request_id=f"req-{n}",
        action="clientSlice" if client else "lookupClient",
        viewer_kind="practitioner",
        practitioner_id=f"pract-{n % 4}",
        agency_id="gp-north",
        profession="gp",
        roles=("practitioner",),
        purpose="direct_care",
        basis="care_relationship",
        client_id=client,
        items=((str(uuid4()), n),),
        response_hash=f"{n:064x}",
        view_version=n,
        state_version=n,
        protocol_version=1,
    )


@pytest.fixture
def log(deployment: Deployment) -> AccessLog:
    """An access log with 30 records: three clients interleaved, and client-less lookups."""
    access = AccessLog(deployment.dbs.access)
    batch = []
    for n in range(30):
        client = None if n % 7 == 3 else CLIENTS[n % 3]
        batch.append(record(deployment, n, client))
        if len(batch) == 4:
            access.append(batch)  # several transactions, several records each
            batch = []
    access.append(batch)
    return access


def check(dep: Deployment, page: int = 5000) -> ChainCheck:
    return check_access_chain(dep.dbs.access, page=page)


def row_of(dep: Deployment, position: int) -> dict[str, Any]:
    with raw(dep.settings, "access") as tx:
        row = tx.fetchone(f"SELECT {COLUMNS} FROM access_log WHERE position = ?", (position,))
    return dict(zip([c.strip() for c in COLUMNS.split(",")], row, strict=True))


def test_an_untouched_access_log_verifies(deployment: Deployment, log: AccessLog) -> None:
    result = check(deployment, page=4)
    assert result.intact, result.first_break
    assert (result.records, result.head_position) == (30, 30)
    assert result.head_hash == log.head()[1]


def test_an_edited_access_record_is_located_as_altered_content(
    deployment: Deployment, log: AccessLog
) -> None:
    target = row_of(deployment, 11)
    data = orjson.loads(bytes(target["record"]))
    data["items"] = []  # hide what was shown
    with raw(deployment.settings, "access") as tx:
        tx.execute(
            "UPDATE access_log SET record = ? WHERE position = 11",
            (orjson.dumps(data, option=orjson.OPT_SORT_KEYS),),
        )
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.log, brk.kind, brk.position) == (ACCESS, BreakKind.CONTENT_ALTERED, 11)
    assert (brk.stream, brk.version) == (target["client_id"], target["client_seq"])


def test_an_edited_index_column_is_caught_even_though_the_record_is_intact(
    deployment: Deployment, log: AccessLog
) -> None:
    with raw(deployment.settings, "access") as tx:
        tx.execute("UPDATE access_log SET practitioner_id = 'someone-else' WHERE position = 5")
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position) == (BreakKind.CONTENT_ALTERED, 5)
    assert "practitioner_id" in brk.detail


def test_a_deleted_access_record_is_located_by_the_gap(
    deployment: Deployment, log: AccessLog
) -> None:
    with raw(deployment.settings, "access") as tx:
        tx.execute("DELETE FROM access_log WHERE position = 17")
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.after_position) == (BreakKind.RECORD_MISSING, 17, 16)


def test_a_deleted_record_with_the_rest_renumbered_is_located(
    deployment: Deployment, log: AccessLog
) -> None:
    with raw(deployment.settings, "access") as tx:
        tx.execute("DELETE FROM access_log WHERE position = 17")
        renumber_from(tx, "access_log", "position", 17, -1)
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.after_position) == (BreakKind.RECORD_MISSING, 17, 16)


def test_two_access_records_with_swapped_positions_are_out_of_order(
    deployment: Deployment, log: AccessLog
) -> None:
    with raw(deployment.settings, "access") as tx:
        swap_ids(tx, "access_log", "position", 8, 20)
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position) == (BreakKind.OUT_OF_ORDER, 8)


def test_two_access_records_with_swapped_contents_are_out_of_order(
    deployment: Deployment, log: AccessLog
) -> None:
    # Records 2 and 5 are both about CLIENTS[1]: swap everything but their chain fields.
    a, b = row_of(deployment, 2), row_of(deployment, 5)
    assert a["client_id"] == b["client_id"] == CLIENTS[1]
    fields = ("access_id", "request_id", "practitioner_id", "response_hash", "record", "at")
    with raw(deployment.settings, "access") as tx:
        tx.execute("UPDATE access_log SET access_id = 'tmp' WHERE position = 2")
        for position, source in ((5, a), (2, b)):
            tx.execute(
                "UPDATE access_log SET "
                + ", ".join(f"{f} = ?" for f in fields)
                + " WHERE position = ?",
                (*(source[f] for f in fields), position),
            )
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream) == (BreakKind.OUT_OF_ORDER, 2, CLIENTS[1])
    assert "position 5" in brk.detail


def _forge_after(dep: Deployment, k: int, client: str) -> int:
    """Slot a forged access record in at position k+1, moving later records along, with
    its hashes computed correctly from its neighbours."""
    prev = row_of(dep, k)["hash"]
    with raw(dep.settings, "access") as tx:
        seq, stream_prev = tx.fetchone(
            "SELECT client_seq, hash FROM access_log WHERE client_id = ? "
            "ORDER BY client_seq DESC LIMIT 1",
            (client,),
        )
    forged = record(dep, 99, client)
    body = forged.canonical_bytes()
    n, seq = k + 1, int(seq) + 1
    current = link_hash(bytes(prev), bytes(stream_prev), access_digest(n, client, seq, body))
    with raw(dep.settings, "access") as tx:
        renumber_from(tx, "access_log", "position", k, 1)
        tx.execute(
            f"INSERT INTO access_log ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                n,
                forged.access_id,
                forged.at.isoformat(),
                forged.request_id,
                forged.action,
                forged.viewer_kind,
                forged.practitioner_id,
                forged.agency_id,
                forged.profession,
                forged.purpose,
                forged.basis,
                client,
                seq,
                forged.response_hash,
                body,
                bytes(stream_prev),
                bytes(prev),
                current,
            ),
        )
    return n


def test_an_inserted_access_record_is_located(deployment: Deployment, log: AccessLog) -> None:
    n = _forge_after(deployment, 12, CLIENTS[2])
    brk = check(deployment).first_break
    assert brk is not None
    assert (brk.kind, brk.position, brk.stream, brk.after_position) == (
        BreakKind.RECORD_INSERTED,
        n,
        CLIENTS[2],
        12,
    )


def _rechain(dep: Deployment) -> None:
    """Recompute every hash of the access log (a consistent rewrite)."""
    with raw(dep.settings, "access") as tx:
        rows = tx.fetchall("SELECT position, client_id, record FROM access_log ORDER BY position")
        prev = bytes(32)
        heads: dict[Any, tuple[int, bytes]] = {}
        for position, client, body in rows:
            seq, stream_prev = heads.get(client, (0, bytes(32)))
            current = link_hash(
                prev, stream_prev, access_digest(position, client, seq + 1, bytes(body))
            )
            tx.execute(
                "UPDATE access_log SET client_seq = ?, stream_prev_hash = ?, prev_hash = ?, "
                "hash = ? WHERE position = ?",
                (-(seq + 1) - 1000 * position, stream_prev, prev, current, position),
            )
            heads[client] = (seq + 1, current)
            prev = current
        for position, _, _ in rows:
            tx.execute(
                "UPDATE access_log SET client_seq = -client_seq - 1000 * position "
                "WHERE position = ?",
                (position,),
            )


def test_a_consistent_rewrite_after_a_checkpoint_is_caught_by_the_checkpoint(
    deployment: Deployment, log: AccessLog
) -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    trusted = TrustedKeys({signer.key_id: signer.public_key})
    checkpoint_log(deployment.settings, deployment.dbs, signer, ACCESS, now=deployment.clock())
    _forge_after(deployment, 12, CLIENTS[2])
    _rechain(deployment)
    assert check(deployment).intact
    brk = verify_log(deployment.settings, deployment.dbs, ACCESS, trusted=trusted).first_break
    assert brk is not None
    assert (brk.kind, brk.position) == (BreakKind.CHECKPOINT_MISMATCH, 30)


def test_records_removed_from_the_end_are_reported_as_in_the_event_log(
    deployment: Deployment, log: AccessLog
) -> None:
    # The same break the event log test reports: the signed head, after the last good one.
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    trusted = TrustedKeys({signer.key_id: signer.public_key})
    checkpoint_log(deployment.settings, deployment.dbs, signer, ACCESS, now=deployment.clock())
    with raw(deployment.settings, "access") as tx:
        tx.execute("DELETE FROM access_log WHERE position >= 29")
    assert check(deployment).intact  # a truncated chain is still a chain...
    brk = verify_log(deployment.settings, deployment.dbs, ACCESS, trusted=trusted).first_break
    assert brk is not None  # ...but not the one that was signed
    assert (brk.kind, brk.position, brk.after_position) == (BreakKind.RECORD_MISSING, 30, 28)
    assert "ends at position 28" in brk.detail
