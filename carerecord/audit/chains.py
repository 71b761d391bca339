"""What a chain check reports, and where the logs' chains live.

Both logs are hash-chained the same way (``carerecord.chain``): each record's hash
covers its predecessor in the whole log (``prev_hash``), its predecessor in its own
stream (``stream_prev_hash``) and a digest of its own identity and content. A
checker walks a log in order, recomputes every hash from the stored bytes and
checks both links; the first thing that does not hold is reported as a
``ChainBreak`` naming the log, the position, the stream and version, and what kind
of tampering it looks like. Checks stream through the log in pages (memory does not
grow with the log) and stop at the first break.

``Pin``s are (position, hash) pairs the recomputed chain must pass through: the
heads recorded in signed checkpoints. They catch a chain rewritten consistently
after it was checkpointed, and records removed from the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from carerecord.settings import Settings

EVENTS = "events"
ACCESS = "access"
LOGS = (EVENTS, ACCESS)
DEFAULT_PAGE = 5000


class BreakKind(StrEnum):
    """What a broken link looks like."""

    CONTENT_ALTERED = "content_altered"
    """A record's stored bytes (or an indexed copy of them) no longer hash to its chain hash."""
    RECORD_MISSING = "record_missing"
    """A record the chain (or a checkpoint) names is no longer in the log."""
    OUT_OF_ORDER = "out_of_order"
    """A record is stored where another belongs (positions, versions or contents swapped)."""
    RECORD_INSERTED = "record_inserted"
    """A record is in the log that the chain (as written) never contained."""
    CHAIN_ROW_MISSING = "chain_row_missing"
    """An event's chain record has been removed, so its link cannot be checked."""
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    """The recomputed chain does not pass through a signed checkpoint's head."""
    CHECKPOINT_SIGNATURE_INVALID = "checkpoint_signature_invalid"
    """A checkpoint's signature does not verify (the checkpoint was altered or forged)."""
    CHECKPOINT_KEY_UNTRUSTED = "checkpoint_key_untrusted"
    """A checkpoint was signed by a key that is not among the trusted keys."""


@dataclass(frozen=True)
class ChainBreak:
    """The first broken link of a log, located precisely. Ids and positions only."""

    log: str
    kind: BreakKind
    position: int
    """The log position (event notification id, or access log position) of the break."""
    stream: str | None
    """The stream (event originator id, or the client id of an access record)."""
    version: int | None
    """The version in that stream (event originator version, or access ``client_seq``)."""
    detail: str
    after_position: int | None = None
    """The last position whose record (and all before it) checked out."""

    def to_json(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "kind": self.kind.value,
            "position": self.position,
            "stream": self.stream,
            "version": self.version,
            "detail": self.detail,
            "after_position": self.after_position,
        }


@dataclass(frozen=True)
class Pin:
    """A (position, hash) the recomputed chain must pass through (a checkpoint's head)."""

    position: int
    hash: bytes
    label: str


@dataclass(frozen=True)
class Anchor:
    """A trusted (position, hash) to start checking from, instead of the genesis."""

    position: int
    hash: bytes


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of checking one log."""

    log: str
    records: int
    """How many records were checked."""
    first_position: int
    """The position checking started after (0, or an anchor's position)."""
    head_position: int
    head_hash: bytes
    pins_checked: int
    first_break: ChainBreak | None
    seconds: float

    @property
    def intact(self) -> bool:
        return self.first_break is None

    def to_json(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "intact": self.intact,
            "records": self.records,
            "first_position": self.first_position,
            "head_position": self.head_position,
            "head_hash": self.head_hash.hex(),
            "checkpoints_checked": self.pins_checked,
            "first_break": None if self.first_break is None else self.first_break.to_json(),
            "seconds": round(self.seconds, 6),
        }


@dataclass(frozen=True)
class EventTables:
    """The event store's tables on one backend, and the column holding notification ids."""

    events: str
    chain: str
    id_column: str

    @classmethod
    def for_settings(cls, settings: Settings, app_name: str = "CareRecord") -> EventTables:
        if settings.postgres is None:
            return cls("stored_events", "event_chain", "rowid")
        prefix = app_name.lower()
        return cls(f"{prefix}_events", f"{prefix}_events_chain", "notification_id")


ACCESS_TABLE = "access_log"


def stream_str(value: object) -> str:
    """A stream id in canonical (hyphenated) form, whatever form the row holds it in."""
    if isinstance(value, UUID):
        return str(value)
    text = str(value)
    try:
        return text if len(text) == 36 else str(UUID(text))
    except ValueError:
        return text  # not an id at all: shown as stored


def stream_uuid(value: object) -> UUID:
    """A stored stream id as a UUID (raises ValueError if it is not one)."""
    return value if isinstance(value, UUID) else UUID(str(value))


def as_bytes(value: object) -> bytes:
    """Column bytes as ``bytes`` (drivers may return memoryview)."""
    return value if isinstance(value, bytes) else bytes(value)  # type: ignore[call-overload]
