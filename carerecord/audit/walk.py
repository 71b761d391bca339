"""One walk along a hash chain, for both logs.

Both logs are chained the same way (``carerecord.chain``), so one walker checks both:
it holds the last good link, checks each record's global link, its recomputed hash
and its stream link, passes through the pins, and names the first break the same
way whichever log it is in. What differs between the logs - how their rows are read,
how a record is named, and the targeted queries that tell kinds of tampering apart -
is the log's ``ChainLog`` adapter (``access_chain``, ``event_chain``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from carerecord.audit.chains import Anchor, BreakKind, ChainBreak, ChainCheck, Pin
from carerecord.chain import GENESIS


@dataclass(frozen=True)
class Link:
    """One stored record as the chain sees it: its place, its links, its hashes.

    ``computed`` is the hash recomputed from the stored content and the stored links;
    ``predecessor`` is the (position, hash) of the same stream's previous version, if
    it is stored.
    """

    position: int
    stream: str | None
    version: int
    prev_hash: bytes
    stream_prev: bytes
    stored: bytes
    computed: bytes
    predecessor: tuple[int, bytes] | None
    content: bytes
    """The stored content the hash covers (an event's state, an access record's JSON)."""
    topic: str = ""
    """An event's topic (the hash covers it too); empty for access records."""


class ChainLog(ABC):
    """What the walker needs of one log."""

    log: str

    @abstractmethod
    def name(self, stream: str | None, version: int) -> str:
        """A record named for a reader, e.g. "stream S version 3"."""

    @abstractmethod
    def links(self, walk: Walker, upto: int, page: int) -> Iterator[Link | ChainBreak]:
        """The log's records after ``walk.last_position`` up to ``upto``, in order, as
        links; a record whose shape alone is broken (a missing row, a copy that differs
        from the hashed record) comes as its ``ChainBreak``."""

    @abstractmethod
    def head(self) -> int:
        """The last position of the log (chain or content, whichever runs further)."""

    @abstractmethod
    def next_prev_hash(self, position: int) -> bytes | None:
        """The ``prev_hash`` of the first chain record after ``position``, if any."""

    @abstractmethod
    def position_of(self, hash_: bytes) -> int | None:
        """The position of the chain record with this hash, if any."""

    @abstractmethod
    def successor_of(self, hash_: bytes) -> tuple[str | None, int] | None:
        """The (stream, version) whose stream link is this hash, if any."""

    @abstractmethod
    def placed_elsewhere(self, link: Link) -> tuple[int, int] | None:
        """Where the chain placed this record's content, if at another (position,
        version) of its stream."""


