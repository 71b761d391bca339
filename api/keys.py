"""Dev-mode keys: a local Ed25519 signing key pair and a cursor key, made once per data dir.

Production never uses these: it configures a PEM public key or a JWKS URL (the
identity provider keeps the private key) and ``CARERECORD_CURSOR_KEY``.
Files are written atomically (another process may be starting at the same time)
and readable only by their owner.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_DIR = "api-keys"


def dev_key_pair(data_dir: Path) -> tuple[Path, Path]:
    """Paths of the dev signing key pair (private, public), generated on first use."""
    folder = data_dir / KEY_DIR
    private_path, public_path = folder / "dev-signing.pem", folder / "dev-signing.pub.pem"
    if not private_path.exists():
        key = Ed25519PrivateKey.generate()
        _write_once(
            private_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    if not public_path.exists():
        private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        _write_once(
            public_path,
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
    return private_path, public_path


def dev_cursor_key(data_dir: Path) -> bytes:
    """The dev cursor key (32 bytes), generated on first use."""
    path = data_dir / KEY_DIR / "cursor.key"
    if not path.exists():
        _write_once(path, base64.b64encode(secrets.token_bytes(32)))
    return base64.b64decode(path.read_bytes().strip())


def _write_once(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(content)
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # atomic: if another process won the race, keep its file
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
