"""The fixed vocabulary of the care record.

Categories, professions and headings are data (see the information sharing
protocol); the enumerations here are the few words whose meaning the code
itself depends on.
"""

from __future__ import annotations

from enum import StrEnum


class Sector(StrEnum):
    """The kind of organisation an agency is."""

    HEALTH = "health"
    SOCIAL_CARE = "social_care"
    EDUCATION = "education"
    POLICE = "police"
    HOUSING = "housing"
    VOLUNTARY = "voluntary"


class Sensitivity(StrEnum):
    """How carefully a contribution must be shared.

    ``normal`` follows consent and the protocol; ``sensitive`` is visible only to
    the audiences the protocol names for its category; ``restricted`` never leaves
    the contributing agency and, inside it, only the professions the protocol names.
    """

    NORMAL = "normal"
    SENSITIVE = "sensitive"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return _SENSITIVITY_RANK[self]


_SENSITIVITY_RANK = {Sensitivity.NORMAL: 0, Sensitivity.SENSITIVE: 1, Sensitivity.RESTRICTED: 2}


class Purpose(StrEnum):
    """Why a record is being read (purpose of use)."""

    DIRECT_CARE = "direct_care"
    SAFEGUARDING = "safeguarding"
    EMERGENCY = "emergency"
    AUDIT = "audit"
    SUBJECT_ACCESS = "subject_access"


class LawfulBasis(StrEnum):
    """The basis on which a contribution may be shared.

    ``consent`` needs the client's (or representative's) consent; the others are
    exceptions whose reach is set by the protocol (which purposes, which audiences,
    whether they override a refusal).
    """

    CONSENT = "consent"
    SAFEGUARDING = "safeguarding"
    VITAL_INTERESTS = "vital_interests"
    LEGAL_OBLIGATION = "legal_obligation"


class Role(StrEnum):
    """What a practitioner may do besides contributing as a practitioner."""

    PRACTITIONER = "practitioner"
    SAFEGUARDING_LEAD = "safeguarding_lead"
    IG_OFFICER = "information_governance_officer"
    AUDITOR = "auditor"
    ADMIN = "admin"
    TEAM_LEAD = "team_lead"


class ViewerKind(StrEnum):
    """Who is reading: a practitioner, an agency's own system, or the client."""

    PRACTITIONER = "practitioner"
    AGENCY_SYSTEM = "agency_system"
    CLIENT = "client"


class ConsentDecisionKind(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"


class ConsentGiver(StrEnum):
    """Who gave (or refused) consent on the client's behalf."""

    CLIENT = "client"
    PARENT = "parent"
    GUARDIAN = "guardian"
    LASTING_POWER_OF_ATTORNEY = "lasting_power_of_attorney"
    COURT_APPOINTED_DEPUTY = "court_appointed_deputy"
    OTHER_REPRESENTATIVE = "other_representative"


class RestrictionRequester(StrEnum):
    """Whose request placed a restriction ("sealed" entry or category)."""

    CLIENT = "client"
    CONTRIBUTOR = "contributor"


class ReferralStatus(StrEnum):
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CLOSED = "closed"


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class AlertKind(StrEnum):
    """Kinds of alert. Event type names never carry the kind (it is data)."""

    SAFEGUARDING_CONCERN = "safeguarding_concern"
    RISK_TO_LONE_WORKERS = "risk_to_lone_workers"
    RISK_TO_SELF = "risk_to_self"
    RISK_TO_OTHERS = "risk_to_others"
    ACCESS_NEEDS = "access_needs"
    MISSING_EPISODE = "missing_episode"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RelationshipKind(StrEnum):
    """How a viewer stands towards a client, as the policy sees it."""

    CARE = "care"
    BREAK_GLASS = "break_glass"
    SELF = "self"
    NONE = "none"


class RecordKind(StrEnum):
    """What a practitioner may record under a break-glass grant (the protocol's
    ``break_glass.may_record``): a grant is emergency *read* access, and never authorises
    a command that changes who may see what (consent, restrictions, relationships,
    demographics, identifiers)."""

    CONTRIBUTION = "contribution"
    """An entry (``record_contribution``): a note of what was done in the emergency."""
    ALERT = "alert"
    """Raising an alert (``raise_alert``); resolving one needs a care relationship."""
    REFERRAL = "referral"
    """Sending a referral (``send_referral``)."""


DEFAULT_BREAK_GLASS_RECORDS = frozenset({RecordKind.CONTRIBUTION, RecordKind.ALERT})
"""``break_glass.may_record`` when a protocol version does not say (versions 1 and 2)."""


class BreakGlassOutcome(StrEnum):
    JUSTIFIED = "justified"
    NOT_JUSTIFIED = "not_justified"


# Decoding stored rows and events looks these up millions of times in a rebuild; a dict
# lookup costs a fraction of calling the enum class.
SECTORS: dict[str, Sector] = {m.value: m for m in Sector}
SENSITIVITIES: dict[str, Sensitivity] = {m.value: m for m in Sensitivity}
LAWFUL_BASES: dict[str, LawfulBasis] = {m.value: m for m in LawfulBasis}
