"""Pure folds of every projection: given events (from the aggregates, no store), when
folded, then these rows / this visibility / these feed items. No database involved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

from carerecord.agency import Agency
from carerecord.client_record import ClientRecord
from carerecord.ids import ClientId
from carerecord.policy import viewer_key
from carerecord.practitioner import Practitioner
from carerecord.protocol import bundled_document, parse_protocol
from carerecord.values import (
    AudienceSelector,
    CareRelationship,
    ConsentDecision,
    ConsentScope,
    Demographics,
    Labels,
    Restriction,
    Viewer,
)
from carerecord.vocab import (
    AlertKind,
    ConsentDecisionKind,
    ConsentGiver,
    LawfulBasis,
    Purpose,
    RelationshipKind,
    RestrictionRequester,
    Role,
    Sector,
    Sensitivity,
    Severity,
    Urgency,
    ViewerKind,
)
from projections.audience.core import Changes, ClientWork, Context
from projections.audience.fold import CLIENT_PREFIX, apply, apply_directory
from projections.audience.keys import (
    CLIENT_AUDIENCE,
    AudienceKey,
    Staff,
    agency_system_audience,
    audience_of,
    relevant_audiences,
)
from projections.lists import caseload, concerns, directory, involvement, referrals

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def actor(pid: str, agency: str, profession: str, sector: Sector, **kw: Any) -> Viewer:
    return Viewer(
        kind=ViewerKind.PRACTITIONER,
        agency_id=agency,
        sector=sector,
        profession=profession,
        practitioner_id=pid,
        roles=frozenset({Role.PRACTITIONER}),
        **kw,
    )


GP = actor("dr-a", "gp-1", "gp", Sector.HEALTH)
SW = actor("sw-b", "sc-1", "social_worker", Sector.SOCIAL_CARE)
NURSE = actor("dn-c", "ch-1", "district_nurse", Sector.HEALTH, teams=frozenset({"dn"}))


class Story:
    """A client's record driven through its aggregate; ``events()`` collects what happened."""

    def __init__(self) -> None:
        self.now = T0
        self.record = ClientRecord.register(
            client_id=ClientId(uuid4()),
            nhs_number=None,
            local_ids={"ns": "X1"},
            demographics=Demographics("Ada", "Lovelace", date(1940, 1, 1)),
            actor=GP,
            at=T0,
        )
        self.relate(GP)

    def tick(self) -> datetime:
        self.now += timedelta(minutes=5)
        return self.now

    def relate(self, who: Viewer, team: str | None = None) -> str:
        rid = str(uuid4())
        self.record.start_care_relationship(
            CareRelationship(
                rid,
                None if team else who.practitioner_id,
                team,
                str(who.agency_id),
                None if team else who.profession,
                "Assessing",
                str(who.practitioner_id),
                self.tick(),
            ),
            actor=who,
        )
        return rid

    def note(
        self, who: Viewer, category: str, sensitivity: Sensitivity = Sensitivity.NORMAL
    ) -> str:
        labels = Labels(
            str(uuid4()),
            str(who.agency_id),
            who.sector or Sector.HEALTH,
            str(who.practitioner_id),
            str(who.profession),
            category,
            "Heading",
            sensitivity,
            LawfulBasis.CONSENT,
            self.tick(),
        )
        self.record.record_contribution(labels, "text", actor=who, now=self.now)
        return labels.entry_id

    def consent(
        self,
        kind: ConsentDecisionKind = ConsentDecisionKind.GRANTED,
        expires_at: datetime | None = None,
    ) -> str:
        decision = ConsentDecision(
            str(uuid4()),
            kind,
            ConsentScope(),
            ConsentGiver.CLIENT,
            None,
            "dr-a",
            "gp-1",
            self.tick(),
            expires_at,
        )
        self.record.record_consent(decision, actor=GP, now=self.now)
        return decision.consent_id

    def events(self) -> list[Any]:
        return list(self.record.collect_events())


