"""Wiring: build the application from settings (entry points call this, nothing at import)."""

from __future__ import annotations

from carerecord.application import CareRecord, Clock, utc_now
from carerecord.persistence import library_env
from carerecord.settings import Settings


def open_care_record(
    settings: Settings, *, create_tables: bool = False, clock: Clock = utc_now
) -> CareRecord:
    """The care record application for these settings.

    Tables are created only by ``carerecord migrate`` (``create_tables=True``);
    workers and API processes start with creation off, so several processes starting
    together cannot race on DDL.
    """
    return CareRecord(
        library_env(settings, create_tables=create_tables),
        identifier_key=settings.resolved_identifier_key(),
        partnership=settings.partnership,
        clock=clock,
    )
