"""A practitioner enrolled in the shared record: their agency, profession, roles and teams."""

from __future__ import annotations

from datetime import date, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from carerecord import errors
from carerecord.vocab import Role

_NAMESPACE = uuid5(NAMESPACE_URL, "https://carerecord.example/practitioner")


class Practitioner(Aggregate):
    """A directory entry for a practitioner, keyed by their practitioner id."""

    class Enrolled(Aggregate.Created):
        practitioner_id: str
        agency_id: str
        profession: str
        name: str
        roles: list[str]
        teams: list[str]
        phone: str
        email: str
        trained_on: date | None
        by: str
        at: datetime

    @event(Enrolled)
    def __init__(
        self,
        practitioner_id: str,
        agency_id: str,
        profession: str,
        name: str,
        roles: list[str],
        teams: list[str],
        phone: str,
        email: str,
        trained_on: date | None,
        by: str,
        at: datetime,
    ) -> None:
        self.practitioner_id = practitioner_id
        self.agency_id = agency_id
        self.profession = profession
        self.name = name
        self.roles = sorted(roles)
        self.teams = sorted(teams)
        self.phone = phone
        self.email = email
        self.trained_on = trained_on
        self.active = True

    @staticmethod
    def id_for(practitioner_id: str) -> UUID:
        return uuid5(_NAMESPACE, practitioner_id)

    @classmethod
    def enrol(
        cls,
        *,
        practitioner_id: str,
        agency_id: str,
        profession: str,
        name: str,
        roles: frozenset[Role],
        teams: frozenset[str],
        phone: str,
        email: str,
        trained_on: date | None,
        by: str,
        at: datetime,
    ) -> Practitioner:
        """Enrol a practitioner (after training) so they can use the shared record."""
        return cls._create(
            cls.Enrolled,
            id=cls.id_for(practitioner_id),
            practitioner_id=practitioner_id,
            agency_id=agency_id,
            profession=profession,
            name=name,
            roles=sorted(r.value for r in roles),
            teams=sorted(teams),
            phone=phone,
            email=email,
            trained_on=trained_on,
            by=by,
            at=at,
        )

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(Role(r) for r in self.roles)

    class RolesReassigned(Aggregate.Event):
        roles: list[str]
        teams: list[str]
        by: str
        at: datetime

    @event(RolesReassigned)
    def _roles_reassigned(self, roles: list[str], teams: list[str], by: str, at: datetime) -> None:
        self.roles = list(roles)
        self.teams = list(teams)

    def reassign_roles(
        self, *, roles: frozenset[Role], teams: frozenset[str], by: str, at: datetime
    ) -> None:
        """Give the practitioner a new set of roles and team memberships."""
        if not self.active:
            raise errors.PractitionerInactive(practitioner_id=self.practitioner_id)
        self._roles_reassigned(sorted(r.value for r in roles), sorted(teams), by, at)

    class LeftService(Aggregate.Event):
        reason: str
        by: str
        at: datetime

    @event(LeftService)
    def _left_service(self, reason: str, by: str, at: datetime) -> None:
        self.active = False

    def leave_service(self, *, reason: str, by: str, at: datetime) -> None:
        """The practitioner leaves: they can no longer act on or read the record."""
        if not self.active:
            raise errors.PractitionerInactive(practitioner_id=self.practitioner_id)
        self._left_service(reason, by, at)
