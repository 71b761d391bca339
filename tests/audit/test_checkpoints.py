"""Signed checkpoints: keys from configuration, signatures that catch forgery, checkpoints
the recomputed chain must pass through, and the periodic ``checkpoint_if_due``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from audit_world import GP, SECRET, Deployment, populate, raw, rechain_events, some_access
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carerecord.audit.chains import ACCESS, EVENTS, BreakKind
from carerecord.audit.checkpoints import (
    DEV_KEY_FILE,
    KEY_ENV,
    TRUSTED_KEYS_ENV,
    ChainBroken,
    Checkpoint,
    CheckpointSigner,
    TrustedKeys,
    checkpoint_if_due,
    checkpoint_logs,
    load_checkpoints,
    load_signer,
    trusted_keys,
)
from carerecord.audit.verify import verify_logs
from carerecord.settings import Settings


def a_signer() -> CheckpointSigner:
    return CheckpointSigner(Ed25519PrivateKey.generate())


def trusting(*signers: CheckpointSigner) -> TrustedKeys:
    return TrustedKeys({s.key_id: s.public_key for s in signers})


@pytest.fixture
def clients(deployment: Deployment) -> list[str]:
    ids = populate(deployment.app, deployment.clock, clients=2, entries=2)
    some_access(deployment, ids[0])
    return ids


def test_checkpoints_of_both_logs_verify_with_the_trusted_key(
    deployment: Deployment, clients: list[str]
) -> None:
    signer = a_signer()
    signed = checkpoint_logs(deployment.settings, deployment.dbs, signer, now=deployment.clock())
    assert [(c.log, c.position) for c in signed] == [
        (EVENTS, signed[0].position),
        (ACCESS, 5),
    ]
    reports = verify_logs(deployment.settings, deployment.dbs, trusted=trusting(signer))
    assert [(r.log, r.intact, r.checkpoints_valid, r.chain.pins_checked) for r in reports] == [
        (EVENTS, True, 1, 1),
        (ACCESS, True, 1, 1),
    ]


def test_an_altered_checkpoint_fails_its_signature(
    deployment: Deployment, clients: list[str]
) -> None:
    signer = a_signer()
    (cp,) = checkpoint_logs(
        deployment.settings, deployment.dbs, signer, now=deployment.clock(), logs=[EVENTS]
    )
    with raw(deployment.settings, "events") as tx:  # re-point the checkpoint at another hash
        tx.execute("UPDATE event_chain_checkpoints SET head_hash = ?", (bytes(32),))
    (report,) = verify_logs(
        deployment.settings, deployment.dbs, trusted=trusting(signer), logs=[EVENTS]
    )
    brk = report.first_break
    assert brk is not None
    assert (brk.kind, brk.position) == (BreakKind.CHECKPOINT_SIGNATURE_INVALID, cp.position)
    assert report.checkpoints_valid == 0


def test_a_rewrite_re_signed_with_another_key_is_refused(
    deployment: Deployment, clients: list[str]
) -> None:
    owner, intruder = a_signer(), a_signer()
    t = "stored_events" if deployment.settings.postgres is None else "carerecord_events"
    column = "rowid" if deployment.settings.postgres is None else "notification_id"
    with raw(deployment.settings, "events") as tx:
        tx.execute(f"DELETE FROM {t} WHERE {column} = (SELECT MAX({column}) - 3 FROM {t})")
    rechain_events(deployment.settings)  # a rewritten chain...
    checkpoint_logs(  # ...checkpointed with the intruder's own key
        deployment.settings,
        deployment.dbs,
        intruder,
        now=deployment.clock(),
        logs=[EVENTS],
        trusted=trusting(intruder),
    )
    (report,) = verify_logs(
        deployment.settings, deployment.dbs, trusted=trusting(owner), logs=[EVENTS]
    )
    brk = report.first_break
    assert brk is not None
    assert brk.kind is BreakKind.CHECKPOINT_KEY_UNTRUSTED
    assert intruder.key_id in brk.detail


def test_no_checkpoint_is_signed_over_a_broken_chain(
    deployment: Deployment, clients: list[str]
) -> None:
    with raw(deployment.settings, "access") as tx:
        tx.execute("UPDATE access_log SET purpose = 'audit' WHERE position = 3")
    with pytest.raises(ChainBroken) as refused:
        checkpoint_logs(deployment.settings, deployment.dbs, a_signer(), now=deployment.clock())
    assert refused.value.code == "CHAIN_BROKEN"
    assert refused.value.fields == {"log": ACCESS, "position": 3, "kind": "content_altered"}
    assert load_checkpoints(deployment.dbs, ACCESS) == []


def test_a_new_checkpoint_checks_only_the_chain_since_the_previous_one(
    deployment: Deployment, clients: list[str]
) -> None:
    signer = a_signer()
    first = checkpoint_logs(
        deployment.settings, deployment.dbs, signer, now=deployment.clock(), logs=[EVENTS]
    )[0]
    deployment.clock.advance(minutes=1)
    deployment.app.record_contribution(
        GP.caller, clients[1], heading="Plan", text=SECRET, occurred_at=deployment.clock()
    )
    second = checkpoint_logs(
        deployment.settings, deployment.dbs, signer, now=deployment.clock(), logs=[EVENTS]
    )[0]
    assert second.position == first.position + 1
    assert [c.position for c in load_checkpoints(deployment.dbs, EVENTS)] == [
        first.position,
        second.position,
    ]


def test_checkpoint_if_due_signs_only_when_due_and_the_log_has_grown(
    deployment: Deployment, clients: list[str]
) -> None:
    signer = a_signer()
    every = timedelta(minutes=10)
    now = deployment.clock()

    def due() -> list[tuple[str, int]]:
        signed = checkpoint_if_due(
            deployment.settings, deployment.dbs, signer, now=now, every=every
        )
        return [(c.log, c.position) for c in signed]

    events_head = len(load_checkpoints(deployment.dbs, EVENTS))
    assert events_head == 0
    first = due()
    assert [log for log, _ in first] == [EVENTS, ACCESS]
    assert due() == []  # not due yet
    now += every
    assert due() == []  # due, but nothing new to vouch for
    deployment.app.record_contribution(
        GP.caller, clients[0], heading="Plan", text=SECRET, occurred_at=deployment.clock()
    )
    assert due() == [(EVENTS, first[0][1] + 1)]


def test_the_development_key_is_generated_once_into_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert load_signer(settings, {}, create=False) is None
    first = load_signer(settings, {})
    again = load_signer(settings, {})
    assert first is not None
    assert again is not None
    assert first.key_id == again.key_id
    assert (tmp_path / "data" / DEV_KEY_FILE).stat().st_mode & 0o077 == 0
    assert trusted_keys(settings, {}).keys == {first.key_id: first.public_key}


def test_a_configured_key_is_used_and_verifiers_need_only_public_keys(
    tmp_path: Path, deployment: Deployment, clients: list[str]
) -> None:
    key = Ed25519PrivateKey.generate()
    private = tmp_path / "signing.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = tmp_path / "signing.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    signer = load_signer(deployment.settings, {KEY_ENV: str(private)})
    assert signer is not None
    checkpoint_logs(deployment.settings, deployment.dbs, signer, now=deployment.clock())
    # An external verifier: no private key anywhere, only the published public key.
    elsewhere = Settings(data_dir=tmp_path / "verifier", postgres=deployment.settings.postgres)
    keys = trusted_keys(elsewhere, {TRUSTED_KEYS_ENV: str(public)})
    assert keys.keys == {signer.key_id: signer.public_key}
    reports = verify_logs(deployment.settings, deployment.dbs, trusted=keys)
    assert all(r.intact and r.checkpoints_valid == 1 for r in reports)
    assert not (tmp_path / "verifier").exists()


def test_an_exported_checkpoint_catches_a_rewrite_even_when_stored_ones_are_deleted(
    deployment: Deployment, clients: list[str]
) -> None:
    signer = a_signer()
    (cp,) = checkpoint_logs(
        deployment.settings, deployment.dbs, signer, now=deployment.clock(), logs=[EVENTS]
    )
    exported = Checkpoint.from_json(cp.to_json())  # kept off the database, e.g. by an auditor
    with raw(deployment.settings, "events") as tx:
        tx.execute("DELETE FROM event_chain_checkpoints")
        t = "stored_events" if deployment.settings.postgres is None else "carerecord_events"
        tx.execute(f"UPDATE {t} SET state = ? WHERE topic LIKE '%ContributionRecorded'", (b"{}",))
    rechain_events(deployment.settings)
    (quiet,) = verify_logs(
        deployment.settings, deployment.dbs, trusted=trusting(signer), logs=[EVENTS]
    )
    assert quiet.intact  # nothing left in the database to contradict the rewrite
    (report,) = verify_logs(
        deployment.settings,
        deployment.dbs,
        trusted=trusting(signer),
        logs=[EVENTS],
        extra_checkpoints=[exported],
    )
    brk = report.first_break
    assert brk is not None
    assert (brk.kind, brk.position) == (BreakKind.CHECKPOINT_MISMATCH, cp.position)
