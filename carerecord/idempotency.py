"""Idempotency keys: a command retried with the same key returns its first outcome.

A caller may send a command with an idempotency key (a string it chose, e.g. a UUID).
The first time, the command's events are saved together with an ``IdempotencyKey``
aggregate in the same transaction; its one event, ``IdempotencyKey.Used``, says which
command used the key, a keyed hash of the command's input, and what the command
created. A retry with the same key finds the key: the same command and input get the
original outcome back and store nothing; anything else is refused
(``IDEMPOTENCY_KEY_REUSED``). Since the key lives in the event store, this holds
across processes and restarts, and the key is kept for ever (it is part of the log).

Keys are scoped per caller: the aggregate's id is a keyed hash (HMAC-SHA256 with the
deployment's identifier key) of the caller's scope and the key, so two callers never
collide and one cannot probe another's keys, and the key itself is not stored. The
input hash is keyed the same way, so it cannot be used to confirm a guess at what a
command said.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate, event

from carerecord import errors

MAX_KEY_LENGTH = 255
"""Longest idempotency key, in characters (printable ASCII only)."""


def check_key(value: object, *, field: str = "idempotency_key") -> str:
    """The key, if it is 1-255 printable ASCII characters (``INVALID_IDEMPOTENCY_KEY``)."""
    if not isinstance(value, str):
        raise errors.InvalidIdempotencyKey(field=field, reason="not_text")
    if not 1 <= len(value) <= MAX_KEY_LENGTH:
        raise errors.InvalidIdempotencyKey(field=field, reason="length", limit=MAX_KEY_LENGTH)
    if not value.isascii() or not value.isprintable():
        raise errors.InvalidIdempotencyKey(field=field, reason="characters")
    return value


class KeyHasher:
    """Derives key ids and input hashes from the deployment's secret (one owner of both)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = hmac.new(secret, b"carerecord idempotency", hashlib.sha256).digest()

    def key_id(self, scope: str, key: str) -> UUID:
        """The id of ``key`` as used by the caller ``scope``."""
        digest = hmac.new(self._secret, f"key\x00{scope}\x00{key}".encode(), hashlib.sha256)
        return UUID(bytes=digest.digest()[:16], version=4)

    def input_hash(self, command: str, arguments: Mapping[str, object]) -> str:
        """A keyed SHA-256 of the command's name and its arguments as canonical JSON."""
        body = orjson.dumps(
            {"command": command, "arguments": canonical(arguments)},
            option=orjson.OPT_SORT_KEYS,
        )
        return hmac.new(self._secret, b"input\x00" + body, hashlib.sha256).hexdigest()


def canonical(value: object) -> Any:
    """``value`` as JSON-native data that compares equal exactly when the inputs do.

    Times are normalised to UTC, enums to their values, sets sorted; lists keep their
    order. Linear in the size of the input (sets aside, which are sorted).
    """
    if isinstance(value, Enum):
        return canonical(value.value)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo is not None else value).isoformat()
    if isinstance(value, date | UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {_key(k): canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((canonical(v) for v in value), key=orjson.dumps)
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__}")


def _key(value: object) -> str:
    key = canonical(value)
    if not isinstance(key, str):
        raise TypeError(f"mapping keys must be text, not {type(value).__name__}")
    return key


def materialised(value: object) -> object:
    """A one-shot iterator as a tuple (hashing it must not use it up); anything else as is."""
    return tuple(value) if isinstance(value, Iterator) else value


class IdempotencyKey(Aggregate):
    """One caller's idempotency key, used once, by one command."""

    class Used(Aggregate.Created):
        command: str
        input_hash: str
        result_id: str | None
        by: str
        at: datetime

    @event(Used)
    def __init__(
        self, command: str, input_hash: str, result_id: str | None, by: str, at: datetime
    ) -> None:
        self.command = command
        self.input_hash = input_hash
        self.result_id = result_id

    @classmethod
    def use(
        cls,
        *,
        key_id: UUID,
        command: str,
        input_hash: str,
        result_id: str | None,
        by: str,
        at: datetime,
    ) -> IdempotencyKey:
        """The key, used by ``by`` for ``command`` (saved with the command's own events)."""
        return cls._create(
            cls.Used,
            id=key_id,
            command=command,
            input_hash=input_hash,
            result_id=result_id,
            by=by,
            at=at,
        )

    def result_for(self, command: str, input_hash: str) -> str | None:
        """What the command created, if this is the same command with the same input;
        ``IDEMPOTENCY_KEY_REUSED`` otherwise."""
        if command != self.command or not hmac.compare_digest(input_hash, self.input_hash):
            raise errors.IdempotencyKeyReused()
        return self.result_id