class Walker:
    """The state of one walk: the last record that checked out, and the one before."""

    def __init__(self, log: ChainLog, anchor: Anchor | None) -> None:
        self.log = log
        self.start = 0 if anchor is None else anchor.position
        self.last_position = self.start
        self.last_hash = GENESIS if anchor is None else anchor.hash
        self.last_stream: str | None = None
        self.last_version: int | None = None
        self.before_last_hash: bytes | None = None
        self.before_last_position: int | None = None
        self.records = 0

    def broken(
        self, kind: BreakKind, position: int, stream: str | None, version: int | None, detail: str
    ) -> ChainBreak:
        return ChainBreak(self.log.log, kind, position, stream, version, detail, self.last_position)

    def skipped_by_next(self, position: int, *, at_end: bool = False) -> bool:
        """Does the chain run past ``position`` (the next record links to the one before)?
        ``at_end``: the answer when no chain record follows it."""
        following = self.log.next_prev_hash(position)
        return at_end if following is None else following == self.last_hash

    def inserted(self, position: int, stream: str | None, version: int) -> ChainBreak:
        return self.broken(
            BreakKind.RECORD_INSERTED,
            position,
            stream,
            version,
            f"a record ({self.log.name(stream, version)}) is stored at position {position} "
            "that the chain never contained: the chain runs past it intact",
        )

    def check(self, link: Link) -> ChainBreak | None:
        """Check one record against the last good one; on success it becomes the last."""
        n, stream, version = link.position, link.stream, link.version
        if link.prev_hash != self.last_hash:
            return self._broken_global_link(link)
        if link.computed != link.stored:
            if self.skipped_by_next(n):
                return self.inserted(n, stream, version)
            return self._altered(link)
        problem = self._stream_link(link)
        if problem is not None:
            return self.inserted(n, stream, version) if self.skipped_by_next(n) else problem
        self.before_last_hash = self.last_hash
        self.before_last_position = self.last_position
        self.last_hash = link.computed
        self.last_position = n
        self.last_stream = stream
        self.last_version = version
        self.records += 1
        return None

    def _stream_link(self, link: Link) -> ChainBreak | None:
        n, stream, version = link.position, link.stream, link.version
        if version == 1:
            if link.stream_prev != GENESIS:
                return self.broken(
                    BreakKind.OUT_OF_ORDER,
                    n,
                    stream,
                    version,
                    f"{self.log.name(stream, version)} is the first of its stream but links "
                    "to a predecessor",
                )
            return None
        before = self.log.name(stream, version - 1)
        if link.predecessor is None:
            return self.broken(
                BreakKind.RECORD_MISSING,
                n,
                stream,
                version - 1,
                f"{before} (before position {n}) is missing from the chain",
            )
        pred_position, pred_hash = link.predecessor
        if pred_position >= n:
            return self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                stream,
                version,
                f"{self.log.name(stream, version)} is stored at position {n}, before {before} "
                f"(position {pred_position})",
            )
        if pred_hash != link.stream_prev:
            return self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                stream,
                version,
                f"the stream link of {self.log.name(stream, version)} does not point to "
                f"{before} (position {pred_position})",
            )
        return None

    # --- diagnosis (only ever runs once, on the first failure) ----------------------------

    def _broken_global_link(self, link: Link) -> ChainBreak:
        n, stream, version = link.position, link.stream, link.version
        if self.before_last_hash is not None and link.prev_hash == self.before_last_hash:
            # The chain skips the record before this one: it was slotted in afterwards
            # (with a chain hash computed from its neighbours, but this link was not redone).
            return ChainBreak(
                self.log.log,
                BreakKind.RECORD_INSERTED,
                self.last_position,
                self.last_stream,
                self.last_version,
                f"the record at position {self.last_position} was inserted: the next record "
                f"(position {n}) links past it",
                self.before_last_position,
            )
        elsewhere = self.log.position_of(link.prev_hash)
        if elsewhere is not None:
            return self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                stream,
                version,
                f"position {n} links back to position {elsewhere}, not to the record "
                f"before it (position {self.last_position})",
            )
        successor = self.log.successor_of(link.prev_hash)
        gone_stream: str | None = None
        gone_version: int | None = None
        missing = "a record"
        if successor is not None:
            gone_stream, gone_version = successor[0], successor[1] - 1
            missing = self.log.name(gone_stream, gone_version)
        return self.broken(
            BreakKind.RECORD_MISSING,
            n,
            gone_stream,
            gone_version,
            f"{missing} was removed between positions {self.last_position} and {n}: "
            f"position {n} links to a record no longer in the log",
        )

    def _altered(self, link: Link) -> ChainBreak:
        n, stream, version = link.position, link.stream, link.version
        found = self.log.placed_elsewhere(link)
        if found is not None:
            position, other = found
            return self.broken(
                BreakKind.OUT_OF_ORDER,
                n,
                stream,
                version,
                f"position {n} ({self.log.name(stream, version)}) holds the content the chain "
                f"recorded for {self.log.name(stream, other)} at position {position}",
            )
        return self.broken(
            BreakKind.CONTENT_ALTERED,
            n,
            stream,
            version,
            f"the record stored at position {n} ({self.log.name(stream, version)}) does not "
            "hash to its chain record: its content was altered",
        )


def walk_chain(
    log: ChainLog,
    *,
    pins: Sequence[Pin],
    anchor: Anchor | None,
    upto: int | None,
    page: int,
) -> ChainCheck:
    """Walk ``log`` from the genesis (or ``anchor``) to ``upto`` (default: its end).

    Every record's hash is recomputed from its stored content; the walk stops at the
    first broken link. The chain must pass through every pin beyond the start.
    """
    started = time.perf_counter()
    walk = Walker(log, anchor)
    upper = log.head() if upto is None else upto
    pending = sorted((p for p in pins if p.position > walk.start), key=lambda p: p.position)
    index = 0
    first_break: ChainBreak | None = None
    for link in log.links(walk, upper, page):
        first_break = link if isinstance(link, ChainBreak) else walk.check(link)
        if first_break is not None:
            break
        first_break, index = _through_pins(walk, pending, index)
        if first_break is not None:
            break
    if first_break is None and index < len(pending):
        pin = pending[index]
        first_break = walk.broken(
            BreakKind.RECORD_MISSING,
            pin.position,
            None,
            None,
            f"the log ends at position {walk.last_position} but checkpoint {pin.label} was "
            f"signed at position {pin.position}: records were removed from the end",
        )
    return ChainCheck(
        log=log.log,
        records=walk.records,
        first_position=walk.start,
        head_position=walk.last_position,
        head_hash=walk.last_hash,
        pins_checked=index,
        first_break=first_break,
        seconds=time.perf_counter() - started,
    )


def _through_pins(walk: Walker, pending: list[Pin], index: int) -> tuple[ChainBreak | None, int]:
    """Check the pins the walk has reached with its last record; the next pin's index."""
    n = walk.last_position
    if index < len(pending) and pending[index].position < n:
        pin = pending[index]
        return walk.broken(
            BreakKind.RECORD_MISSING,
            pin.position,
            None,
            None,
            f"checkpoint {pin.label} was signed at position {pin.position}, "
            "which is no longer in the log",
        ), index
    while index < len(pending) and pending[index].position == n:
        pin = pending[index]
        index += 1
        if pin.hash != walk.last_hash:
            return walk.broken(
                BreakKind.CHECKPOINT_MISMATCH,
                n,
                walk.last_stream,
                walk.last_version,
                f"the recomputed chain at position {n} differs from the head signed in "
                f"checkpoint {pin.label}: the log up to there was rewritten",
            ), index
    return None, index
