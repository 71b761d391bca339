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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError, Recording, Transcoder
from eventsourcing.utils import Environment

from carerecord import errors, inputs
from carerecord.agency import Agency
from carerecord.client_record import ClientRecord
from carerecord.identifier_claim import IdentifierClaim, claim_id
from carerecord.ids import ClientId, parse_client_id, parse_entity_id, parse_local_id, parse_team_id
from carerecord.nhs import normalise_nhs_number
from carerecord.practitioner import Practitioner
from carerecord.protocol import AGENCY_SYSTEM, Protocol, any_matches
from carerecord.sharing_protocol import SharingProtocol
from carerecord.transcoder import OrjsonTranscoder
from carerecord.validation import (
    MAX_ENTRY_TEXT,
    MAX_REASON_TEXT,
    birth_date,
    choice,
    event_time,
    future_time,
    optional_line,
    single_line,
)
from carerecord.validation import text as checked_text
from carerecord.values import (
    BreakGlassGrant,
    CareRelationship,
    ConsentDecision,
    Labels,
    Restriction,
    Viewer,
)
from carerecord.vocab import (
    AlertKind,
    BreakGlassOutcome,
    ConsentDecisionKind,
    ConsentGiver,
    LawfulBasis,
    Purpose,
    RestrictionRequester,
    Role,
    Sector,
    Sensitivity,
    Severity,
    Urgency,
    ViewerKind,
)

Clock = Callable[[], datetime]
T = TypeVar("T")
MAX_ATTEMPTS = 5
MAX_CONSENT_DURATION = timedelta(days=366 * 10)
MAX_REFERRAL_HORIZON = timedelta(days=366)
SYSTEM = "system"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid4())


@dataclass(frozen=True)
class CommandResult:
    """What a command saved: the log position to wait for, and the id it created (if any)."""

    position: int
    id: str | None = None


@dataclass(frozen=True)
class ClientIdentity:
    """The minimal identity returned by an exact identifier lookup (no browsing)."""

    client_id: ClientId
    given_name: str
    family_name: str
    date_of_birth: str


