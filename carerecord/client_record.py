"""The client's record: one stream per client, one total order for everything said about them.

The aggregate keeps only what its rules need (ids, authors, consent, restriction,
relationship, referral and alert state); the text of contributions lives in the
events and the views. Guards live in the public command methods; ``@event`` bodies
only assign state, because they run again on every replay.

Event type names are stored in clear, so they never reveal a sensitive fact: an
alert is ``AlertRaised`` whatever its kind, the kind is data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from carerecord import errors
from carerecord.ids import ClientId
from carerecord.policy import SharingState, ViewerRelationship, relationship_for
from carerecord.values import (
    AlertState,
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    ContributionMeta,
    Demographics,
    Labels,
    ReferralState,
    Restriction,
    Viewer,
)
from carerecord.vocab import (
    AlertKind,
    BreakGlassOutcome,
    ReferralStatus,
    RelationshipKind,
    RestrictionRequester,
    Role,
    Severity,
    Urgency,
)

Actor = Viewer
"""Who is acting: the authenticated practitioner, resolved against the directory."""

_ALLOCATING_ROLES = frozenset({Role.TEAM_LEAD, Role.ADMIN})


class ClientRecord(Aggregate):
    """Everything said about one client (patient / service user), as events."""

    # --- registration and identity -----------------------------------------------------

    class Registered(Aggregate.Created):
        nhs_number: str | None
        local_ids: dict[str, str]
        demographics: Demographics
        by: str
        agency_id: str
        at: datetime

    @event(Registered)
    def __init__(
        self,
        nhs_number: str | None,
        local_ids: dict[str, str],
        demographics: Demographics,
        by: str,
        agency_id: str,
        at: datetime,
    ) -> None:
        self.nhs_number = nhs_number
        self.local_ids = dict(local_ids)
        self.demographics = demographics
        self.contributions: dict[str, ContributionMeta] = {}
        self.consents: dict[str, ConsentDecision] = {}
        self.restrictions: dict[str, Restriction] = {}
        self.relationships: dict[str, CareRelationship] = {}
        self.referrals: dict[str, ReferralState] = {}
        self.alerts: dict[str, AlertState] = {}
        self.grants: dict[str, BreakGlassGrant] = {}

    @classmethod
    def register(
        cls,
        *,
        client_id: ClientId,
        nhs_number: str | None,
        local_ids: dict[str, str],
        demographics: Demographics,
        actor: Actor,
        at: datetime,
    ) -> ClientRecord:
        """Register a new client. Identifier uniqueness is enforced by the application."""
        if actor.practitioner_id is None or actor.agency_id is None:
            raise errors.NotPermitted(action="register_client")
        return cls._create(
            cls.Registered,
            id=client_id,
            nhs_number=nhs_number,
            local_ids=local_ids,
            demographics=demographics,
            by=actor.practitioner_id,
            agency_id=actor.agency_id,
            at=at,
        )

    @property
    def client_id(self) -> ClientId:
        return ClientId(self.id)

    class DemographicsCorrected(Aggregate.Event):
        demographics: Demographics
        reason: str
        by: str
        agency_id: str
        at: datetime

    @event(DemographicsCorrected)
    def _demographics_corrected(
        self, demographics: Demographics, reason: str, by: str, agency_id: str, at: datetime
    ) -> None:
        self.demographics = demographics

    def correct_demographics(
        self, demographics: Demographics, *, reason: str, actor: Actor, now: datetime, at: datetime
    ) -> None:
        """Correct who the client is (a new fact on top of the old, never an edit)."""
        self._require_relationship(actor, now)
        self._demographics_corrected(demographics, reason, _who(actor), _agency(actor), at)

    class LocalIdentifierRecorded(Aggregate.Event):
        authority: str
        local_id: str
        by: str
        agency_id: str
        at: datetime

    @event(LocalIdentifierRecorded)
    def _local_identifier_recorded(
        self, authority: str, local_id: str, by: str, agency_id: str, at: datetime
    ) -> None:
        self.local_ids[authority] = local_id

    def record_local_identifier(
        self, authority: str, local_id: str, *, actor: Actor, now: datetime, at: datetime
    ) -> None:
        """Record a local authority's own id for the client ("tell us once")."""
        self._require_relationship(actor, now)
        if authority in self.local_ids:
            raise errors.AlreadyExists(field="authority")
        self._local_identifier_recorded(authority, local_id, _who(actor), _agency(actor), at)

    # --- contributions -----------------------------------------------------------------

    class ContributionRecorded(Aggregate.Event):
        labels: Labels
        text: str

    @event(ContributionRecorded)
    def _contribution_recorded(self, labels: Labels, text: str) -> None:
        self.contributions[labels.entry_id] = ContributionMeta(
            labels.author_id, labels.agency_id, labels.category
        )

    def record_contribution(
        self,
        labels: Labels,
        text: str,
        *,
        actor: Actor,
        now: datetime,
        under_break_glass: bool = False,
    ) -> None:
        """Add an entry. The author needs a care relationship, or break-glass access when
        the protocol lets a grant record entries (``under_break_glass``)."""
        self._require_relationship(actor, now, under_break_glass=under_break_glass)
        if labels.author_id != actor.practitioner_id or labels.agency_id != actor.agency_id:
            raise errors.IdentityMismatch(field="labels")
        if labels.entry_id in self.contributions or labels.entry_id in self.alerts:
            raise errors.AlreadyExists(field="entry_id")
        self._contribution_recorded(labels, text)

    class ContributionAmended(Aggregate.Event):
        entry_id: str
        text: str
        reason: str
        by: str
        agency_id: str
        at: datetime

    @event(ContributionAmended)
    def _contribution_amended(
        self, entry_id: str, text: str, reason: str, by: str, agency_id: str, at: datetime
    ) -> None:
        pass  # The amended text lives in the event and the views.

    def amend_contribution(
        self,
        entry_id: str,
        text: str,
        *,
        reason: str,
        actor: Actor,
        at: datetime,
        now: datetime | None = None,
    ) -> None:
        """Replace an entry's text with a corrected one; only its author may."""
        meta = self._own_current_entry(entry_id, actor, at if now is None else now)
        self._contribution_amended(entry_id, text, reason, meta.author_id, meta.agency_id, at)

    class ContributionEnteredInError(Aggregate.Event):
        entry_id: str
        reason: str
        by: str
        agency_id: str
        at: datetime

    @event(ContributionEnteredInError)
    def _contribution_entered_in_error(
        self, entry_id: str, reason: str, by: str, agency_id: str, at: datetime
    ) -> None:
        meta = self.contributions[entry_id]
        self.contributions[entry_id] = ContributionMeta(
            meta.author_id, meta.agency_id, meta.category, in_error=True
        )

    def enter_in_error(
        self, entry_id: str, *, reason: str, actor: Actor, at: datetime, now: datetime | None = None
    ) -> None:
        """Mark an entry as entered in error: it leaves the views but stays in the log."""
        meta = self._own_current_entry(entry_id, actor, at if now is None else now)
        self._contribution_entered_in_error(entry_id, reason, meta.author_id, meta.agency_id, at)

    def _own_current_entry(self, entry_id: str, actor: Actor, now: datetime) -> ContributionMeta:
        meta = self.contributions.get(entry_id)
        own = (
            meta is not None
            and meta.author_id == actor.practitioner_id
            and meta.agency_id == actor.agency_id
        )
        if meta is None or not own:
            # The author may always correct their own entry; anyone else without a
            # standing learns nothing about the entry (no existence oracle).
            self._require_standing(actor, now)
        if meta is None:
            raise errors.ContributionNotFound(entry_id=entry_id)
        if not own:
            raise errors.NotAuthor(entry_id=entry_id)
        if meta.in_error:
            raise errors.ContributionNotCurrent(entry_id=entry_id)
        return meta

    # --- consent -----------------------------------------------------------------------

    class ConsentRecorded(Aggregate.Event):
        decision: ConsentDecision

    @event(ConsentRecorded)
    def _consent_recorded(self, decision: ConsentDecision) -> None:
        self.consents[decision.consent_id] = decision

    def record_consent(self, decision: ConsentDecision, *, actor: Actor, now: datetime) -> None:
        """Record the client's (or a representative's) decision to grant or refuse sharing."""
        self._require_relationship(actor, now)
        if decision.recorded_by != actor.practitioner_id or decision.agency_id != actor.agency_id:
            raise errors.IdentityMismatch(field="decision")
        if decision.consent_id in self.consents:
            raise errors.AlreadyExists(field="consent_id")
        self._consent_recorded(decision)

    class ConsentWithdrawn(Aggregate.Event):
        consent_id: str
        reason: str
        by: str
        agency_id: str
        at: datetime

    @event(ConsentWithdrawn)
    def _consent_withdrawn(
        self, consent_id: str, reason: str, by: str, agency_id: str, at: datetime
    ) -> None:
        del self.consents[consent_id]

    def withdraw_consent(
        self, consent_id: str, *, reason: str, actor: Actor, now: datetime, at: datetime
    ) -> None:
        """Withdraw a consent decision (withdrawing a refusal lifts it)."""
        self._require_relationship(actor, now)
        if consent_id not in self.consents:
            raise errors.ConsentNotActive(consent_id=consent_id)
        self._consent_withdrawn(consent_id, reason, _who(actor), _agency(actor), at)

    # --- restrictions ("sealed") -------------------------------------------------------

    class RestrictionPlaced(Aggregate.Event):
        restriction: Restriction
        reason: str

    @event(RestrictionPlaced)
    def _restriction_placed(self, restriction: Restriction, reason: str) -> None:
        self.restrictions[restriction.restriction_id] = restriction

    def place_restriction(
        self, restriction: Restriction, *, reason: str, actor: Actor, now: datetime
    ) -> None:
        """Seal an entry or a category from named audiences.

        At the client's request any entry or category may be sealed; at a
        contributor's request only an entry their own agency contributed.
        """
        self._require_relationship(actor, now)
        if (
            restriction.placed_by != actor.practitioner_id
            or restriction.agency_id != actor.agency_id
        ):
            raise errors.IdentityMismatch(field="restriction")
        if restriction.restriction_id in self.restrictions:
            raise errors.AlreadyExists(field="restriction_id")
        if restriction.entry_id is not None:
            contributed_by = self._contributing_agency(restriction.entry_id)
            if (
                restriction.requested_by is RestrictionRequester.CONTRIBUTOR
                and contributed_by != actor.agency_id
            ):
                raise errors.NotPermitted(action="place_restriction", reason="not_contributor")
        elif restriction.requested_by is RestrictionRequester.CONTRIBUTOR:
            raise errors.NotPermitted(action="place_restriction", reason="contributor_entry_only")
        self._restriction_placed(restriction, reason)

    def _contributing_agency(self, entry_id: str) -> str:
        """The agency that contributed an entry (a contribution or an active alert)."""
        meta = self.contributions.get(entry_id)
        if meta is not None:
            return meta.agency_id
        alert = self.alerts.get(entry_id)
        if alert is not None:
            return alert.agency_id
        raise errors.ContributionNotFound(entry_id=entry_id)

    class RestrictionLifted(Aggregate.Event):
        restriction_id: str
        reason: str
        by: str
        agency_id: str
        at: datetime

    @event(RestrictionLifted)
    def _restriction_lifted(
        self, restriction_id: str, reason: str, by: str, agency_id: str, at: datetime
    ) -> None:
        del self.restrictions[restriction_id]

    def lift_restriction(
        self, restriction_id: str, *, reason: str, actor: Actor, now: datetime, at: datetime
    ) -> None:
        """Lift a restriction: only the placing agency may - a practitioner of it with a care
        relationship, or its information-governance officer without one. Another agency's
        officer may not: a seal protects the placing agency's decision (often the client's
        request to it) from every other agency, theirs included."""
        restriction = self.restrictions.get(restriction_id)
        if restriction is None or restriction.agency_id != actor.agency_id:
            self._require_standing(actor, now)
        if restriction is None:
            raise errors.RestrictionNotActive(restriction_id=restriction_id)
        if restriction.agency_id != actor.agency_id:
            raise errors.NotPermitted(action="lift_restriction")
        if Role.IG_OFFICER not in actor.roles:
            self._require_relationship(actor, now)
        self._restriction_lifted(restriction_id, reason, _who(actor), _agency(actor), at)

    # --- care relationships ------------------------------------------------------------

    class CareRelationshipStarted(Aggregate.Event):
        relationship: CareRelationship

    @event(CareRelationshipStarted)
    def _care_relationship_started(self, relationship: CareRelationship) -> None:
        self.relationships[relationship.relationship_id] = relationship

    def start_care_relationship(self, relationship: CareRelationship, *, actor: Actor) -> None:
        """Declare a legitimate relationship: for oneself, or (team lead/admin) for one's agency."""
        if relationship.started_by != actor.practitioner_id:
            raise errors.IdentityMismatch(field="relationship")
        if relationship.agency_id != actor.agency_id:
            raise errors.NotPermitted(action="start_care_relationship", reason="other_agency")
        for_self = relationship.practitioner_id == actor.practitioner_id or (
            relationship.team_id is not None and relationship.team_id in actor.teams
        )
        if not for_self and not (actor.roles & _ALLOCATING_ROLES):
            raise errors.NotPermitted(action="start_care_relationship", reason="not_allocator")
        if relationship.relationship_id in self.relationships:
            raise errors.AlreadyExists(field="relationship_id")
        for existing in self.relationships.values():
            if existing.agency_id == relationship.agency_id and (
                (
                    existing.practitioner_id is not None
                    and existing.practitioner_id == relationship.practitioner_id
                )
                or (existing.team_id is not None and existing.team_id == relationship.team_id)
            ):
                raise errors.RelationshipAlreadyActive(relationship_id=existing.relationship_id)
        self._care_relationship_started(relationship)

    class CareRelationshipEnded(Aggregate.Event):
        relationship_id: str
        reason: str
        by: str
        agency_id: str
        at: datetime

    @event(CareRelationshipEnded)
    def _care_relationship_ended(
        self, relationship_id: str, reason: str, by: str, agency_id: str, at: datetime
    ) -> None:
        del self.relationships[relationship_id]

    def end_care_relationship(
        self,
        relationship_id: str,
        *,
        reason: str,
        actor: Actor,
        at: datetime,
        now: datetime | None = None,
    ) -> None:
        """End a relationship: the practitioner (or team member), or a team lead/admin."""
        relationship = self.relationships.get(relationship_id)
        if relationship is None or relationship.agency_id != actor.agency_id:
            self._require_standing(actor, at if now is None else now)
        if relationship is None:
            raise errors.RelationshipNotActive(relationship_id=relationship_id)
        if relationship.agency_id != actor.agency_id:
            raise errors.NotPermitted(action="end_care_relationship", reason="other_agency")
        own = relationship.practitioner_id == actor.practitioner_id or (
            relationship.team_id is not None and relationship.team_id in actor.teams
        )
        if not own and not (actor.roles & _ALLOCATING_ROLES):
            raise errors.NotPermitted(action="end_care_relationship", reason="not_allocator")
        self._care_relationship_ended(relationship_id, reason, _who(actor), _agency(actor), at)

    # --- referrals ---------------------------------------------------------------------

    class ReferralSent(Aggregate.Event):
        referral_id: str
        to_agency: str
        category: str
        reason: str
        urgency: str
        due_by: datetime
        by: str
        agency_id: str
        at: datetime

    @event(ReferralSent)
    def _referral_sent(
        self,
        referral_id: str,
        to_agency: str,
        category: str,
        reason: str,
        urgency: str,
        due_by: datetime,
        by: str,
        agency_id: str,
        at: datetime,
    ) -> None:
        self.referrals[referral_id] = ReferralState(
            agency_id, to_agency, ReferralStatus.SENT, Urgency(urgency), due_by
        )

    def send_referral(
        self,
        referral_id: str,
        *,
        to_agency: str,
        category: str,
        reason: str,
        urgency: Urgency,
        due_by: datetime,
        actor: Actor,
        now: datetime,
        at: datetime,
        under_break_glass: bool = False,
    ) -> None:
        """Refer the client to another agency, with a date by which it should respond
        (break-glass access suffices only when the protocol lets a grant refer)."""
        self._require_relationship(actor, now, under_break_glass=under_break_glass)
        if to_agency == actor.agency_id:
            raise errors.InvalidInput(field="to_agency", reason="same_agency")
        if referral_id in self.referrals:
            raise errors.AlreadyExists(field="referral_id")
        if due_by <= at:
            raise errors.InvalidDate(field="due_by", reason="not_after_sent")
        self._referral_sent(
            referral_id,
            to_agency,
            category,
            reason,
            urgency.value,
            due_by,
            _who(actor),
            _agency(actor),
            at,
        )

    class ReferralAcknowledged(Aggregate.Event):
        referral_id: str
        by: str
        agency_id: str
        at: datetime

    @event(ReferralAcknowledged)
    def _referral_acknowledged(
        self, referral_id: str, by: str, agency_id: str, at: datetime
    ) -> None:
        self._set_referral_status(referral_id, ReferralStatus.ACKNOWLEDGED)

    def acknowledge_referral(self, referral_id: str, *, actor: Actor, at: datetime) -> None:
        """The receiving agency confirms it has the referral."""
        self._receiving(referral_id, actor, {ReferralStatus.SENT}, at)
        self._referral_acknowledged(referral_id, _who(actor), _agency(actor), at)

    class ReferralAccepted(Aggregate.Event):
        referral_id: str
        note: str
        by: str
        agency_id: str
        at: datetime

    @event(ReferralAccepted)
    def _referral_accepted(
        self, referral_id: str, note: str, by: str, agency_id: str, at: datetime
    ) -> None:
        self._set_referral_status(referral_id, ReferralStatus.ACCEPTED)

    def accept_referral(self, referral_id: str, *, note: str, actor: Actor, at: datetime) -> None:
        """The receiving agency takes the referral on."""
        self._receiving(referral_id, actor, {ReferralStatus.SENT, ReferralStatus.ACKNOWLEDGED}, at)
        self._referral_accepted(referral_id, note, _who(actor), _agency(actor), at)

    class ReferralDeclined(Aggregate.Event):
        referral_id: str
        reason: str
        by: str
        agency_id: str
        at: datetime

    @event(ReferralDeclined)
    def _referral_declined(
        self, referral_id: str, reason: str, by: str, agency_id: str, at: datetime
    ) -> None:
        self._set_referral_status(referral_id, ReferralStatus.DECLINED)

    def decline_referral(
        self, referral_id: str, *, reason: str, actor: Actor, at: datetime
    ) -> None:
        """The receiving agency declines the referral, with a reason."""
        self._receiving(referral_id, actor, {ReferralStatus.SENT, ReferralStatus.ACKNOWLEDGED}, at)
        self._referral_declined(referral_id, reason, _who(actor), _agency(actor), at)

    class ReferralClosed(Aggregate.Event):
        referral_id: str
        outcome: str
        by: str
        agency_id: str
        at: datetime

    @event(ReferralClosed)
    def _referral_closed(
        self, referral_id: str, outcome: str, by: str, agency_id: str, at: datetime
    ) -> None:
        self._set_referral_status(referral_id, ReferralStatus.CLOSED)

    def close_referral(self, referral_id: str, *, outcome: str, actor: Actor, at: datetime) -> None:
        """Either party closes the referral with an outcome."""
        referral = self.referrals.get(referral_id)
        if referral is None or actor.agency_id not in (referral.from_agency, referral.to_agency):
            self._require_standing(actor, at)
        if referral is None:
            raise errors.ReferralNotFound(referral_id=referral_id)
        if actor.agency_id not in (referral.from_agency, referral.to_agency):
            raise errors.NotPermitted(action="close_referral")
        if referral.status is ReferralStatus.CLOSED:
            raise errors.InvalidReferralTransition(referral_id=referral_id)
        self._referral_closed(referral_id, outcome, _who(actor), _agency(actor), at)

    def _receiving(
        self, referral_id: str, actor: Actor, allowed_from: set[ReferralStatus], at: datetime
    ) -> ReferralState:
        referral = self.referrals.get(referral_id)
        if referral is None or actor.agency_id != referral.to_agency:
            self._require_standing(actor, at)
        if referral is None:
            raise errors.ReferralNotFound(referral_id=referral_id)
        if actor.agency_id != referral.to_agency:
            raise errors.NotPermitted(action="respond_to_referral")
        if referral.status not in allowed_from:
            raise errors.InvalidReferralTransition(referral_id=referral_id)
        return referral

    def _set_referral_status(self, referral_id: str, status: ReferralStatus) -> None:
        old = self.referrals[referral_id]
        self.referrals[referral_id] = ReferralState(
            old.from_agency, old.to_agency, status, old.urgency, old.due_by
        )

    # --- alerts ------------------------------------------------------------------------

    class AlertRaised(Aggregate.Event):
        labels: Labels
        kind: str
        severity: str
        summary: str

    @event(AlertRaised)
    def _alert_raised(self, labels: Labels, kind: str, severity: str, summary: str) -> None:
        self.alerts[labels.entry_id] = AlertState(
            AlertKind(kind), Severity(severity), labels.agency_id, labels.author_id, labels.category
        )

    def raise_alert(
        self,
        labels: Labels,
        *,
        kind: AlertKind,
        severity: Severity,
        summary: str,
        actor: Actor,
        now: datetime,
        under_break_glass: bool = False,
    ) -> None:
        """Raise an alert (e.g. a safeguarding concern, a risk to lone workers): with a
        care relationship, or break-glass access when the protocol lets a grant raise one."""
        self._require_relationship(actor, now, under_break_glass=under_break_glass)
        if labels.author_id != actor.practitioner_id or labels.agency_id != actor.agency_id:
            raise errors.IdentityMismatch(field="labels")
        if labels.entry_id in self.alerts or labels.entry_id in self.contributions:
            raise errors.AlreadyExists(field="alert_id")
        self._alert_raised(labels, kind.value, severity.value, summary)

    class AlertResolved(Aggregate.Event):
        alert_id: str
        reason: str
        by: str
        agency_id: str
        at: datetime

    @event(AlertResolved)
    def _alert_resolved(
        self, alert_id: str, reason: str, by: str, agency_id: str, at: datetime
    ) -> None:
        del self.alerts[alert_id]

    def resolve_alert(
        self, alert_id: str, *, reason: str, actor: Actor, now: datetime, at: datetime
    ) -> None:
        """Resolve an alert: the raising agency, or a safeguarding lead with a relationship."""
        alert = self.alerts.get(alert_id)
        self._require_standing(actor, now)
        if alert is None:
            raise errors.AlertNotActive(alert_id=alert_id)
        if alert.agency_id != actor.agency_id and Role.SAFEGUARDING_LEAD not in actor.roles:
            raise errors.NotPermitted(action="resolve_alert")
        self._require_relationship(actor, now)
        self._alert_resolved(alert_id, reason, _who(actor), _agency(actor), at)

    # --- break-glass -------------------------------------------------------------------------

    class BreakGlassGranted(Aggregate.Event):
        grant: BreakGlassGrant
        reason: str

    @event(BreakGlassGranted)
    def _break_glass_granted(self, grant: BreakGlassGrant, reason: str) -> None:
        self.grants[grant.grant_id] = grant

    def grant_break_glass(self, grant: BreakGlassGrant, *, reason: str, actor: Actor) -> None:
        """Record time-boxed emergency access; the application checks the protocol allows it."""
        if grant.practitioner_id != actor.practitioner_id or grant.agency_id != actor.agency_id:
            raise errors.IdentityMismatch(field="grant")
        if grant.grant_id in self.grants:
            raise errors.AlreadyExists(field="grant_id")
        self._break_glass_granted(grant, reason)

    class BreakGlassReviewed(Aggregate.Event):
        grant_id: str
        outcome: str
        note: str
        by: str
        agency_id: str
        at: datetime

    @event(BreakGlassReviewed)
    def _break_glass_reviewed(
        self, grant_id: str, outcome: str, note: str, by: str, agency_id: str, at: datetime
    ) -> None:
        old = self.grants[grant_id]
        self.grants[grant_id] = BreakGlassGrant(
            old.grant_id,
            old.practitioner_id,
            old.agency_id,
            old.profession,
            old.purpose,
            old.granted_at,
            old.expires_at,
            BreakGlassOutcome(outcome),
            by,
        )

    def review_break_glass(
        self, grant_id: str, *, outcome: BreakGlassOutcome, note: str, actor: Actor, at: datetime
    ) -> None:
        """The accessing agency's information-governance officer reviews a grant."""
        grant = self.grants.get(grant_id)
        reviewer = Role.IG_OFFICER in actor.roles
        if grant is None or not reviewer or actor.agency_id != grant.agency_id:
            self._require_standing(actor, at)
        if grant is None:
            raise errors.BreakGlassNotFound(grant_id=grant_id)
        if Role.IG_OFFICER not in actor.roles or actor.agency_id != grant.agency_id:
            raise errors.NotPermitted(action="review_break_glass")
        if grant.practitioner_id == actor.practitioner_id:
            raise errors.NotPermitted(action="review_break_glass", reason="own_grant")
        if grant.review_outcome is not None:
            raise errors.BreakGlassAlreadyReviewed(grant_id=grant_id)
        self._break_glass_reviewed(grant_id, outcome.value, note, _who(actor), _agency(actor), at)

    # --- reading the state the policy needs --------------------------------------------

    def sharing_state(self) -> SharingState:
        return SharingState(tuple(self.consents.values()), tuple(self.restrictions.values()))

    def standing_of(self, viewer: Viewer, now: datetime) -> ViewerRelationship:
        return relationship_for(
            viewer, str(self.id), self.relationships.values(), self.grants.values(), now
        )

    def _require_relationship(
        self, actor: Actor, now: datetime, *, under_break_glass: bool = False
    ) -> None:
        """A care relationship; or a break-glass grant, but only for what the protocol lets
        a grant record (``under_break_glass``, from ``break_glass.may_record``). A grant is
        emergency read access: it never authorises a change to who may see what."""
        standing = self.standing_of(actor, now)
        if standing.kind is RelationshipKind.CARE:
            return
        if standing.kind is RelationshipKind.BREAK_GLASS:
            if under_break_glass:
                return
            raise errors.NotPermitted(reason="break_glass_read_only")
        raise errors.NoCareRelationship()

    def _require_standing(self, actor: Actor, now: datetime) -> None:
        """Refuse a caller with no standing towards the client at all (no relationship,
        no grant) with ``NO_CARE_RELATIONSHIP`` before telling them anything about what
        the record holds, so a refusal never reveals whether an entry exists."""
        if self.standing_of(actor, now).kind is RelationshipKind.NONE:
            raise errors.NoCareRelationship()


def _who(actor: Actor) -> str:
    if actor.practitioner_id is None:
        raise errors.NotPermitted(reason="no_practitioner")
    return actor.practitioner_id


def _agency(actor: Actor) -> str:
    if actor.agency_id is None:
        raise errors.NotPermitted(reason="no_agency")
    return actor.agency_id


def labels_of(event: Any) -> Labels | None:
    """The labels of a contribution or alert event, if it has any."""
    labels = getattr(event, "labels", None)
    return labels if isinstance(labels, Labels) else None
