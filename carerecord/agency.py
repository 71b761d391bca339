"""An agency in the partnership: a GP practice, a trust, a council service, a police force..."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from carerecord.vocab import Sector

_NAMESPACE = uuid5(NAMESPACE_URL, "https://carerecord.example/agency")


class Agency(Aggregate):
    """A directory entry for an agency, keyed by its code."""

    class Registered(Aggregate.Created):
        code: str
        name: str
        sector: str
        local_authority_area: str
        phone: str
        email: str
        by: str
        at: datetime

    @event(Registered)
    def __init__(
        self,
        code: str,
        name: str,
        sector: str,
        local_authority_area: str,
        phone: str,
        email: str,
        by: str,
        at: datetime,
    ) -> None:
        self.code = code
        self.name = name
        self.sector = Sector(sector)
        self.local_authority_area = local_authority_area
        self.phone = phone
        self.email = email

    @staticmethod
    def id_for(code: str) -> UUID:
        return uuid5(_NAMESPACE, code)

    @classmethod
    def register(
        cls,
        *,
        code: str,
        name: str,
        sector: Sector,
        local_authority_area: str,
        phone: str,
        email: str,
        by: str,
        at: datetime,
    ) -> Agency:
        """Register an agency (an administrator's act)."""
        return cls._create(
            cls.Registered,
            id=cls.id_for(code),
            code=code,
            name=name,
            sector=sector.value,
            local_authority_area=local_authority_area,
            phone=phone,
            email=email,
            by=by,
            at=at,
        )

    class ContactDetailsChanged(Aggregate.Event):
        phone: str
        email: str
        by: str
        at: datetime

    @event(ContactDetailsChanged)
    def _contact_details_changed(self, phone: str, email: str, by: str, at: datetime) -> None:
        self.phone = phone
        self.email = email

    def change_contact_details(self, *, phone: str, email: str, by: str, at: datetime) -> None:
        """Change how other agencies reach this one."""
        self._contact_details_changed(phone, email, by, at)