class CareRecord(Application[UUID]):
    """The shared care record: clients' streams, the directory and the protocol."""

    name = "CareRecord"
    snapshotting_intervals = {ClientRecord: 100}

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        identifier_key: bytes,
        partnership: str = "north-shire",
        clock: Clock = utc_now,
        id_factory: Callable[[], str] = new_id,
    ) -> None:
        self._identifier_key = identifier_key
        self.partnership = partnership
        self.clock = clock
        self._new_id = id_factory
        self._protocol_cache: tuple[int, Protocol] | None = None
        super().__init__(env=dict(env))

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # Configuration is explicit: the process environment is never read here.
        values = {"IS_SNAPSHOTTING_ENABLED": "y"}
        values.update(env or {})
        return Environment(name, values)

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    # --- directory ---------------------------------------------------------------------

    def register_agency(
        self,
        *,
        code: str,
        name: str,
        sector: Sector | str,
        local_authority_area: str,
        phone: str,
        email: str,
        by: str = SYSTEM,
        at: datetime | None = None,
    ) -> CommandResult:
        """Register an agency in the partnership's directory."""
        now = self.clock()
        agency = Agency.register(
            code=inputs.code(code, field="code"),
            name=single_line(name, field="name"),
            sector=choice(Sector, sector, field="sector"),
            local_authority_area=inputs.code(local_authority_area, field="local_authority_area"),
            phone=single_line(phone, field="phone", max_len=30),
            email=single_line(email, field="email", max_len=120),
            by=by,
            at=now if at is None else event_time(at, field="at", now=now),
        )
        return CommandResult(self._save_new(agency), code)

    def enrol_practitioner(
        self,
        *,
        practitioner_id: str,
        agency_id: str,
        profession: str,
        name: str,
        roles: Iterable[Role | str] = (Role.PRACTITIONER,),
        teams: Iterable[str] = (),
        phone: str = "",
        email: str = "",
        trained_on: Any = None,
        by: str = SYSTEM,
        at: datetime | None = None,
    ) -> CommandResult:
        """Enrol a (trained) practitioner of a registered agency."""
        now = self.clock()
        protocol = self.protocol()
        agency = self.agency(agency_id)
        practitioner = Practitioner.enrol(
            practitioner_id=inputs.code(practitioner_id, field="practitioner_id"),
            agency_id=agency.code,
            profession=_practitioner_profession(protocol, profession),
            name=single_line(name, field="name"),
            roles=frozenset(choice(Role, r, field="roles") for r in roles),
            teams=frozenset(parse_team_id(t) for t in teams),
            phone=single_line(phone, field="phone", max_len=30) if phone else "",
            email=single_line(email, field="email", max_len=120) if email else "",
            trained_on=None
            if trained_on is None
            else birth_date(trained_on, field="trained_on", today=now.date()),
            by=by,
            at=now if at is None else event_time(at, field="at", now=now),
        )
        return CommandResult(self._save_new(practitioner), practitioner_id)

    def adopt_protocol(
        self, document: dict[str, Any], *, by: str = SYSTEM, at: datetime | None = None
    ) -> CommandResult:
        """Adopt a new version of the information sharing protocol (recorded as an event)."""
        now = self._when(at, self.clock())
        try:
            record: SharingProtocol = self.repository.get(SharingProtocol.id_for(self.partnership))
        except AggregateNotFoundError:
            record = SharingProtocol.establish(partnership=self.partnership, by=by, at=now)
        protocol = record.adopt(document, by=by, at=now)
        try:
            return CommandResult(_position(self.save(record)), str(protocol.version))
        except RecordConflictError:
            raise errors.ConcurrentUpdate(aggregate="protocol") from None

    def protocol(self) -> Protocol:
        """The protocol version in force now."""
        try:
            record: SharingProtocol = self.repository.get(
                SharingProtocol.id_for(self.partnership), deepcopy_from_cache=False
            )
        except AggregateNotFoundError:
            raise errors.ProtocolNotAdopted() from None
        cached = self._protocol_cache
        if cached is not None and cached[0] == record.version:
            return cached[1]
        current = record.current  # parses (and hashes) the whole document: once per version
        if current is None:
            raise errors.ProtocolNotAdopted()
        self._protocol_cache = (record.version, current)
        return current

    def agency(self, agency_id: object) -> Agency:
        code = inputs.code(agency_id, field="agency_id")
        try:
            agency: object = self.repository.get(Agency.id_for(code), deepcopy_from_cache=False)
        except AggregateNotFoundError:
            raise errors.AgencyNotFound(field="agency_id") from None
        if not isinstance(agency, Agency):
            raise errors.AgencyNotFound(field="agency_id")
        return agency

    def agency_exists(self, agency_id: str) -> bool:
        try:
            self.agency(agency_id)
        except errors.AgencyNotFound:
            return False
        return True

    def practitioner(self, practitioner_id: object) -> Practitioner:
        code = inputs.code(practitioner_id, field="practitioner_id")
        try:
            found: object = self.repository.get(
                Practitioner.id_for(code), deepcopy_from_cache=False
            )
        except AggregateNotFoundError:
            raise errors.PractitionerNotFound(field="practitioner_id") from None
        if not isinstance(found, Practitioner):
            raise errors.PractitionerNotFound(field="practitioner_id")
        return found

    def resolve_actor(self, claimed: Viewer) -> Viewer:
        """Check a caller's claimed identity against the directory and complete it.

        Practitioners must be enrolled, active, and match the claimed agency and
        profession; their roles and teams come from the directory. Agency systems
        must name a registered agency. Clients are passed through (their identity is
        the client id the token was issued for).
        """
        if claimed.kind is ViewerKind.CLIENT:
            return claimed
        if claimed.kind is ViewerKind.AGENCY_SYSTEM:
            agency = self.agency(claimed.agency_id)
            return Viewer(
                kind=ViewerKind.AGENCY_SYSTEM,
                agency_id=agency.code,
                sector=agency.sector,
                profession=AGENCY_SYSTEM,
            )
        if claimed.practitioner_id is None:
            raise errors.IdentityMismatch(field="practitioner_id")
        practitioner = self.practitioner(claimed.practitioner_id)
        if not practitioner.active:
            raise errors.PractitionerInactive()
        if (
            claimed.agency_id != practitioner.agency_id
            or claimed.profession != practitioner.profession
        ):
            raise errors.IdentityMismatch(field="claims")
        agency = self.agency(practitioner.agency_id)
        return Viewer(
            kind=ViewerKind.PRACTITIONER,
            agency_id=practitioner.agency_id,
            sector=agency.sector,
            profession=practitioner.profession,
            practitioner_id=practitioner.practitioner_id,
            roles=practitioner.role_set,
            teams=frozenset(practitioner.teams),
        )

    def _practitioner_actor(self, claimed: Viewer) -> Viewer:
        actor = self.resolve_actor(claimed)
        if actor.kind is not ViewerKind.PRACTITIONER:
            raise errors.NotPermitted(reason="practitioners_only")
        return actor

    # --- clients: identity -------------------------------------------------------------

    def register_client(
        self,
        caller: Viewer,
        *,
        nhs_number: str | None = None,
        local_ids: Mapping[str, str] | None = None,
        given_name: str,
        family_name: str,
        date_of_birth: Any,
        gender: str | None = None,
        postcode: str | None = None,
        preferred_language: str | None = None,
        phone: str | None = None,
        relationship_reason: str = "Registered the client",
    ) -> CommandResult:
        """Register a client; the registering practitioner gets a care relationship.

        At least one identifier (NHS number or a local authority id) is needed, and
        each may be held by one client only (``DUPLICATE_IDENTIFIER``).
        """
        actor = self._practitioner_actor(caller)
        now = self.clock()
        nhs = None if nhs_number is None else normalise_nhs_number(nhs_number)
        locals_ = self._local_ids(local_ids or {})
        if nhs is None and not locals_:
            raise errors.InvalidInput(field="identifiers", reason="none_given")
        person = inputs.demographics(
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            gender=gender,
            postcode=postcode,
            preferred_language=preferred_language,
            phone=phone,
            today=now.date(),
        )
        client_id = ClientId(uuid4())
        record = ClientRecord.register(
            client_id=client_id,
            nhs_number=nhs,
            local_ids=locals_,
            demographics=person,
            actor=actor,
            at=now,
        )
        record.start_care_relationship(
            CareRelationship(
                relationship_id=self._new_id(),
                practitioner_id=actor.practitioner_id,
                team_id=None,
                agency_id=_required(actor.agency_id),
                profession=actor.profession,
                reason=inputs.reason(relationship_reason),
                started_by=_required(actor.practitioner_id),
                started_at=now,
            ),
            actor=actor,
        )
        claims = [
            IdentifierClaim.claim(claim_id=cid, client_id=str(client_id), at=now)
            for cid in self._claim_ids(nhs, locals_)
        ]
        try:
            recordings = self.save(record, *claims)
        except RecordConflictError:
            raise errors.DuplicateIdentifier() from None
        return CommandResult(_position(recordings), str(client_id))

    def lookup_client(
        self,
        *,
        nhs_number: str | None = None,
        authority: str | None = None,
        local_id: str | None = None,
    ) -> ClientId | None:
        """The client holding exactly this identifier, if any (no partial matching)."""
        if nhs_number is not None:
            cid = claim_id(self._identifier_key, "nhs", normalise_nhs_number(nhs_number))
        elif authority is not None and local_id is not None:
            cid = claim_id(
                self._identifier_key,
                f"local:{inputs.code(authority, field='authority')}",
                parse_local_id(local_id),
            )
        else:
            raise errors.InvalidInput(field="identifier", reason="none_given")
        try:
            claim: object = self.repository.get(cid, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        if not isinstance(claim, IdentifierClaim):
            return None
        return parse_client_id(claim.client_id)

    def client_identity(self, client_id: ClientId) -> ClientIdentity:
        record = self.load_client(client_id)
        return ClientIdentity(
            client_id=client_id,
            given_name=record.demographics.given_name,
            family_name=record.demographics.family_name,
            date_of_birth=record.demographics.date_of_birth.isoformat(),
        )

    def correct_demographics(
        self,
        caller: Viewer,
        client_id: object,
        *,
        reason: str,
        given_name: str,
        family_name: str,
        date_of_birth: Any,
        gender: str | None = None,
        postcode: str | None = None,
        preferred_language: str | None = None,
        phone: str | None = None,
        at: datetime | None = None,
    ) -> CommandResult:
        """Correct the client's demographics (the old values stay in the log)."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        person = inputs.demographics(
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            gender=gender,
            postcode=postcode,
            preferred_language=preferred_language,
            phone=phone,
            today=now.date(),
        )
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.correct_demographics(person, reason=why, actor=actor, now=now, at=when),
        )

    def record_local_identifier(
        self,
        caller: Viewer,
        client_id: object,
        *,
        authority: str,
        local_id: str,
        at: datetime | None = None,
    ) -> CommandResult:
        """Record a local authority's id for the client ("tell us once")."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        ids = self._local_ids({authority: local_id})
        ((auth, value),) = ids.items()
        when = self._when(at, now)
        claim = self._claim_ids(None, ids)[0]

        def act(record: ClientRecord) -> Sequence[Aggregate]:
            record.record_local_identifier(auth, value, actor=actor, now=now, at=when)
            return [IdentifierClaim.claim(claim_id=claim, client_id=str(record.id), at=now)]

        return self._change(client_id, act, on_conflict=lambda: self._claim_taken(claim))

    # --- contributions -----------------------------------------------------------------

    def record_contribution(
        self,
        caller: Viewer,
        client_id: object,
        *,
        heading: str,
        text: str,
        occurred_at: datetime,
        category: str | None = None,
        sensitivity: Sensitivity | str | None = None,
        lawful_basis: LawfulBasis | str = LawfulBasis.CONSENT,
        subject_access_exemption: str | None = None,
    ) -> CommandResult:
        """Record an entry under the author's own heading; the protocol maps it to a category."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        labels = self._labels(
            protocol,
            actor,
            entry_id=self._new_id(),
            heading=single_line(heading, field="heading", max_len=80),
            category=None,
            expected_category=category,
            sensitivity=sensitivity,
            lawful_basis=lawful_basis,
            occurred_at=event_time(occurred_at, field="occurred_at", now=now),
            exemption=subject_access_exemption,
        )
        body = checked_text(text, field="text", max_len=MAX_ENTRY_TEXT)
        return self._change(
            client_id,
            lambda r: r.record_contribution(labels, body, actor=actor, now=now),
            created=labels.entry_id,
        )

    def amend_contribution(
        self,
        caller: Viewer,
        client_id: object,
        entry_id: object,
        *,
        text: str,
        reason: str,
        at: datetime | None = None,
    ) -> CommandResult:
        """Amend one's own entry: the new text shows, marked amended; the old stays in the log."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        entry = parse_entity_id(entry_id, field="entry_id")
        body = checked_text(text, field="text", max_len=MAX_ENTRY_TEXT)
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.amend_contribution(entry, body, reason=why, actor=actor, at=when),
        )

    def enter_contribution_in_error(
        self,
        caller: Viewer,
        client_id: object,
        entry_id: object,
        *,
        reason: str,
        at: datetime | None = None,
    ) -> CommandResult:
        """Mark one's own entry as entered in error (it leaves the views, stays in the log)."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        entry = parse_entity_id(entry_id, field="entry_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id, lambda r: r.enter_in_error(entry, reason=why, actor=actor, at=when)
        )

    # --- consent -----------------------------------------------------------------------

    def record_consent(
        self,
        caller: Viewer,
        client_id: object,
        *,
        decision: ConsentDecisionKind | str,
        given_by: ConsentGiver | str = ConsentGiver.CLIENT,
        representative_name: str | None = None,
        categories: Iterable[str] | None = None,
        agencies: Iterable[str] = (),
        sectors: Iterable[Sector | str] = (),
        professions: Iterable[str] = (),
        everyone: bool = False,
        purposes: Iterable[Purpose | str] | None = None,
        decided_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> CommandResult:
        """Record a consent decision (granted or refused) by the client or a representative."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        giver = choice(ConsentGiver, given_by, field="given_by")
        rep = optional_line(representative_name, field="representative_name", max_len=100)
        if giver is not ConsentGiver.CLIENT and rep is None:
            raise errors.InvalidInput(field="representative_name", reason="required")
        if giver is ConsentGiver.CLIENT and rep is not None:
            raise errors.InvalidInput(field="representative_name", reason="not_applicable")
        decided = self._when(decided_at, now, field="decided_at")
        expiry = (
            None
            if expires_at is None
            else future_time(
                expires_at, field="expires_at", now=decided, limit=MAX_CONSENT_DURATION
            )
        )
        selector = inputs.audience(
            protocol,
            self.agency_exists,
            agencies=agencies,
            sectors=sectors,
            professions=professions,
            everyone=everyone,
            field="audience",
        )
        consent = ConsentDecision(
            consent_id=self._new_id(),
            decision=choice(ConsentDecisionKind, decision, field="decision"),
            scope=inputs.consent_scope(
                protocol, selector, categories_value=categories, purposes=purposes
            ),
            given_by=giver,
            representative_name=rep,
            recorded_by=_required(actor.practitioner_id),
            agency_id=_required(actor.agency_id),
            decided_at=decided,
            expires_at=expiry,
        )
        return self._change(
            client_id,
            lambda r: r.record_consent(consent, actor=actor, now=now),
            created=consent.consent_id,
        )

    def withdraw_consent(
        self,
        caller: Viewer,
        client_id: object,
        consent_id: object,
        *,
        reason: str,
        at: datetime | None = None,
    ) -> CommandResult:
        """Withdraw a consent decision; what it allowed leaves the views from then on."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        consent = parse_entity_id(consent_id, field="consent_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.withdraw_consent(consent, reason=why, actor=actor, now=now, at=when),
        )

    # --- restrictions ------------------------------------------------------------------

    def place_restriction(
        self,
        caller: Viewer,
        client_id: object,
        *,
        requested_by: RestrictionRequester | str,
        reason: str,
        entry_id: object | None = None,
        category: str | None = None,
        agencies: Iterable[str] = (),
        sectors: Iterable[Sector | str] = (),
        professions: Iterable[str] = (),
        everyone: bool = False,
        at: datetime | None = None,
    ) -> CommandResult:
        """Seal an entry or a category from named audiences (or from everyone else)."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        if (entry_id is None) == (category is None):
            raise errors.InvalidInput(field="target", reason="entry_or_category")
        restriction = Restriction(
            restriction_id=self._new_id(),
            entry_id=None if entry_id is None else parse_entity_id(entry_id, field="entry_id"),
            category=None if category is None else inputs.category(protocol, category),
            hidden_from=inputs.audience(
                protocol,
                self.agency_exists,
                agencies=agencies,
                sectors=sectors,
                professions=professions,
                everyone=everyone,
                field="hidden_from",
            ),
            requested_by=choice(RestrictionRequester, requested_by, field="requested_by"),
            placed_by=_required(actor.practitioner_id),
            agency_id=_required(actor.agency_id),
            placed_at=self._when(at, now),
        )
        why = inputs.reason(reason)
        return self._change(
            client_id,
            lambda r: r.place_restriction(restriction, reason=why, actor=actor, now=now),
            created=restriction.restriction_id,
        )

    def lift_restriction(
        self,
        caller: Viewer,
        client_id: object,
        restriction_id: object,
        *,
        reason: str,
        at: datetime | None = None,
    ) -> CommandResult:
        actor = self._practitioner_actor(caller)
        now = self.clock()
        rid = parse_entity_id(restriction_id, field="restriction_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.lift_restriction(rid, reason=why, actor=actor, now=now, at=when),
        )

    # --- care relationships ------------------------------------------------------------

    def start_care_relationship(
        self,
        caller: Viewer,
        client_id: object,
        *,
        reason: str,
        practitioner_id: str | None = None,
        team_id: str | None = None,
        at: datetime | None = None,
    ) -> CommandResult:
        """Declare a legitimate care relationship (for oneself, a colleague, or a team)."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        if practitioner_id is not None and team_id is not None:
            raise errors.InvalidInput(field="target", reason="practitioner_or_team")
        profession = actor.profession
        if team_id is None:
            target = practitioner_id or actor.practitioner_id
            if target != actor.practitioner_id:
                colleague = self.practitioner(target)
                if not colleague.active or colleague.agency_id != actor.agency_id:
                    raise errors.NotPermitted(
                        action="start_care_relationship", reason="not_a_colleague"
                    )
                profession = colleague.profession
            team = None
        else:
            target = None
            team = parse_team_id(team_id)
            profession = None
        relationship = CareRelationship(
            relationship_id=self._new_id(),
            practitioner_id=target,
            team_id=team,
            agency_id=_required(actor.agency_id),
            profession=profession,
            reason=inputs.reason(reason),
            started_by=_required(actor.practitioner_id),
            started_at=self._when(at, now),
        )
        return self._change(
            client_id,
            lambda r: r.start_care_relationship(relationship, actor=actor),
            created=relationship.relationship_id,
        )

    def end_care_relationship(
        self,
        caller: Viewer,
        client_id: object,
        relationship_id: object,
        *,
        reason: str,
        at: datetime | None = None,
    ) -> CommandResult:
        actor = self._practitioner_actor(caller)
        now = self.clock()
        rid = parse_entity_id(relationship_id, field="relationship_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id, lambda r: r.end_care_relationship(rid, reason=why, actor=actor, at=when)
        )

    # --- referrals ---------------------------------------------------------------------

    def send_referral(
        self,
        caller: Viewer,
        client_id: object,
        *,
        to_agency: str,
        category: str,
        reason: str,
        due_by: datetime,
        urgency: Urgency | str = Urgency.ROUTINE,
        at: datetime | None = None,
    ) -> CommandResult:
        """Refer the client to another agency, due for a response by ``due_by``."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        target = self.agency(to_agency).code
        topic = inputs.category(protocol, category)
        body = checked_text(reason, field="reason", max_len=MAX_REASON_TEXT)
        level = choice(Urgency, urgency, field="urgency")
        due = future_time(due_by, field="due_by", now=now, limit=MAX_REFERRAL_HORIZON)
        when = self._when(at, now)
        referral_id = self._new_id()
        return self._change(
            client_id,
            lambda r: r.send_referral(
                referral_id,
                to_agency=target,
                category=topic,
                reason=body,
                urgency=level,
                due_by=due,
                actor=actor,
                now=now,
                at=when,
            ),
            created=referral_id,
        )

    def acknowledge_referral(
        self, caller: Viewer, client_id: object, referral_id: object, *, at: datetime | None = None
    ) -> CommandResult:
        actor = self._practitioner_actor(caller)
        rid = parse_entity_id(referral_id, field="referral_id")
        when = self._when(at, self.clock())
        return self._change(client_id, lambda r: r.acknowledge_referral(rid, actor=actor, at=when))

    def accept_referral(
        self,
        caller: Viewer,
        client_id: object,
        referral_id: object,
        *,
        note: str = "Accepted",
        start_relationship: bool = True,
        at: datetime | None = None,
    ) -> CommandResult:
        """Accept a referral; by default the accepting practitioner starts a care relationship."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        rid = parse_entity_id(referral_id, field="referral_id")
        why = inputs.reason(note, field="note")
        when = self._when(at, now)
        relationship_id = self._new_id()

        def act(record: ClientRecord) -> Sequence[Aggregate]:
            record.accept_referral(rid, note=why, actor=actor, at=when)
            if start_relationship and record.standing_of(actor, now).relationship_id is None:
                record.start_care_relationship(
                    CareRelationship(
                        relationship_id=relationship_id,
                        practitioner_id=actor.practitioner_id,
                        team_id=None,
                        agency_id=_required(actor.agency_id),
                        profession=actor.profession,
                        reason="Accepted a referral",
                        started_by=_required(actor.practitioner_id),
                        started_at=when,
                    ),
                    actor=actor,
                )
            return ()

        return self._change(client_id, act)

    def decline_referral(
        self,
        caller: Viewer,
        client_id: object,
        referral_id: object,
        *,
        reason: str,
        at: datetime | None = None,
    ) -> CommandResult:
        actor = self._practitioner_actor(caller)
        rid = parse_entity_id(referral_id, field="referral_id")
        why = inputs.reason(reason)
        when = self._when(at, self.clock())
        return self._change(
            client_id, lambda r: r.decline_referral(rid, reason=why, actor=actor, at=when)
        )

    def close_referral(
        self,
        caller: Viewer,
        client_id: object,
        referral_id: object,
        *,
        outcome: str,
        at: datetime | None = None,
    ) -> CommandResult:
        actor = self._practitioner_actor(caller)
        rid = parse_entity_id(referral_id, field="referral_id")
        why = inputs.reason(outcome, field="outcome")
        when = self._when(at, self.clock())
        return self._change(
            client_id, lambda r: r.close_referral(rid, outcome=why, actor=actor, at=when)
        )

    # --- alerts ------------------------------------------------------------------------

    def raise_alert(
        self,
        caller: Viewer,
        client_id: object,
        *,
        kind: AlertKind | str,
        severity: Severity | str,
        summary: str,
        occurred_at: datetime | None = None,
        sensitivity: Sensitivity | str | None = None,
        lawful_basis: LawfulBasis | str = LawfulBasis.CONSENT,
    ) -> CommandResult:
        """Raise an alert; it is labelled and shared like an entry of its kind's category."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        protocol = self.protocol()
        alert_kind = choice(AlertKind, kind, field="kind")
        level = choice(Severity, severity, field="severity")
        labels = self._labels(
            protocol,
            actor,
            entry_id=self._new_id(),
            heading=f"Alert: {alert_kind.value}",
            category=protocol.alert_categories[alert_kind],
            expected_category=None,
            sensitivity=sensitivity,
            lawful_basis=lawful_basis,
            occurred_at=self._when(occurred_at, now, field="occurred_at"),
            exemption=None,
        )
        body = checked_text(summary, field="summary", max_len=MAX_REASON_TEXT)
        return self._change(
            client_id,
            lambda r: r.raise_alert(
                labels, kind=alert_kind, severity=level, summary=body, actor=actor, now=now
            ),
            created=labels.entry_id,
        )

    def resolve_alert(
        self,
        caller: Viewer,
        client_id: object,
        alert_id: object,
        *,
        reason: str,
        at: datetime | None = None,
    ) -> CommandResult:
        actor = self._practitioner_actor(caller)
        now = self.clock()
        aid = parse_entity_id(alert_id, field="alert_id")
        why = inputs.reason(reason)
        when = self._when(at, now)
        return self._change(
            client_id,
            lambda r: r.resolve_alert(aid, reason=why, actor=actor, now=now, at=when),
        )

    # --- break-glass ------------------------------------------------------------------

    def break_glass(
        self,
        caller: Viewer,
        client_id: object,
        *,
        reason: str,
        minutes: int | None = None,
        purpose: Purpose | str = Purpose.EMERGENCY,
    ) -> CommandResult:
        """Grant oneself time-boxed emergency access; it is recorded and queued for review."""
        actor = self._practitioner_actor(caller)
        now = self.clock()
        rule = self.protocol().break_glass
        use = choice(Purpose, purpose, field="purpose")
        if use not in rule.purposes or not any_matches(rule.who, actor, use):
            raise errors.NotPermitted(action="break_glass")
        why = checked_text(reason, field="reason", max_len=MAX_REASON_TEXT)
        if len(why.strip()) < rule.min_reason_length:
            raise errors.InvalidInput(
                field="reason", reason="too_short", minimum=rule.min_reason_length
            )
        duration = rule.default_minutes if minutes is None else minutes
        if (
            not isinstance(duration, int)
            or isinstance(duration, bool)
            or not (1 <= duration <= rule.max_minutes)
        ):
            raise errors.InvalidInput(
                field="minutes", reason="out_of_range", limit=rule.max_minutes
            )
        grant = BreakGlassGrant(
            grant_id=self._new_id(),
            practitioner_id=_required(actor.practitioner_id),
            agency_id=_required(actor.agency_id),
            profession=_required(actor.profession),
            purpose=use,
            granted_at=now,
            expires_at=now + timedelta(minutes=duration),
        )
        return self._change(
            client_id,
            lambda r: r.grant_break_glass(grant, reason=why, actor=actor),
            created=grant.grant_id,
        )

    def review_break_glass(
        self,
        caller: Viewer,
        client_id: object,
        grant_id: object,
        *,
        outcome: BreakGlassOutcome | str,
        note: str,
        at: datetime | None = None,
    ) -> CommandResult:
        """Record the information-governance officer's review of a break-glass grant."""
        actor = self._practitioner_actor(caller)
        gid = parse_entity_id(grant_id, field="grant_id")
        verdict = choice(BreakGlassOutcome, outcome, field="outcome")
        body = checked_text(note, field="note", max_len=MAX_REASON_TEXT)
        when = self._when(at, self.clock())
        return self._change(
            client_id,
            lambda r: r.review_break_glass(gid, outcome=verdict, note=body, actor=actor, at=when),
        )

    # --- reading the write model -------------------------------------------------------

    def load_client(self, client_id: object, *, version: int | None = None) -> ClientRecord:
        """The client's aggregate (read-only use: never save what this returns)."""
        cid = parse_client_id(client_id)
        try:
            record: object = self.repository.get(cid, version=version, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            raise errors.ClientNotFound() from None
        if not isinstance(record, ClientRecord):
            raise errors.ClientNotFound()
        return record

    # --- internals ---------------------------------------------------------------------

    def _labels(
        self,
        protocol: Protocol,
        actor: Viewer,
        *,
        entry_id: str,
        heading: str,
        category: str | None,
        expected_category: str | None,
        sensitivity: Sensitivity | str | None,
        lawful_basis: LawfulBasis | str,
        occurred_at: datetime,
        exemption: str | None,
    ) -> Labels:
        profession = _required(actor.profession)
        if profession not in protocol.professions:
            raise errors.UnknownProfession(field="profession")
        if category is None:
            category = protocol.category_for_heading(profession, heading)
            if category is None:
                raise errors.UnknownHeading(field="heading")
        if expected_category is not None:
            if expected_category not in protocol.categories:
                raise errors.UnknownCategory(field="category")
            if expected_category != category:
                raise errors.InvalidInput(field="category", reason="heading_maps_elsewhere")
        floor = protocol.categories[category].min_sensitivity
        level = (
            floor if sensitivity is None else choice(Sensitivity, sensitivity, field="sensitivity")
        )
        if level.rank < floor.rank:
            raise errors.SensitivityTooLow(field="sensitivity")
        basis = choice(LawfulBasis, lawful_basis, field="lawful_basis")
        if basis is not LawfulBasis.CONSENT and basis not in protocol.lawful_bases:
            raise errors.UnknownValue(field="lawful_basis")
        if exemption is not None and exemption not in protocol.subject_access_exemptions:
            raise errors.UnknownValue(field="subject_access_exemption")
        return Labels(
            entry_id=entry_id,
            agency_id=_required(actor.agency_id),
            sector=_required(actor.sector),
            author_id=_required(actor.practitioner_id),
            profession=profession,
            category=category,
            heading=heading,
            sensitivity=level,
            lawful_basis=basis,
            occurred_at=occurred_at,
            subject_access_exemption=exemption,
        )

    def _when(self, at: datetime | None, now: datetime, *, field: str = "at") -> datetime:
        return now if at is None else event_time(at, field=field, now=now)

    def _local_ids(self, local_ids: Mapping[str, str]) -> dict[str, str]:
        if len(local_ids) > 10:
            raise errors.TooLarge(field="local_ids", limit=10)
        return {
            inputs.code(k, field="local_ids.authority"): parse_local_id(v)
            for k, v in local_ids.items()
        }

    def _claim_ids(self, nhs: str | None, local_ids: Mapping[str, str]) -> list[UUID]:
        ids = [] if nhs is None else [claim_id(self._identifier_key, "nhs", nhs)]
        ids += [claim_id(self._identifier_key, f"local:{a}", v) for a, v in local_ids.items()]
        return ids

    def _claim_taken(self, claim: UUID) -> None:
        if claim in self.repository:
            raise errors.DuplicateIdentifier()

    def _save_new(self, aggregate: Aggregate) -> int:
        try:
            return _position(self.save(aggregate))
        except RecordConflictError:
            raise errors.AlreadyExists(field="id") from None

    def _change(
        self,
        client_id: object,
        action: Callable[[ClientRecord], Sequence[Aggregate] | None],
        *,
        created: str | None = None,
        on_conflict: Callable[[], None] | None = None,
    ) -> CommandResult:
        """Load the client, let ``action`` decide, save everything in one transaction.

        On a version conflict the whole command is retried from a fresh load, so a
        concurrent change is never lost; the rules are checked again each time.
        """
        cid = parse_client_id(client_id)
        for _ in range(MAX_ATTEMPTS):
            try:
                record: object = self.repository.get(cid)
            except AggregateNotFoundError:
                raise errors.ClientNotFound() from None
            if not isinstance(record, ClientRecord):
                raise errors.ClientNotFound()
            extra = action(record) or ()
            try:
                recordings = self.save(record, *extra)
            except RecordConflictError:
                if on_conflict is not None:
                    on_conflict()
                continue
            return CommandResult(_position(recordings), created)
        raise errors.ConcurrentUpdate()


def _position(recordings: list[Recording[UUID]]) -> int:
    return max(r.notification.id for r in recordings)


def _required(value: T | None) -> T:
    if value is None:
        raise errors.NotPermitted(reason="incomplete_identity")
    return value


def _practitioner_profession(protocol: Protocol, profession: str) -> str:
    if profession not in protocol.professions:
        raise errors.UnknownProfession(field="profession")
    return profession
