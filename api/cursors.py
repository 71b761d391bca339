"""Opaque cursors: positions sealed with AES-GCM so callers can neither read nor forge them.

A cursor names a place in a list or in an audience's feed. Event ids are passed through
``opaque_id`` for the same reason (the read side's ids embed log positions). A raw global position
would leak that events the caller may not see exist (gaps), and a forged one could
skip ahead or probe, so every cursor is encrypted and authenticated with a key from
configuration, and bound (as associated data) to what it is for (``kind``) and to
whom (``scope``): a cursor issued to one audience is refused for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.errors import INVALID_CURSOR, ApiError

MAX_CURSOR_LENGTH = 512


def invalid_cursor() -> ApiError:
    return ApiError(INVALID_CURSOR, "The cursor is not valid here.", field="cursor")


class CursorCodec:
    """Seals and opens cursors with one key (``CARERECORD_CURSOR_KEY``)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the cursor key must be 32 bytes")
        self._aead = AESGCM(key)
        self._id_key = hmac.new(key, b"carerecord-opaque-id", hashlib.sha256).digest()

    def opaque_id(self, value: str) -> str:
        """A stable, unlinkable stand-in for an internal id (e.g. an event id that embeds
        a log position): the same value always gives the same id, and it reveals nothing."""
        digest = hmac.new(self._id_key, value.encode(), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode("ascii")

    def seal(self, kind: str, scope: str, value: Any) -> str:
        nonce = os.urandom(12)
        body = self._aead.encrypt(nonce, orjson.dumps(value), _aad(kind, scope))
        return base64.urlsafe_b64encode(nonce + body).rstrip(b"=").decode("ascii")

    def open(self, kind: str, scope: str, cursor: str) -> Any:
        """The sealed value, or ``INVALID_CURSOR`` (tampered, foreign, or another audience's)."""
        if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_LENGTH:
            raise invalid_cursor()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            if len(raw) < 12 + 16:
                raise invalid_cursor()
            plain = self._aead.decrypt(raw[:12], raw[12:], _aad(kind, scope))
            return orjson.loads(plain)
        except (InvalidTag, binascii.Error, ValueError, orjson.JSONDecodeError):
            raise invalid_cursor() from None

    def open_int(self, kind: str, scope: str, cursor: str) -> int:
        value = self.open(kind, scope, cursor)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise invalid_cursor()
        return value


def _aad(kind: str, scope: str) -> bytes:
    return f"carerecord-cursor|{kind}|{scope}".encode()
