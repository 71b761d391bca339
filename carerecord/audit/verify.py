"""``carerecord audit verify``: prove the event log and the access log are intact.

For each log: every checkpoint's signature is checked against the trusted keys,
then the whole chain is walked from the genesis, recomputing every hash from the
stored bytes, checking both links of every record, and checking the chain passes
through every validly signed checkpoint. The report names the first broken link (by
position) - the earliest of a chain break and a checkpoint that cannot be relied on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from carerecord.audit.access_chain import check_access_chain
from carerecord.audit.chains import (
    EVENTS,
    LOGS,
    BreakKind,
    ChainBreak,
    ChainCheck,
    EventTables,
    Pin,
)
from carerecord.audit.checkpoints import Checkpoint, TrustedKeys, load_checkpoints
from carerecord.audit.event_chain import check_event_chain
from carerecord.db import Databases
from carerecord.settings import Settings

_PROBLEMS = {
    BreakKind.CHECKPOINT_KEY_UNTRUSTED: "was signed by key {key} which is not trusted",
    BreakKind.CHECKPOINT_SIGNATURE_INVALID: "has a signature that does not verify: it was "
    "altered or forged",
}


@dataclass(frozen=True)
class LogReport:
    """One log's verification: its chain walk, its checkpoints, and the first break."""

    log: str
    chain: ChainCheck
    checkpoints: int
    checkpoints_valid: int
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None

    def to_json(self) -> dict[str, Any]:
        data = self.chain.to_json()
        data.update(
            intact=self.intact,
            checkpoints=self.checkpoints,
            checkpoints_valid=self.checkpoints_valid,
            first_break=None if self.first_break is None else self.first_break.to_json(),
        )
        return data


def verify_log(
    settings: Settings,
    databases: Databases,
    log: str,
    *,
    trusted: TrustedKeys,
    extra_checkpoints: Sequence[Checkpoint] = (),
    page: int = 5000,
) -> LogReport:
    """Verify one log (``events`` or ``access``) from its genesis to its end."""
    checkpoints = load_checkpoints(databases, log) + [
        cp for cp in extra_checkpoints if cp.log == log
    ]
    pins: list[Pin] = []
    problems: list[ChainBreak] = []
    for cp in checkpoints:
        kind = trusted.problem(cp)
        if kind is None:
            pins.append(Pin(cp.position, cp.head_hash, cp.checkpoint_id))
            continue
        problems.append(
            ChainBreak(
                log,
                kind,
                cp.position,
                None,
                None,
                f"checkpoint {cp.checkpoint_id} at position {cp.position} "
                + _PROBLEMS[kind].format(key=cp.key_id),
            )
        )
    if log == EVENTS:
        chain = check_event_chain(
            databases.events, EventTables.for_settings(settings), pins=pins, page=page
        )
    else:
        chain = check_access_chain(databases.access, pins=pins, page=page)
    candidates = problems + ([] if chain.first_break is None else [chain.first_break])
    # The earliest position wins; at equal positions the chain's own break comes first.
    first = min(
        candidates,
        key=lambda b: (b.position, b is not chain.first_break),
        default=None,
    )
    return LogReport(log, chain, len(checkpoints), len(pins), first)


def verify_logs(
    settings: Settings,
    databases: Databases,
    *,
    trusted: TrustedKeys,
    logs: Sequence[str] = LOGS,
    extra_checkpoints: Sequence[Checkpoint] = (),
) -> list[LogReport]:
    """Verify each log; see ``verify_log``."""
    return [
        verify_log(settings, databases, log, trusted=trusted, extra_checkpoints=extra_checkpoints)
        for log in logs
    ]