class Views:
    """The audience-view fold with its context, fed events in order."""

    def __init__(self, staff: list[Viewer]) -> None:
        self.ctx = Context()
        document = bundled_document(1)
        self.ctx.set_protocol(parse_protocol(document), document)
        for sector, agency in ((Sector.HEALTH, "gp-1"), (Sector.SOCIAL_CARE, "sc-1"),
                               (Sector.HEALTH, "ch-1")):  # fmt: skip
            self.ctx.sectors[agency] = sector
        for person in staff:
            apply_directory(self.ctx, _enrolled(person))
        self.work: ClientWork | None = None
        self.out = Changes()

    def fold(self, events: list[Any]) -> Changes:
        out = Changes()
        for position, event in enumerate(events, start=1):
            topic = type(event).__module__ + ":" + type(event).__qualname__
            assert topic.startswith(CLIENT_PREFIX)
            if self.work is None:
                self.work = ClientWork(1, str(event.originator_id), 0, new=True)
            apply(self.work, topic, event, position, self.ctx, out)
        return out

    def sees(self, key: AudienceKey) -> set[int]:
        assert self.work is not None
        return self.work.visible.get(self.ctx.audience_ids.get(key, -1), set())

    def feed(self, out: Changes, key: AudienceKey) -> list[tuple[str, int | None]]:
        audience = self.ctx.audience_ids[key]
        return [(kind, entry) for a, _, _, _, kind, entry, _ in out.feed if a == audience]


def _enrolled(person: Viewer) -> Any:
    staff = Practitioner.enrol(
        practitioner_id=str(person.practitioner_id),
        agency_id=str(person.agency_id),
        profession=str(person.profession),
        name="x",
        roles=frozenset({Role.PRACTITIONER}),
        teams=person.teams,
        phone="",
        email="",
        trained_on=None,
        by="admin",
        at=T0,
    )
    (event,) = staff.collect_events()
    return event


def care(viewer: Viewer, purpose: Purpose = Purpose.DIRECT_CARE) -> AudienceKey:
    return audience_of(viewer_key(viewer), purpose, RelationshipKind.CARE)


# --- audience views --------------------------------------------------------------------


def test_a_new_entry_is_shown_to_the_audiences_the_policy_allows_and_fed_to_them() -> None:
    story = Story()
    story.relate(SW)
    views = Views([GP, SW])
    views.fold(story.events())

    entry_no = story.record.version + 1
    story.note(GP, "physical_health")
    out = views.fold(story.events())

    assert entry_no in views.sees(care(GP))
    assert entry_no in views.sees(agency_system_audience("gp-1", Sector.HEALTH))
    assert entry_no in views.sees(CLIENT_AUDIENCE)
    assert entry_no not in views.sees(care(SW))  # no consent to social care
    assert views.feed(out, care(GP)) == [("entry_shared", entry_no)]
    assert views.feed(out, CLIENT_AUDIENCE) == []  # the client's own view has no feed


def test_consent_shares_then_its_withdrawal_recalls_from_that_moment() -> None:
    story = Story()
    story.relate(SW)
    story.note(GP, "physical_health")
    views = Views([GP, SW])
    views.fold(story.events())
    (entry_no,) = views.sees(care(GP))

    consent = story.consent()
    shared = views.fold(story.events())
    assert views.sees(care(SW)) == {entry_no}
    assert views.feed(shared, care(SW)) == [("entry_shared", entry_no)]

    story.record.withdraw_consent(consent, reason="No", actor=GP, now=story.now, at=story.tick())
    recalled = views.fold(story.events())
    assert views.sees(care(SW)) == set()
    assert views.feed(recalled, care(SW)) == [("entry_recalled", entry_no)]
    assert views.sees(care(GP)) == {entry_no}  # the controller keeps it


def test_a_refusal_that_lapses_keeps_nothing_out_of_a_view_a_lasting_refusal_did() -> None:
    # Views decide with no time: a refusal with an expiry may have lapsed by any read
    # (which re-decides with the real time), so it does not count there; a lasting one
    # does. Both cover the same audience and entries, so the views' memo must tell them
    # apart by what the policy reads of consents, not by their decision and scope.
    story = Story()
    story.relate(SW)
    story.consent()  # granted, to everyone
    story.note(GP, "physical_health")
    views = Views([GP, SW])
    views.fold(story.events())
    (entry_no,) = views.sees(care(SW))

    lasting = story.consent(ConsentDecisionKind.REFUSED)
    views.fold(story.events())
    assert views.sees(care(SW)) == set()
    story.record.withdraw_consent(lasting, reason="No", actor=GP, now=story.now, at=story.tick())
    views.fold(story.events())
    assert views.sees(care(SW)) == {entry_no}

    story.consent(ConsentDecisionKind.REFUSED, expires_at=story.now + timedelta(days=30))
    views.fold(story.events())
    assert views.sees(care(SW)) == {entry_no}


def test_a_restriction_hides_an_entry_from_the_named_sector_only() -> None:
    story = Story()
    story.relate(SW)
    story.relate(NURSE)
    story.consent()
    entry = story.note(GP, "physical_health")
    views = Views([GP, SW, NURSE])
    views.fold(story.events())
    entry_no = story.record.version
    restriction = Restriction(
        str(uuid4()), entry, None, AudienceSelector(sectors=frozenset({Sector.SOCIAL_CARE})),
        RestrictionRequester.CLIENT, "dr-a", "gp-1", story.tick(),
    )  # fmt: skip
    story.record.place_restriction(restriction, reason="Asked", actor=GP, now=story.now)
    views.fold(story.events())

    assert entry_no not in views.sees(care(SW))
    assert entry_no in views.sees(care(NURSE))


