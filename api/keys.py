"""Key files: loading the configured token keys, and the dev mode's generated keys.

``load_public_key`` / ``load_private_key`` read the PEM files named by
``CARERECORD_JWT_PUBLIC_KEY`` / ``CARERECORD_JWT_PRIVATE_KEY``; a file that is missing,
unreadable or not a usable key is a ``ConfigurationError`` naming the variable (the
server and the token command exit 2 with it), never a traceback.

Dev mode makes a local Ed25519 signing key pair and a cursor key, once per data
directory. Production never uses these: it configures a PEM public key or a JWKS URL
(the identity provider keeps the private key) and ``CARERECORD_CURSOR_KEY``. Files are
written atomically (another process may be starting at the same time) and readable
only by their owner.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from api.settings import ConfigurationError

KEY_DIR = "api-keys"
KEY_FILE_UNREADABLE = "KEY_FILE_UNREADABLE"
KEY_FILE_INVALID = "KEY_FILE_INVALID"
SigningKey = RSAPrivateKey | EllipticCurvePrivateKey | Ed25519PrivateKey


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigurationError(
            f"{variable} names {path}, which cannot be read ({why})", code=KEY_FILE_UNREADABLE
        ) from None


def load_public_key(path: Path, *, variable: str) -> PublicKeyTypes:
    """The PEM public key in ``path`` (the file ``variable`` names)."""
    pem = _read(path, variable)
    try:
        return serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigurationError(
            f"{variable} names {path}, which is not a PEM public key", code=KEY_FILE_INVALID
        ) from None


def load_private_key(path: Path, *, variable: str) -> SigningKey:
    """The unencrypted PEM RSA, EC or Ed25519 private key in ``path`` (named by ``variable``)."""
    pem = _read(path, variable)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigurationError(
            f"{variable} names {path}, which is not an unencrypted PEM private key",
            code=KEY_FILE_INVALID,
        ) from None
    if not isinstance(key, SigningKey):
        raise ConfigurationError(
            f"{variable}: the signing key must be an RSA, EC or Ed25519 private key",
            code=KEY_FILE_INVALID,
        )
    return key


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
