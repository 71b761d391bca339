"""One error family with stable codes.

Every refusal the domain or the application makes is a ``CareRecordError`` with a
``code`` that clients may rely on, and structured ``fields`` that never contain
clinical text (ids, field names, limits only). HTTP statuses and GraphQL shapes
are chosen in one place in ``api/``.
"""

from __future__ import annotations

from typing import ClassVar


class CareRecordError(Exception):
    """Base of every expected refusal. ``code`` is stable; ``message`` is safe to show."""

    code: ClassVar[str] = "CARE_RECORD_ERROR"
    message: ClassVar[str] = "The request could not be completed."

    def __init__(self, **fields: str | int | None) -> None:
        self.fields: dict[str, str | int | None] = dict(fields)
        super().__init__(self.message)

    def __str__(self) -> str:
        details = ", ".join(f"{k}={v}" for k, v in sorted(self.fields.items()))
        return f"{self.code}: {self.message}" + (f" ({details})" if details else "")


# --- not found / not permitted -------------------------------------------------------


class ClientNotFound(CareRecordError):
    """No such client, or the caller may not know of one (the two look the same)."""

    code = "CLIENT_NOT_FOUND"
    message = "No client record was found."


class AgencyNotFound(CareRecordError):
    code = "AGENCY_NOT_FOUND"
    message = "No such agency is registered."


class PractitionerNotFound(CareRecordError):
    code = "PRACTITIONER_NOT_FOUND"
    message = "No such practitioner is enrolled."


class AccessNotFound(CareRecordError):
    """No access record has this id (an auditor's reconstruction)."""

    code = "ACCESS_NOT_FOUND"
    message = "No access record has this id."


class ProtocolNotAdopted(CareRecordError):
    code = "PROTOCOL_NOT_ADOPTED"
    message = "No information sharing protocol has been adopted yet."


class NotPermitted(CareRecordError):
    """The caller is known but may not do this."""

    code = "NOT_PERMITTED"
    message = "You are not permitted to do this."


class NoCareRelationship(NotPermitted):
    code = "NO_CARE_RELATIONSHIP"
    message = (
        "You need an active care relationship with this client (or break-glass access); "
        "whether the client or entry exists is not disclosed."
    )


class NotAuthor(NotPermitted):
    code = "NOT_AUTHOR"
    message = "Only the author of an entry may amend it or mark it entered in error."


class IdentityMismatch(NotPermitted):
    code = "IDENTITY_MISMATCH"
    message = "The caller's identity does not match the directory."


class PractitionerInactive(NotPermitted):
    code = "PRACTITIONER_INACTIVE"
    message = "This practitioner is no longer active."


# --- state conflicts -------------------------------------------------------------------


class ConflictError(CareRecordError):
    code = "CONFLICT"
    message = "The record is not in a state that allows this."


class DuplicateIdentifier(ConflictError):
    code = "DUPLICATE_IDENTIFIER"
    message = "A client with this identifier is already registered."


class AlreadyExists(ConflictError):
    code = "ALREADY_EXISTS"
    message = "This already exists."


class ContributionNotFound(ConflictError):
    code = "CONTRIBUTION_NOT_FOUND"
    message = "No such entry on this record."


class ContributionNotCurrent(ConflictError):
    code = "CONTRIBUTION_NOT_CURRENT"
    message = "This entry has been marked entered in error."


class ConsentNotActive(ConflictError):
    code = "CONSENT_NOT_ACTIVE"
    message = "No such active consent decision on this record."


class RestrictionNotActive(ConflictError):
    code = "RESTRICTION_NOT_ACTIVE"
    message = "No such active restriction on this record."


class RelationshipNotActive(ConflictError):
    code = "RELATIONSHIP_NOT_ACTIVE"
    message = "No such active care relationship on this record."


class RelationshipAlreadyActive(ConflictError):
    code = "RELATIONSHIP_ALREADY_ACTIVE"
    message = "An active care relationship already exists for this practitioner or team."


class ReferralNotFound(ConflictError):
    code = "REFERRAL_NOT_FOUND"
    message = "No such referral on this record."


class InvalidReferralTransition(ConflictError):
    code = "INVALID_REFERRAL_TRANSITION"
    message = "The referral is not in a state that allows this response."


class AlertNotActive(ConflictError):
    code = "ALERT_NOT_ACTIVE"
    message = "No such active alert on this record."


class BreakGlassNotFound(ConflictError):
    code = "BREAK_GLASS_NOT_FOUND"
    message = "No such break-glass grant on this record."