def test_an_entry_in_error_leaves_every_view_and_an_amendment_is_an_update() -> None:
    story = Story()
    entry = story.note(GP, "physical_health")
    other = story.note(GP, "medication")
    views = Views([GP])
    views.fold(story.events())

    story.record.enter_in_error(entry, reason="Wrong", actor=GP, at=story.tick())
    story.record.amend_contribution(other, "fixed", reason="Typo", actor=GP, at=story.tick())
    out = views.fold(story.events())

    assert views.feed(out, care(GP)) == [("entry_recalled", 2 + 1), ("entry_updated", 4)]
    assert views.sees(care(GP)) == {4}
    assert views.sees(CLIENT_AUDIENCE) == {4}
    ((_, text_changed),) = [v for k, v in out.updated_entries.items() if k[1] == 4]
    assert text_changed


def test_a_team_relationship_materialises_each_member_and_backfills_their_view() -> None:
    story = Story()
    story.note(GP, "physical_health")
    views = Views([GP, NURSE])
    views.fold(story.events())
    assert care(NURSE) not in views.ctx.audience_ids

    story.relate(NURSE, team="dn")
    out = views.fold(story.events())

    assert views.sees(care(NURSE)) == {3}  # implied consent within health
    assert views.feed(out, care(NURSE)) == [("entry_shared", 3)]


def test_relevant_audiences_are_the_involved_people_their_systems_and_the_client() -> None:
    protocol = parse_protocol(bundled_document(1))
    rel = CareRelationship("r1", "sw-b", None, "sc-1", "social_worker", "x", "sw-b", T0)
    staff = {"sw-b": Staff("sw-b", "sc-1", "social_worker", frozenset({Role.PRACTITIONER}),
                           frozenset())}  # fmt: skip
    keys = relevant_audiences(
        [rel], [], staff=staff, team_members={}, sectors={"sc-1": Sector.SOCIAL_CARE},
        protocol=protocol,
    )  # fmt: skip
    assert {k.purpose for k in keys if k.viewer.kind is ViewerKind.PRACTITIONER} == {
        Purpose.DIRECT_CARE, Purpose.SAFEGUARDING, Purpose.EMERGENCY,
    }  # fmt: skip
    assert agency_system_audience("sc-1", Sector.SOCIAL_CARE) in keys
    assert CLIENT_AUDIENCE in keys
    assert AudienceKey.parse(care(SW).text) == care(SW)


def test_an_audience_keeps_its_stored_text_form() -> None:
    # The text is stored in the views' audience table: it must not change with the code.
    lead = actor("sw-b", "sc-1", "social_worker", Sector.SOCIAL_CARE, teams=frozenset({"t"}))
    lead = replace(lead, roles=frozenset({Role.SAFEGUARDING_LEAD, Role.PRACTITIONER}))
    grantee = audience_of(viewer_key(lead), Purpose.SAFEGUARDING, RelationshipKind.BREAK_GLASS)
    client = Viewer(kind=ViewerKind.CLIENT, client_id="c")
    stored = {
        grantee: "practitioner|sc-1|social_care|social_worker|practitioner,safeguarding_lead"
        "|safeguarding|break_glass",
        CLIENT_AUDIENCE: "client|||||subject_access|self",
        audience_of(viewer_key(client), Purpose.SUBJECT_ACCESS, RelationshipKind.SELF): (
            "client|||||subject_access|self"
        ),
        agency_system_audience("sc-1", Sector.SOCIAL_CARE): (
            "agency_system|sc-1|social_care|agency_system||direct_care|care"
        ),
        agency_system_audience("x", None): "agency_system|x||agency_system||direct_care|care",
    }
    for key, text in stored.items():
        assert key.text == text
        assert AudienceKey.parse(text) == key


# --- the simple read models -------------------------------------------------------------


