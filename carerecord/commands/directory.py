"""The directory and the protocol, and every caller resolved against the directory.

Agencies are registered, practitioners enrolled and protocol versions adopted here; the
other command areas build on ``resolve_actor`` and ``protocol``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError

from carerecord import errors, inputs
from carerecord.agency import Agency
from carerecord.commands.base import SYSTEM, CareRecordBase, CommandResult, command
from carerecord.ids import parse_team_id
from carerecord.practitioner import Practitioner
from carerecord.protocol import AGENCY_SYSTEM, Protocol
from carerecord.sharing_protocol import SharingProtocol
from carerecord.validation import birth_date, choice, event_time, single_line
from carerecord.values import Viewer
from carerecord.vocab import Role, Sector, ViewerKind


class DirectoryCommands(CareRecordBase):
    """Register agencies, enrol practitioners, adopt the protocol; resolve callers."""

    # --- directory ---------------------------------------------------------------------

    @command
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
        idempotency_key: str | None = None,
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
        return self._save_new(agency, created=code)

    @command
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
        idempotency_key: str | None = None,
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
        return self._save_new(practitioner, created=practitioner_id)

    @command
    def adopt_protocol(
        self,
        document: dict[str, Any],
        *,
        by: str = SYSTEM,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Adopt a new version of the information sharing protocol (recorded as an event)."""
        now = self._when(at, self.clock())
        try:
            record: SharingProtocol = self.repository.get(SharingProtocol.id_for(self.partnership))
        except AggregateNotFoundError:
            record = SharingProtocol.establish(partnership=self.partnership, by=by, at=now)
        protocol = record.adopt(document, by=by, at=now)
        try:
            return self._commit(record, created=str(protocol.version))
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
        """The agency with this code (``AgencyNotFound`` if none)."""
        code = inputs.code(agency_id, field="agency_id")
        try:
            agency: object = self.repository.get(Agency.id_for(code), deepcopy_from_cache=False)
        except AggregateNotFoundError:
            raise errors.AgencyNotFound(field="agency_id") from None
        if not isinstance(agency, Agency):
            raise errors.AgencyNotFound(field="agency_id")
        return agency

    def agency_exists(self, agency_id: str) -> bool:
        """Whether an agency with this code is registered."""
        try:
            self.agency(agency_id)
        except errors.AgencyNotFound:
            return False
        return True

    def practitioner(self, practitioner_id: object) -> Practitioner:
        """The practitioner with this id (``PractitionerNotFound`` if none)."""
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


def _practitioner_profession(protocol: Protocol, profession: str) -> str:
    if profession not in protocol.professions:
        raise errors.UnknownProfession(field="profession")
    return profession
