"""Signed checkpoints: the head of each log, signed with an Ed25519 key from configuration.

A checkpoint signs (log name, position, head hash, time, key id). ``carerecord audit
verify`` checks every checkpoint's signature against the *trusted* keys and that the
recomputed chain passes through every checkpointed head, so even a chain rewritten
consistently after a checkpoint (every hash recomputed) is caught. A checkpoint
records its public key, but a verifier never trusts a key because a checkpoint names
it: trusted keys are the configured signing key's public half and the public keys
listed in ``CARERECORD_CHECKPOINT_TRUSTED_KEYS`` (so verification can run with public
keys only, e.g. at an external auditor, and keys can be rotated).

Configuration (read by entry points, never at import):

- ``CARERECORD_CHECKPOINT_KEY``: path to a PEM (PKCS#8) Ed25519 private key. Unset: a
  key is generated once into the data directory (``checkpoint-key.pem``), like the
  development identifier key - fine on one machine, not for several hosts.
- ``CARERECORD_CHECKPOINT_TRUSTED_KEYS``: PEM public key files, separated by ``:``.

Before signing, the writer checks the stretch of chain since the previous trusted
checkpoint, so a checkpoint never vouches for a chain that was already broken.
Long-running processes (API server, projection worker) call ``checkpoint_if_due``
periodically; it is cheap when nothing is due.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from carerecord.audit.access_chain import access_head, check_access_chain
from carerecord.audit.chains import (
    ACCESS,
    EVENTS,
    LOGS,
    Anchor,
    BreakKind,
    ChainBreak,
    ChainCheck,
    EventTables,
    as_bytes,
)
from carerecord.audit.event_chain import check_event_chain, event_head
from carerecord.db import Databases, Tx
from carerecord.errors import CareRecordError
from carerecord.settings import Settings

KEY_ENV = "CARERECORD_CHECKPOINT_KEY"
TRUSTED_KEYS_ENV = "CARERECORD_CHECKPOINT_TRUSTED_KEYS"
DEV_KEY_FILE = "checkpoint-key.pem"
TABLES = {EVENTS: "event_chain_checkpoints", ACCESS: "access_log_checkpoints"}
DEFAULT_INTERVAL = timedelta(minutes=15)
_DOMAIN = "carerecord-checkpoint-v1"


class ChainBroken(CareRecordError):
    """A log's chain is broken, so no checkpoint was signed for it."""

    code = "CHAIN_BROKEN"
    message = "The log's hash chain is broken; run 'carerecord audit verify'."


class CheckpointKeyMissing(CareRecordError):
    code = "CHECKPOINT_KEY_MISSING"
    message = "The checkpoint signing key could not be loaded."


