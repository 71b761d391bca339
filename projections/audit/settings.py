"""Configuration of the governance tools (read by entry points only, never at import).

| variable | default | meaning |
|---|---|---|
| ``CARERECORD_BREAK_GLASS_REVIEW_HOURS`` | 72 | a break-glass grant's review is due this many hours after the grant; later it is listed as overdue |
| ``CARERECORD_CHECKPOINT_EVERY_SECONDS`` | 900 | long-running processes (API server, projection worker) sign a checkpoint of each log when the last one is older than this and the log has grown; ``0`` turns the timer off |
| ``CARERECORD_CHECKPOINT_CHECK_SECONDS`` | 60 | how often that timer looks (at most the interval above) |
| ``CARERECORD_ENV`` | production | ``dev``: the timer may generate its signing key into the data directory; otherwise ``CARERECORD_CHECKPOINT_KEY`` must be set (a key kept beside the logs it signs proves little) |
"""  # noqa: E501

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class GovernanceSettings:
    """Break-glass review period and the checkpoint timer."""

    break_glass_review_hours: float = 72.0
    checkpoint_every_seconds: float = 900.0
    checkpoint_check_seconds: float = 60.0
    generate_signing_key: bool = True
    """Dev mode: a missing checkpoint key is generated into the data directory. Production
    (``from_env`` without ``CARERECORD_ENV=dev``) refuses to run the timer unless
    ``CARERECORD_CHECKPOINT_KEY`` names one (``signing_key_configured``)."""
    signing_key_configured: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.break_glass_review_hours <= 24 * 366:
            raise ValueError("CARERECORD_BREAK_GLASS_REVIEW_HOURS must be between 1 and 8784")
        if self.checkpoint_every_seconds < 0:
            raise ValueError("CARERECORD_CHECKPOINT_EVERY_SECONDS must not be negative")
        if not 0.01 <= self.checkpoint_check_seconds <= 3600:
            raise ValueError("CARERECORD_CHECKPOINT_CHECK_SECONDS must be between 0.01 and 3600")

    @property
    def review_period(self) -> timedelta:
        return timedelta(hours=self.break_glass_review_hours)

    @property
    def checkpoint_every(self) -> timedelta | None:
        """None: no checkpoint timer."""
        if self.checkpoint_every_seconds == 0:
            return None
        return timedelta(seconds=self.checkpoint_every_seconds)

    @property
    def checkpoint_tick(self) -> float:
        return min(self.checkpoint_check_seconds, max(self.checkpoint_every_seconds, 0.01))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GovernanceSettings:
        env = os.environ if environ is None else environ
        return cls(
            break_glass_review_hours=float(env.get("CARERECORD_BREAK_GLASS_REVIEW_HOURS", "72")),
            checkpoint_every_seconds=float(env.get("CARERECORD_CHECKPOINT_EVERY_SECONDS", "900")),
            checkpoint_check_seconds=float(env.get("CARERECORD_CHECKPOINT_CHECK_SECONDS", "60")),
            generate_signing_key=env.get("CARERECORD_ENV", "production").strip().lower() == "dev",
            signing_key_configured=bool(env.get("CARERECORD_CHECKPOINT_KEY", "").strip()),
        )
