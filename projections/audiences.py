"""Audiences: the classes of callers that are shown exactly the same slice of a record.

The sharing policy reads, about a viewer, its kind, agency (and sector), profession,
roles and the purpose of use, plus its standing towards the client (care
relationship, break-glass grant for a purpose, the client themself). Everything
else about a viewer (their id, their teams) matters only for *whether* they have
a standing, which the read path re-checks against the latest state. So an
``AudienceKey`` holding exactly those inputs identifies one curated view per
client: two callers with the same key get the same decisions for every entry.

Roles are kept whole (not only those the current protocol mentions) so a key
never changes meaning when the protocol changes.

Which audiences are materialised for a client (``relevant_audiences``): the
practitioners with a care relationship (named, or members of a named team) for
each purpose the protocol opens to them, break-glass grantees for their grant's
purpose, the client (subject access), and the agency system of every agency with
an active relationship (direct care, for the feed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from carerecord.policy import CARE, SELF, ViewerRelationship
from carerecord.protocol import AGENCY_SYSTEM, Protocol, any_matches
from carerecord.values import BreakGlassGrant, CareRelationship, Viewer
from carerecord.vocab import Purpose, RelationshipKind, Role, Sector, ViewerKind

READ_PURPOSES = (Purpose.DIRECT_CARE, Purpose.SAFEGUARDING, Purpose.EMERGENCY)
FEED_PURPOSE = Purpose.DIRECT_CARE
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class AudienceKey:
    """Everything the policy reads about a viewer, apart from identity and relationship."""

    viewer_kind: str
    agency_id: str
    sector: str
    profession: str
    roles: tuple[str, ...]
    purpose: str
    standing: str

    @property
    def text(self) -> str:
        """A stable text form (stored, unique): fields joined by ``|``."""
        return "|".join(
            (
                self.viewer_kind,
                self.agency_id,
                self.sector,
                self.profession,
                ",".join(self.roles),
                self.purpose,
                self.standing,
            )
        )

    @classmethod
    def parse(cls, text: str) -> AudienceKey:
        kind, agency, sector, profession, roles, purpose, standing = text.split("|")
        return cls(
            kind,
            agency,
            sector,
            profession,
            tuple(r for r in roles.split(",") if r),
            purpose,
            standing,
        )

    @cached_property
    def in_feed(self) -> bool:
        """Whether this audience has an agency feed (direct care, practitioners and systems)."""
        return self.purpose == FEED_PURPOSE.value and self.viewer_kind != ViewerKind.CLIENT.value

    @cached_property
    def purpose_value(self) -> Purpose:
        return Purpose(self.purpose)

    def viewer(self) -> Viewer:
        """A representative viewer: decides exactly as every caller with this key."""
        return self._viewer

    @cached_property
    def _viewer(self) -> Viewer:
        return Viewer(
            kind=ViewerKind(self.viewer_kind),
            agency_id=self.agency_id or None,
            sector=Sector(self.sector) if self.sector else None,
            profession=self.profession or None,
            roles=frozenset(Role(r) for r in self.roles),
        )

    def relationship(self) -> ViewerRelationship:
        """The standing the projection decides with (``now=None``: no time limits)."""
        return self._relationship

    @cached_property
    def _relationship(self) -> ViewerRelationship:
        """(Computed once per key.)

        For a break-glass audience the policy reads only the grant's purpose when no
        time is given, so a grant standing for "any grant for this purpose" is used.
        """
        if self.standing == RelationshipKind.SELF.value:
            return SELF
        if self.standing == RelationshipKind.BREAK_GLASS.value:
            grant = BreakGlassGrant(
                "-", "-", self.agency_id, self.profession, Purpose(self.purpose), _EPOCH, _EPOCH
            )
            return ViewerRelationship(RelationshipKind.BREAK_GLASS, grant=grant)
        return CARE


CLIENT_AUDIENCE = AudienceKey(
    ViewerKind.CLIENT.value,
    "",
    "",
    "",
    (),
    Purpose.SUBJECT_ACCESS.value,
    RelationshipKind.SELF.value,
)


def audience_of(viewer: Viewer, purpose: Purpose, standing: RelationshipKind) -> AudienceKey:
    """The audience of a (resolved) caller reading for ``purpose`` with ``standing``."""
    if viewer.kind is ViewerKind.CLIENT:
        return AudienceKey(ViewerKind.CLIENT.value, "", "", "", (), purpose.value, standing.value)
    return AudienceKey(
        viewer.kind.value,
        viewer.agency_id or "",
        viewer.sector.value if viewer.sector is not None else "",
        viewer.profession or "",
        tuple(sorted(r.value for r in viewer.roles)),
        purpose.value,
        standing.value,
    )


def agency_system_audience(agency_id: str, sector: Sector | None) -> AudienceKey:
    return AudienceKey(
        ViewerKind.AGENCY_SYSTEM.value,
        agency_id,
        sector.value if sector is not None else "",
        AGENCY_SYSTEM,
        (),
        FEED_PURPOSE.value,
        RelationshipKind.CARE.value,
    )


@dataclass(frozen=True)
class Staff:
    """What the views need to know about a practitioner (from the directory events)."""

    practitioner_id: str
    agency_id: str
    profession: str
    roles: frozenset[Role]
    teams: frozenset[str]
    active: bool = True


def staff_viewer(staff: Staff, sector: Sector | None) -> Viewer:
    return Viewer(
        kind=ViewerKind.PRACTITIONER,
        agency_id=staff.agency_id,
        sector=sector,
        profession=staff.profession,
        practitioner_id=staff.practitioner_id,
        roles=staff.roles,
        teams=staff.teams,
    )


def care_audiences(viewer: Viewer, protocol: Protocol) -> list[AudienceKey]:
    """The audiences of a practitioner with a care relationship: one per purpose open
    to them under the protocol."""
    keys = []
    for purpose in READ_PURPOSES:
        rule = protocol.purposes.get(purpose)
        if rule is not None and any_matches(rule.who, viewer, purpose):
            keys.append(audience_of(viewer, purpose, RelationshipKind.CARE))
    return keys


def relevant_audiences(
    relationships: Iterable[CareRelationship],
    grants: Iterable[BreakGlassGrant],
    *,
    staff: Mapping[str, Staff],
    team_members: Mapping[tuple[str, str], Iterable[str]],
    sectors: Mapping[str, Sector],
    protocol: Protocol | None,
) -> set[AudienceKey]:
    """The audiences to materialise for a client, given its relationships and grants."""
    keys = {CLIENT_AUDIENCE}
    if protocol is None:
        return keys
    for rel in relationships:
        sector = sectors.get(rel.agency_id)
        keys.add(agency_system_audience(rel.agency_id, sector))
        members: list[str] = []
        if rel.practitioner_id is not None:
            members.append(rel.practitioner_id)
        if rel.team_id is not None:
            members.extend(team_members.get((rel.agency_id, rel.team_id), ()))
        for pid in members:
            person = staff.get(pid)
            if person is not None and person.active and person.agency_id == rel.agency_id:
                keys.update(care_audiences(staff_viewer(person, sector), protocol))
    for grant in grants:
        person = staff.get(grant.practitioner_id)
        if person is None or not person.active:
            continue
        viewer = staff_viewer(person, sectors.get(person.agency_id))
        keys.add(audience_of(viewer, grant.purpose, RelationshipKind.BREAK_GLASS))
    return keys
