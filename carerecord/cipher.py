"""AES-GCM encryption of stored event state at rest, using the `cryptography` package.

Enabled by setting ``CARERECORD_CIPHER_KEY`` (base64 of 16, 24 or 32 random bytes).
The library's own cipher uses pycryptodome; AES-GCM from `cryptography` is several
times cheaper per event (figures in docs/performance.md). Each stored state is
``nonce(12) || ciphertext``.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

CIPHER_KEY = "CIPHER_KEY"


def decode_key(encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("cipher key is not valid base64") from None
    if len(key) not in (16, 24, 32):
        raise ValueError("cipher key must be 16, 24 or 32 bytes")
    return key


def generate_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


class AESGCMCipher(Cipher):
    """Authenticated encryption of event state; a tampered ciphertext fails to decrypt."""

    def __init__(self, environment: Environment) -> None:
        encoded = environment.get(CIPHER_KEY)
        if not encoded:
            raise OSError(f"{CIPHER_KEY} is not set")
        self._aead = AESGCM(decode_key(encoded))

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self._aead.decrypt(ciphertext[:12], ciphertext[12:], None)
        except InvalidTag:
            raise ValueError("stored event state failed authentication") from None