def test_directory_rows_follow_agency_and_practitioner_events() -> None:
    agency = Agency.register(
        code="gp-1", name="GP", sector=Sector.HEALTH, local_authority_area="ns",
        phone="1", email="a@b", by="admin", at=T0,
    )  # fmt: skip
    agency.change_contact_details(phone="2", email="c@d", by="admin", at=T0)
    row = None
    for event in agency.collect_events():
        row = directory.evolve_agency(row, event)
    assert row is not None
    assert (row.phone, row.email) == ("2", "c@d")

    person = None
    staff = Practitioner.enrol(
        practitioner_id="dr-a", agency_id="gp-1", profession="gp", name="Dr A",
        roles=frozenset({Role.PRACTITIONER}), teams=frozenset(), phone="", email="",
        trained_on=None, by="admin", at=T0,
    )  # fmt: skip
    staff.reassign_roles(
        roles=frozenset({Role.SAFEGUARDING_LEAD}), teams=frozenset({"t"}), by="a", at=T0
    )
    staff.leave_service(reason="Left", by="admin", at=T0)
    for event in staff.collect_events():
        person = directory.evolve_practitioner(person, event)
    assert person is not None
    assert (person.roles, person.teams, person.active) == ("safeguarding_lead", "t", False)


def referral_story() -> tuple[Story, str]:
    story = Story()
    at = story.tick()
    rid = str(uuid4())
    story.record.send_referral(
        rid, to_agency="sc-1", category="housing", reason="Damp", urgency=Urgency.URGENT,
        due_by=at + timedelta(days=2), actor=GP, now=at, at=at,
    )  # fmt: skip
    return story, rid


def test_referral_rows_track_status_and_response_time() -> None:
    story, rid = referral_story()
    story.record.acknowledge_referral(rid, actor=SW, at=story.tick())
    story.record.accept_referral(rid, note="Yes", actor=SW, at=story.tick())
    row = None
    for event in story.events():
        if isinstance(event, ClientRecord.ReferralSent | ClientRecord.ReferralAcknowledged
                      | ClientRecord.ReferralAccepted):  # fmt: skip
            row = referrals.evolve(row, event, str(event.originator_id))
    assert row is not None
    assert (row.status, row.open, row.awaiting) == ("accepted", True, False)
    assert row.response_seconds == 600.0


def test_involvement_rows_come_and_go_with_relationships_and_open_referrals() -> None:
    story, rid = referral_story()
    rel = story.relate(SW)
    story.record.end_care_relationship(rel, reason="Done", actor=SW, at=story.tick())
    story.record.decline_referral(rid, reason="No", actor=SW, at=story.tick())
    rows: dict[str, Any] = {}
    for event in story.events():
        ref = involvement.ref_of(event)
        if ref is not None:
            rows[ref] = involvement.evolve(rows.get(ref), event, "c")
            if ref == rid and isinstance(event, ClientRecord.ReferralSent):
                assert rows[ref].agency_id == "sc-1"
    assert rows[rid] is None
    assert rows[rel] is None
    assert [r.agency_id for r in rows.values() if r is not None] == ["gp-1"]


def test_caseload_rows_follow_relationships_and_names() -> None:
    story = Story()
    rel = story.relate(SW)
    story.record.end_care_relationship(rel, reason="Done", actor=SW, at=story.tick())
    cases: dict[str, Any] = {}
    name = None
    for event in story.events():
        if isinstance(event, ClientRecord.CareRelationshipStarted):
            key = event.relationship.relationship_id
            cases[key] = caseload.evolve_case(cases.get(key), event, "c")
        elif isinstance(event, ClientRecord.CareRelationshipEnded):
            cases[event.relationship_id] = caseload.evolve_case(None, event, "c")
        name = caseload.evolve_name(name, event, "c")
    assert [c.practitioner_id for c in cases.values() if c is not None] == ["dr-a"]
    assert name is not None
    assert name.family_name == "Lovelace"


def test_concerns_flag_two_agencies_within_the_window_and_not_further_apart() -> None:
    story = Story()
    story.relate(SW)
    for who in (GP, SW):
        labels = Labels(
            str(uuid4()), str(who.agency_id), who.sector or Sector.HEALTH,
            str(who.practitioner_id), str(who.profession), "safeguarding", "Alert",
            Sensitivity.SENSITIVE, LawfulBasis.SAFEGUARDING, story.tick(),
        )  # fmt: skip
        story.record.raise_alert(
            labels, kind=AlertKind.SAFEGUARDING_CONCERN, severity=Severity.HIGH,
            summary="x", actor=who, now=story.now,
        )  # fmt: skip
    state: dict[str, concerns.Concern] = {}
    for event in story.events():
        state = concerns.evolve(state, event)

    assert len(state) == 2
    assert concerns.summarise(state.values(), timedelta(days=30)).flagged
    assert not concerns.summarise(state.values(), timedelta(minutes=1)).flagged
    summary = concerns.summarise(state.values(), timedelta(days=30))
    assert summary.agencies == ("gp-1", "sc-1")
    assert summary.open_count == 2
