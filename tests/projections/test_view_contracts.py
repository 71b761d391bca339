"""One contract suite per view reader, run against its SQLite and PostgreSQL implementation.

Each view is filled by its projection from real events, then every read of its
interface is checked: the same answers, whatever the database.
"""

from __future__ import annotations

from datetime import timedelta

from views_world import GP, HOUSING, NURSE, SOCIAL_WORKER, World

from carerecord.policy import viewer_key
from carerecord.vocab import Purpose, RelationshipKind
from projections.audience.keys import audience_of
from projections.audience.reader import (
    AudienceViewReader,
    PostgresAudienceViewReader,
    SQLiteAudienceViewReader,
)
from projections.lists.readers import (
    CaseloadReader,
    ConcernsReader,
    DirectoryReader,
    InvolvementReader,
    PostgresDirectoryReader,
    ReferralsReader,
    SQLiteDirectoryReader,
)


def implementation(world: World) -> str:
    return "postgres" if world.settings.postgres is not None else "sqlite"


def test_the_reader_implementation_matches_the_database(world: World) -> None:
    expected = {
        "sqlite": (SQLiteAudienceViewReader, SQLiteDirectoryReader),
        "postgres": (PostgresAudienceViewReader, PostgresDirectoryReader),
    }[implementation(world)]
    assert isinstance(world.reads.audience, expected[0])
    assert isinstance(world.reads.directory, expected[1])


def test_directory_contract(world: World) -> None:
    world.project()
    reader: DirectoryReader = world.reads.directory

    agencies = reader.agencies(["gp-north", "housing", "gp-north", "nowhere"])
    assert set(agencies) == {"gp-north", "housing"}
    assert agencies["housing"][1:3] == ("North Shire Housing", "housing")
    people = reader.practitioners(["dr-north", "sw-sam"])
    assert people["dr-north"][1:4] == ("gp-north", "gp", "Dr North")
    assert reader.agencies([]) == {}


def test_involvement_contract(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    other = world.register(GP)
    world.project()
    reader: InvolvementReader = world.reads.involvement_index

    version, rows = reader.client(client)
    assert version == world.app.load_client(client).version
    assert sorted(r[2] for r in rows) == ["adult-care", "gp-north"]
    assert reader.agency_clients("adult-care", [client, other]) == {client}
    assert reader.agency_clients("gp-north", [client, other]) == {client, other}
    assert reader.client("7f3a1c52-9d4e-4b7a-8c1e-2f5d6a7b8c9d") == (0, [])


def test_caseload_contract(world: World) -> None:
    clients = [world.register(GP, family_name=name) for name in ("Brown", "Adams", "Clark")]
    world.relate(clients[0], NURSE, team_id="dn-north")
    world.project()
    reader: CaseloadReader = world.reads.caseloads

    first = reader.page(
        agency_id="gp-north", practitioner_id="dr-north", team_id=None, after=None, limit=2
    )
    assert [r[2] for r in first] == ["Adams", "Brown"]
    rest = reader.page(
        agency_id="gp-north",
        practitioner_id="dr-north",
        team_id=None,
        after=(first[-1][2], first[-1][1], first[-1][0]),
        limit=2,
    )
    assert [r[2] for r in rest] == ["Clark"]
    team = reader.page(
        agency_id="community-health", practitioner_id=None, team_id="dn-north", after=None, limit=9
    )
    assert [(r[0], r[5]) for r in team] == [(clients[0], "dn-north")]


def test_referrals_contract(world: World) -> None:
    client = world.register(GP)
    ids = []
    for days in (3, 1, 2):
        now = world.tick()
        ids.append(
            world.app.send_referral(
                world.caller(GP), client, to_agency="housing", category="housing",
                reason="Damp", due_by=now + timedelta(days=days),
            ).id
        )  # fmt: skip
    world.app.decline_referral(world.caller(HOUSING), client, ids[0], reason="No")
    world.project()
    reader: ReferralsReader = world.reads.referral_rows
    now = "2100-01-01T00:00:00.000000Z"

    incoming = reader.page(agency_id="housing", direction="incoming", now=now, after=None, limit=9)
    assert [r[0] for r in incoming] == [ids[1], ids[2]]  # by due date; declined is not open
    after = (incoming[0][10], incoming[0][0])
    assert [
        r[0]
        for r in reader.page(
            agency_id="housing", direction="incoming", now=now, after=after, limit=9
        )
    ] == [ids[2]]
    assert [
        r[0]
        for r in reader.page(
            agency_id="gp-north", direction="outgoing", now=now, after=None, limit=9
        )
    ] == [ids[1], ids[2]]
    overdue = reader.page(agency_id="housing", direction="overdue", now=now, after=None, limit=9)
    assert len(overdue) == 2
    assert set(reader.by_ids([ids[0], "missing"])) == {ids[0]}
    stats = reader.stats_rows(agency_id="housing", direction="incoming")
    assert sorted(r[0] for r in stats) == [0, 1, 1]


def test_concerns_contract(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    for who in (GP, SOCIAL_WORKER):
        world.tick()
        world.app.raise_alert(
            world.caller(who), client, kind="safeguarding_concern", severity="high",
            summary="Bruising", lawful_basis="safeguarding",
        )  # fmt: skip
    world.project()
    reader: ConcernsReader = world.reads.concern_rows

    (row,) = reader.flagged_page(agency_id="adult-care", after=None, limit=9)
    assert row[0] == client
    assert row[1] == "adult-care gp-north"
    assert reader.flagged_page(agency_id="adult-care", after=client, limit=9) == []
    assert reader.flagged_page(agency_id="police", after=None, limit=9) == []
    assert [r[1] for r in reader.concerns([client])[client]] == ["gp-north", "adult-care"]


def test_audience_view_contract(world: World) -> None:
    client = world.register(GP)
    first = world.note(client, GP, "History", "one")
    second = world.note(client, GP, "Plan", "two")
    world.tick()
    world.app.amend_contribution(world.caller(GP), client, second, text="three", reason="Fix")
    world.project()
    reader: AudienceViewReader = world.reads.audience
    key = audience_of(viewer_key(world.caller(GP)), Purpose.DIRECT_CARE, RelationshipKind.CARE)

    view = reader.client_view(client, key)
    assert view.view_version == world.app.load_client(client).version
    assert view.protocol_version == reader.protocol_version() == 1
    assert {(e.labels.entry_id, e.text, e.amended) for e in view.entries} == {
        (first, "one", False),
        (second, "three", True),
    }
    state, seen = reader.entry(client, first, key)
    assert state is not None
    assert seen
    assert reader.entry(client, "7f3a1c52-9d4e-4b7a-8c1e-2f5d6a7b8c9d", key) == (None, False)
    nobody = audience_of(
        viewer_key(world.caller(SOCIAL_WORKER)), Purpose.DIRECT_CARE, RelationshipKind.CARE
    )
    assert reader.client_view(client, nobody).entries == ()
    audience = reader.audience_id(key)
    assert audience is not None
    rows = reader.feed_rows(audience, 0, 10)
    assert [(r.kind, r.client_id) for r in rows] == [
        ("entry_shared", client),
        ("entry_shared", client),
        ("entry_updated", client),
    ]
    assert [r.seq for r in reader.feed_rows(audience, rows[0].seq, 10)] == [2, 3]
    version, states, visible = reader.client_entries(
        rows[0].client_no, [r.entry_no for r in rows if r.entry_no], audience
    )
    assert version == view.view_version
    assert {s.labels.entry_id for s in states.values()} == {first, second}
    assert visible == set(states)
