"""Audiences: the classes of callers that are shown exactly the same slice of a record.

An ``AudienceKey`` is the policy's key of a viewer (``carerecord.policy.ViewerKey``:
kind, agency, sector, profession, roles), the purpose of use and the kind of standing
towards the client (care relationship, break-glass grant for the purpose, the client
themself): everything the policy reads about a caller. Everything else about a caller
(their id, their teams) matters only for *whether* they have a standing, which the
read path re-checks against the latest state. So an audience identifies one curated
view per client: two callers with the same key get the same decisions for every entry.

Which audiences are materialised for a client (``relevant_audiences``): the
practitioners with a care relationship (named, or members of a named team) for
each purpose the protocol opens to them (``policy.purpose_open``), break-glass
grantees for their grant's purpose, the client (subject access), and the agency
system of every agency with an active relationship (direct care, for the feed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from carerecord.policy import (
    CLIENT_KEY,
    ViewerKey,
    ViewerRelationship,
    purpose_open,
    standing_at_projection,
    viewer_key,
)
from carerecord.protocol import AGENCY_SYSTEM, Protocol
from carerecord.values import BreakGlassGrant, CareRelationship, Viewer
from carerecord.vocab import Purpose, RelationshipKind, Role, Sector, ViewerKind

READ_PURPOSES = (Purpose.DIRECT_CARE, Purpose.SAFEGUARDING, Purpose.EMERGENCY)
FEED_PURPOSE = Purpose.DIRECT_CARE


@dataclass(frozen=True)
class AudienceKey:
    """What the policy reads about a caller: its viewer key, purpose and standing."""

    viewer: ViewerKey
    purpose: Purpose
    standing: RelationshipKind

    @cached_property
    def parts(self) -> tuple[str, str, str, str, tuple[str, ...], str, str]:
        """The key as text fields (missing ones empty, roles sorted): the stored form's
        fields, and the order audiences are numbered in."""
        viewer = self.viewer
        return (
            viewer.kind.value,
            viewer.agency_id or "",
            viewer.sector.value if viewer.sector is not None else "",
            viewer.profession or "",
            tuple(sorted(r.value for r in viewer.roles)),
            self.purpose.value,
            self.standing.value,
        )

    def __lt__(self, other: AudienceKey) -> bool:
        return self.parts < other.parts

    @property
    def text(self) -> str:
        """A stable text form (stored, unique): fields joined by ``|``, roles by ``,``."""
        kind, agency, sector, profession, roles, purpose, standing = self.parts
        return "|".join((kind, agency, sector, profession, ",".join(roles), purpose, standing))

    @classmethod
    def parse(cls, text: str) -> AudienceKey:
        kind, agency, sector, profession, roles, purpose, standing = text.split("|")
        viewer = ViewerKey(
            ViewerKind(kind),
            agency or None,
            Sector(sector) if sector else None,
            profession or None,
            frozenset(Role(r) for r in roles.split(",") if r),
        )
        return cls(viewer, Purpose(purpose), RelationshipKind(standing))

    @cached_property
    def in_feed(self) -> bool:
        """Whether this audience has an agency feed (direct care, practitioners and systems)."""
        return self.purpose is FEED_PURPOSE and self.viewer.kind is not ViewerKind.CLIENT

    @cached_property
    def relationship(self) -> ViewerRelationship:
        """The standing the projection decides with (``now=None``: no time limits)."""
        return standing_at_projection(self.standing, self.purpose)


CLIENT_AUDIENCE = AudienceKey(CLIENT_KEY, Purpose.SUBJECT_ACCESS, RelationshipKind.SELF)


def audience_of(viewer: ViewerKey, purpose: Purpose, standing: RelationshipKind) -> AudienceKey:
    """The audience of a caller (by the policy's key of them) reading for ``purpose``
    with ``standing``."""
    return AudienceKey(viewer, purpose, standing)


def agency_system_audience(agency_id: str, sector: Sector | None) -> AudienceKey:
    system = Viewer(
        kind=ViewerKind.AGENCY_SYSTEM, agency_id=agency_id, sector=sector, profession=AGENCY_SYSTEM
    )
    return AudienceKey(viewer_key(system), FEED_PURPOSE, RelationshipKind.CARE)


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


def care_audiences(viewer: ViewerKey, protocol: Protocol) -> list[AudienceKey]:
    """The audiences of a practitioner with a care relationship: one per purpose open
    to them under the protocol."""
    return [
        AudienceKey(viewer, purpose, RelationshipKind.CARE)
        for purpose in READ_PURPOSES
        if purpose_open(protocol, viewer, purpose)
    ]


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
                keys.update(care_audiences(viewer_key(staff_viewer(person, sector)), protocol))
    for grant in grants:
        person = staff.get(grant.practitioner_id)
        if person is None or not person.active:
            continue
        viewer = viewer_key(staff_viewer(person, sectors.get(person.agency_id)))
        keys.add(AudienceKey(viewer, grant.purpose, RelationshipKind.BREAK_GLASS))
    return keys
