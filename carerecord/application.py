"""The application service: one method per command, load -> decide -> save.

Every command takes the caller as established by authentication (a ``Viewer``
with the token's claims), resolves it against the directory (the practitioner
must exist, be active, and match the token's agency and profession), validates
its input, lets the aggregate decide, and saves all resulting events in one
transaction. It returns the log position of what it saved so callers can wait for
the views to catch up (read-your-writes).

A version conflict (another command changed the same client at the same time)
is retried from a fresh load; if retries run out the caller gets
``CONCURRENT_UPDATE``. Nothing is ever half-written.

The commands live in ``carerecord.commands``, one module per area; this module joins
them into ``CareRecord`` and keeps the names callers import from here.
"""

from __future__ import annotations

from carerecord.client_record import ClientRecord
from carerecord.commands.base import (
    MAX_ATTEMPTS,
    SYSTEM,
    ClientIdentity,
    Clock,
    CommandResult,
    new_id,
    utc_now,
)
from carerecord.commands.clients import ClientCommands
from carerecord.commands.consent import MAX_CONSENT_DURATION, ConsentCommands
from carerecord.commands.contributions import ContributionCommands
from carerecord.commands.directory import DirectoryCommands
from carerecord.commands.referrals import MAX_REFERRAL_HORIZON, ReferralCommands
from carerecord.commands.relationships import CareRelationshipCommands

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_CONSENT_DURATION",
    "MAX_REFERRAL_HORIZON",
    "SYSTEM",
    "CareRecord",
    "ClientIdentity",
    "Clock",
    "CommandResult",
    "new_id",
    "utc_now",
]


class CareRecord(
    ClientCommands,
    ContributionCommands,
    ConsentCommands,
    CareRelationshipCommands,
    ReferralCommands,
    DirectoryCommands,
):
    """The shared care record: clients' streams, the directory and the protocol."""

    name = "CareRecord"
    snapshotting_intervals = {ClientRecord: 100}