def key_id_of(public_key: bytes) -> str:
    """A short, stable id for a public key (first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def signed_message(
    log: str, position: int, head_hash: bytes, signed_at: datetime, key_id: str
) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return "\x1f".join(
        (_DOMAIN, log, str(position), head_hash.hex(), signed_at.isoformat(), key_id)
    ).encode()


@dataclass(frozen=True)
class Checkpoint:
    """A log's head at a time, signed."""

    checkpoint_id: str
    log: str
    position: int
    head_hash: bytes
    signed_at: datetime
    key_id: str
    public_key: bytes
    signature: bytes

    def message(self) -> bytes:
        return signed_message(self.log, self.position, self.head_hash, self.signed_at, self.key_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint_id": self.checkpoint_id,
            "log": self.log,
            "position": self.position,
            "head_hash": self.head_hash.hex(),
            "signed_at": self.signed_at.isoformat(),
            "key_id": self.key_id,
            "public_key": base64.b64encode(self.public_key).decode(),
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        return cls(
            checkpoint_id=str(data["checkpoint_id"]),
            log=str(data["log"]),
            position=int(data["position"]),
            head_hash=bytes.fromhex(data["head_hash"]),
            signed_at=datetime.fromisoformat(data["signed_at"]),
            key_id=str(data["key_id"]),
            public_key=base64.b64decode(data["public_key"]),
            signature=base64.b64decode(data["signature"]),
        )


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class CheckpointSigner:
    """Signs checkpoints with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = _raw_public(private_key.public_key())
        self.key_id = key_id_of(self.public_key)

    def sign(self, log: str, position: int, head_hash: bytes, at: datetime) -> Checkpoint:
        message = signed_message(log, position, head_hash, at, self.key_id)
        return Checkpoint(
            checkpoint_id=str(uuid.uuid4()),
            log=log,
            position=position,
            head_hash=head_hash,
            signed_at=at,
            key_id=self.key_id,
            public_key=self.public_key,
            signature=self._key.sign(message),
        )

    def public_key_pem(self) -> str:
        return (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys whose checkpoints a verifier accepts, by key id."""

    keys: Mapping[str, bytes] = field(default_factory=dict)

    def problem(self, checkpoint: Checkpoint) -> BreakKind | None:
        """Why a checkpoint cannot be relied on, or None if its signature verifies."""
        if checkpoint.key_id != key_id_of(checkpoint.public_key):
            return BreakKind.CHECKPOINT_SIGNATURE_INVALID
        trusted = self.keys.get(checkpoint.key_id)
        if trusted is None or trusted != checkpoint.public_key:
            return BreakKind.CHECKPOINT_KEY_UNTRUSTED
        try:
            Ed25519PublicKey.from_public_bytes(trusted).verify(
                checkpoint.signature, checkpoint.message()
            )
        except InvalidSignature:
            return BreakKind.CHECKPOINT_SIGNATURE_INVALID
        return None


def _load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        raise CheckpointKeyMissing(reason="unreadable") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointKeyMissing(reason="not_ed25519")
    return key


def _dev_key_path(settings: Settings) -> Path:
    return settings.data_dir / DEV_KEY_FILE


def _create_dev_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # atomic: another process may have won the race, keep theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def load_signer(
    settings: Settings, environ: Mapping[str, str] | None = None, *, create: bool = True
) -> CheckpointSigner | None:
    """The configured signing key; in development generated once into the data directory.

    Returns None only when no key is configured, none exists and ``create`` is False.
    """
    env = os.environ if environ is None else environ
    configured = env.get(KEY_ENV, "").strip()
    if configured:
        return CheckpointSigner(_load_private(Path(configured)))
    path = _dev_key_path(settings)
    if not path.exists():
        if not create:
            return None
        _create_dev_key(path)
    return CheckpointSigner(_load_private(path))


def trusted_keys(settings: Settings, environ: Mapping[str, str] | None = None) -> TrustedKeys:
    """The configured signing key's public half (if present) and the listed public keys."""
    env = os.environ if environ is None else environ
    keys: dict[str, bytes] = {}
    signer = load_signer(settings, env, create=False)
    if signer is not None:
        keys[signer.key_id] = signer.public_key
    for name in env.get(TRUSTED_KEYS_ENV, "").split(os.pathsep):
        if not name.strip():
            continue
        try:
            loaded = serialization.load_pem_public_key(Path(name.strip()).read_bytes())
        except (OSError, ValueError):
            raise CheckpointKeyMissing(reason="trusted_key_unreadable") from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise CheckpointKeyMissing(reason="trusted_key_not_ed25519")
        raw = _raw_public(loaded)
        keys[key_id_of(raw)] = raw
    return TrustedKeys(keys)


# --- storage ----------------------------------------------------------------------------


def _area(log: str) -> str:
    if log not in LOGS:
        raise ValueError(f"unknown log: {log}")
    return log  # each log's checkpoints live in the log's own storage area


def _from_row(log: str, row: tuple[Any, ...]) -> Checkpoint:
    return Checkpoint(
        checkpoint_id=str(row[0]),
        log=log,
        position=int(row[1]),
        head_hash=as_bytes(row[2]),
        signed_at=datetime.fromisoformat(str(row[3])),
        key_id=str(row[4]),
        public_key=as_bytes(row[5]),
        signature=as_bytes(row[6]),
    )


_SELECT = "SELECT checkpoint_id, position, head_hash, signed_at, key_id, public_key, signature "


def load_checkpoints(databases: Databases, log: str) -> list[Checkpoint]:
    """Every stored checkpoint of a log, by position then time."""
    with databases.area(_area(log)).snapshot() as tx:
        rows = tx.fetchall(_SELECT + f"FROM {TABLES[log]} ORDER BY position, signed_at")
    return [_from_row(log, r) for r in rows]


def _latest(tx: Tx, log: str) -> Checkpoint | None:
    row = tx.fetchone(
        _SELECT + f"FROM {TABLES[log]} ORDER BY position DESC, signed_at DESC LIMIT 1"
    )
    return None if row is None else _from_row(log, row)


def store_checkpoint(databases: Databases, checkpoint: Checkpoint) -> None:
    with databases.area(_area(checkpoint.log)).transaction() as tx:
        _insert(tx, checkpoint)