class BreakGlassAlreadyReviewed(ConflictError):
    code = "BREAK_GLASS_ALREADY_REVIEWED"
    message = "This break-glass grant has already been reviewed."


class ProtocolVersionNotNewer(ConflictError):
    code = "PROTOCOL_VERSION_NOT_NEWER"
    message = "A protocol version must be newer than the one in force."


class IdempotencyKeyReused(ConflictError):
    """The idempotency key was already used for another command or for different input."""

    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This idempotency key was already used for a different request."


class ConcurrentUpdate(ConflictError):
    """Another command changed the same record at the same time, and retries ran out."""

    code = "CONCURRENT_UPDATE"
    message = "The record was changed by someone else at the same time; please retry."


# --- bad input -------------------------------------------------------------------------


class InvalidInput(CareRecordError):
    """Input failed validation. ``field`` names the offending input."""

    code = "INVALID_INPUT"
    message = "The input is not valid."


class InvalidNHSNumber(InvalidInput):
    code = "INVALID_NHS_NUMBER"
    message = "The NHS number is not valid (ten digits with a correct Modulus 11 check digit)."


class InvalidIdentifier(InvalidInput):
    code = "INVALID_IDENTIFIER"
    message = "The identifier is malformed."


class UnknownCategory(InvalidInput):
    code = "UNKNOWN_CATEGORY"
    message = "The category is not in the shared taxonomy."


class UnknownProfession(InvalidInput):
    code = "UNKNOWN_PROFESSION"
    message = "The profession is not defined by the information sharing protocol."


class UnknownHeading(InvalidInput):
    code = "UNKNOWN_HEADING"
    message = "The heading is not one of this profession's headings."


class UnknownValue(InvalidInput):
    code = "UNKNOWN_VALUE"
    message = "The value is not one of the allowed values."


class TextEmpty(InvalidInput):
    code = "TEXT_EMPTY"
    message = "The text must not be empty."


class TextTooLong(InvalidInput):
    code = "TEXT_TOO_LONG"
    message = "The text is longer than allowed."


class InvalidText(InvalidInput):
    code = "INVALID_TEXT"
    message = "The text contains characters that are not allowed."


class InvalidDate(InvalidInput):
    code = "INVALID_DATE"
    message = "The date or time is not valid."


class DateInFuture(InvalidDate):
    code = "DATE_IN_FUTURE"
    message = "The date must not be in the future."


class SensitivityTooLow(InvalidInput):
    code = "SENSITIVITY_TOO_LOW"
    message = "The sensitivity is lower than the category's minimum."


class InvalidProtocol(InvalidInput):
    code = "INVALID_PROTOCOL"
    message = "The information sharing protocol document is not valid."


class TooLarge(InvalidInput):
    code = "TOO_LARGE"
    message = "The input is larger than allowed."


class InvalidIdempotencyKey(InvalidInput):
    code = "INVALID_IDEMPOTENCY_KEY"
    message = "The idempotency key must be 1-255 printable ASCII characters."


class AuditUnavailable(CareRecordError):
    """The access log could not be written, so the read is refused (fail closed).

    ``reason`` says why: ``store_unavailable`` (the store had a transient failure) and
    ``timeout`` (the write did not complete in time) pass by themselves; ``writer_closed``
    (the process is shutting down) and anything else do not.
    """

    code = "AUDIT_UNAVAILABLE"
    message = "The access could not be recorded, so nothing was returned. Please retry."
    PASSING_REASONS: ClassVar[frozenset[str]] = frozenset({"store_unavailable", "timeout"})

    @property
    def passes(self) -> bool:
        """Whether trying again later can succeed with nothing else changed."""
        return self.fields.get("reason") in self.PASSING_REASONS


class StoreUnavailable(CareRecordError):
    """The store failed for a reason that passes: the connection was lost or refused, the
    server is restarting or shutting down, no connection was free in time, the disk is
    full or busy (``carerecord.transient.is_transient``). Nothing was returned; a write
    may or may not have been saved (the outcome of a commit whose connection dropped is
    unknown), so a retry should carry the same idempotency key."""

    code = "STORE_UNAVAILABLE"
    message = (
        "The record store is unavailable just now; nothing was returned. Please retry "
        "(a change may or may not have been saved: retry with the same idempotency key)."
    )


class StoreNotMigrated(CareRecordError):
    """The store's tables are missing or behind (``area`` says which storage area):
    ``carerecord migrate`` has not been run on it. Commands that only read the store
    (the audit commands) refuse rather than create anything."""

    code = "STORE_NOT_MIGRATED"
    message = "The store has not been migrated: run 'carerecord migrate' first."