def _insert(tx: Tx, cp: Checkpoint) -> None:
    tx.execute(
        f"INSERT INTO {TABLES[cp.log]} (checkpoint_id, log, position, head_hash, signed_at, "
        "key_id, public_key, signature) VALUES (?,?,?,?,?,?,?,?)",
        (
            cp.checkpoint_id,
            cp.log,
            cp.position,
            cp.head_hash,
            cp.signed_at.isoformat(),
            cp.key_id,
            cp.public_key,
            cp.signature,
        ),
    )


# --- writing ----------------------------------------------------------------------------


def head_of(settings: Settings, databases: Databases, log: str) -> tuple[int, bytes]:
    """A log's current head (position, hash) as stored."""
    if log == EVENTS:
        return event_head(databases.events, EventTables.for_settings(settings))
    return access_head(databases.access)


def check_since(
    settings: Settings, databases: Databases, log: str, anchor: Anchor | None, upto: int
) -> ChainCheck:
    """Check one log's chain from ``anchor`` (or the genesis) to position ``upto``."""
    if log == EVENTS:
        return check_event_chain(
            databases.events, EventTables.for_settings(settings), anchor=anchor, upto=upto
        )
    return check_access_chain(databases.access, anchor=anchor, upto=upto)


def _last_trusted(databases: Databases, log: str, trusted: TrustedKeys) -> Checkpoint | None:
    for cp in reversed(load_checkpoints(databases, log)):
        if trusted.problem(cp) is None:
            return cp
    return None


def checkpoint_log(
    settings: Settings,
    databases: Databases,
    signer: CheckpointSigner,
    log: str,
    *,
    now: datetime,
    trusted: TrustedKeys | None = None,
) -> Checkpoint:
    """Check the chain since the last trusted checkpoint, then sign and store its head.

    Raises ``ChainBroken`` (and signs nothing) if that stretch of chain is broken.
    """
    keys = trusted if trusted is not None else TrustedKeys({signer.key_id: signer.public_key})
    previous = _last_trusted(databases, log, keys)
    position, _ = head_of(settings, databases, log)
    anchor = None if previous is None else Anchor(previous.position, previous.head_hash)
    if anchor is not None and position < anchor.position:
        raise ChainBroken(log=log, position=position, kind=BreakKind.RECORD_MISSING.value)
    check = check_since(settings, databases, log, anchor, position)
    if check.first_break is not None:
        brk: ChainBreak = check.first_break
        raise ChainBroken(log=log, position=brk.position, kind=brk.kind.value)
    checkpoint = signer.sign(log, check.head_position, check.head_hash, now)
    store_checkpoint(databases, checkpoint)
    return checkpoint


def checkpoint_logs(
    settings: Settings,
    databases: Databases,
    signer: CheckpointSigner,
    *,
    now: datetime,
    logs: Sequence[str] = LOGS,
    trusted: TrustedKeys | None = None,
) -> list[Checkpoint]:
    """Sign a checkpoint of each log that has records (``carerecord audit checkpoint``)."""
    return [
        checkpoint_log(settings, databases, signer, log, now=now, trusted=trusted)
        for log in logs
        if head_of(settings, databases, log)[0] > 0
    ]


def checkpoint_if_due(
    settings: Settings,
    databases: Databases,
    signer: CheckpointSigner,
    *,
    now: datetime,
    every: timedelta = DEFAULT_INTERVAL,
    logs: Sequence[str] = LOGS,
    trusted: TrustedKeys | None = None,
) -> list[Checkpoint]:
    """Sign a checkpoint of each log whose last one is older than ``every`` and has grown.

    For the API server and the projection worker: call it on a timer (e.g. every
    minute, off the request path - it checks the chain since the last checkpoint,
    so its cost is proportional to what was appended since). Several processes may
    call it; at worst two checkpoints are signed for the same head. Returns what was
    signed; raises ``ChainBroken`` if a log's chain is broken (alert on it).
    """
    signed = []
    for log in logs:
        with databases.area(_area(log)).snapshot() as tx:
            latest = _latest(tx, log)
        if latest is not None and now - latest.signed_at < every:
            continue
        position, _ = head_of(settings, databases, log)
        if position == 0 or (latest is not None and position <= latest.position):
            continue
        signed.append(checkpoint_log(settings, databases, signer, log, now=now, trusted=trusted))
    return signed
