"""Fidelity end to end: reads served by the API over a changing history (consent granted,
refused, withdrawn; restrictions placed and lifted; amendments, entries in error, alerts;
break-glass; the protocol's next version adopted partway) each reconstruct to the hash the
access log recorded - and the audit index's entry-level bases and contributing agencies
are exactly those of the replayed reads."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from gov_stack import GovStack, fresh_store, running
from gov_world import (
    GP,
    LEAD,
    NURSE,
    POLICE,
    REASON,
    SOCIAL_WORKER,
    Person,
    care_team_client,
    note,
)

from carerecord.audit.reconstruct import TimeTravel
from carerecord.errors import CareRecordError
from carerecord.protocol import bundled_document
from projections.audit.index import AccessQuery, access_index_reader

READS = 200
SLICE_ACTIONS = {"record.read", "subject_access.record"}
RECORD = """query($c: ID!, $p: Purpose!) {
  client(id: $c, purpose: $p) { entries(first: 5) { items { entryId } } }
}"""


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def v1(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GovStack]:
    """The API over a store that starts under protocol version 1."""
    folder: Path = tmp_path_factory.mktemp("fidelity")
    with (
        fresh_store(request.param, folder, protocol=1) as settings,
        running(settings, folder) as stack,
    ):
        yield stack


class Scene:
    """Random changes to a few clients, and reads of them through the API."""

    def __init__(self, gov: GovStack, seed: int) -> None:
        self.gov = gov
        self.rng = random.Random(seed)
        self.clients = [
            care_team_client(gov.app, gov.clock(), family_name=f"Fid{i}") for i in range(4)
        ]
        self.consents: dict[str, list[str]] = {c: [] for c in self.clients}
        self.restrictions: dict[str, list[str]] = {c: [] for c in self.clients}
        self.entries: dict[str, list[tuple[Person, str]]] = {c: [] for c in self.clients}
        self.broken: set[str] = set()
        self.done: Counter[str] = Counter()
        gov.wait_for_views()

    def change(self) -> None:
        gov, rng = self.gov, self.rng
        app = gov.app
        client = rng.choice(self.clients)
        kind = rng.choice(
            [
                "note",
                "note",
                "consent",
                "refuse",
                "withdraw",
                "restrict",
                "lift",
                "amend",
                "in_error",
                "alert",
                "break_glass",
            ]
        )
        try:
            if kind == "note":
                person = rng.choice([GP, NURSE, SOCIAL_WORKER])
                heading = {GP: "History", NURSE: "Wound care", SOCIAL_WORKER: "Finances"}[person]
                entry = note(app, client, person, heading, at=gov.clock())
                self.entries[client].append((person, entry))
            elif kind in ("consent", "refuse"):
                result = app.record_consent(
                    GP.caller,
                    client,
                    decision="granted" if kind == "consent" else "refused",
                    sectors=[rng.choice(["social_care", "police", "health"])],
                    categories=rng.choice([None, ["physical_health"], ["finances"]]),
                )
                self.consents[client].append(str(result.id))
            elif kind == "withdraw" and self.consents[client]:
                consent = self.consents[client].pop(rng.randrange(len(self.consents[client])))
                app.withdraw_consent(GP.caller, client, consent, reason="Changed their mind")
            elif kind == "restrict":
                result = app.place_restriction(
                    SOCIAL_WORKER.caller,
                    client,
                    requested_by="client",
                    reason="Asked",
                    category=rng.choice(["physical_health", "finances", "housing"]),
                    sectors=[rng.choice(["health", "police"])],
                )
                self.restrictions[client].append(str(result.id))
            elif kind == "lift" and self.restrictions[client]:
                restriction = self.restrictions[client].pop()
                app.lift_restriction(SOCIAL_WORKER.caller, client, restriction, reason="Lifted")
            elif kind in ("amend", "in_error") and self.entries[client]:
                person, entry = self.entries[client].pop(rng.randrange(len(self.entries[client])))
                caller = person.caller
                if kind == "amend":
                    app.amend_contribution(caller, client, entry, text="Corrected", reason="Typo")
                    self.entries[client].append((person, entry))
                else:
                    app.enter_contribution_in_error(caller, client, entry, reason="Wrong client")
            elif kind == "alert":
                app.raise_alert(
                    NURSE.caller, client, kind="access_needs", severity="low", summary="Ramp"
                )
            elif kind == "break_glass" and client not in self.broken:
                app.break_glass(POLICE.caller, client, reason=REASON, minutes=240)
                self.broken.add(client)
                gov.wait_for_views()  # standing gained: see the known read-side issue
            else:
                return
        except CareRecordError:
            return
        self.done[kind] += 1

    def read(self) -> None:
        gov, rng = self.gov, self.rng
        client = rng.choice(self.clients)
        who = rng.choice(
            ["nurse", "social_worker", "gp", "safeguarding", "police", "client", "system"]
        )
        if who == "client":
            gov.gql(gov.client_token(client), "{ myRecord { entries { items { entryId } } } }")
        elif who == "police":
            if client not in self.broken:
                return
            gov.gql(gov.token(POLICE), RECORD, c=client, p="EMERGENCY")
        elif who == "system":
            gov.gql(gov.agency_token(NURSE.agency_id), RECORD, c=client, p="DIRECT_CARE")
        else:
            person, purpose = {
                "nurse": (NURSE, "DIRECT_CARE"),
                "social_worker": (SOCIAL_WORKER, "DIRECT_CARE"),
                "gp": (GP, "DIRECT_CARE"),
                "safeguarding": (SOCIAL_WORKER, "SAFEGUARDING"),
            }[who]
            gov.gql(gov.token(person), RECORD, c=client, p=purpose)
        self.done[f"read:{who}"] += 1


def test_reads_served_by_the_api_reconstruct_to_the_recorded_hash(v1: GovStack) -> None:
    gov = v1
    assert gov.app.protocol().version == 1
    mark = gov.access_head()
    scene = Scene(gov, seed=5)
    reads = 0
    while reads < READS:
        if reads == READS // 2:
            gov.app.adopt_protocol(bundled_document(2))
            gov.wait_for_views()  # until then reads are refused (VIEWS_BEHIND), not served
        if scene.rng.random() < 0.5:
            scene.change()
        before = sum(v for k, v in scene.done.items() if k.startswith("read:"))
        scene.read()
        reads += sum(v for k, v in scene.done.items() if k.startswith("read:")) - before
    records = [r for r in gov.access_records(after=mark) if r.action in SLICE_ACTIONS]
    assert len(records) >= READS
    engine = TimeTravel(gov.app, cached_clients=8)
    replays = {r.access_id: engine.reconstruct(r) for r in records}
    failures = [(k, v.outcome, v.reason) for k, v in replays.items() if not v.matches]
    assert failures == [], failures[:5]
    assert {r.protocol_version for r in records} == {1, 2}
    assert {r.basis for r in records} >= {"care_relationship", "break_glass", "subject_access"}
    for kind in ("note", "consent", "refuse", "restrict", "amend", "break_glass"):
        assert scene.done[kind] > 0, f"the history never did {kind}"

    # The index says, for each read, the bases and contributing agencies the replay shows.
    gov.wait_for_index()
    reader = access_index_reader(gov.services.databases.access)
    indexed = reader.by_access_ids(list(replays))
    for access_id, replay in replays.items():
        row = indexed[access_id]
        assert set(row.entry_bases) == {e.basis for e in replay.shown}, access_id
        assert set(row.source_agencies) == {e.agency_id for e in replay.shown}, access_id
        assert row.item_count == len(replay.shown)
    consent_reads = reader.page(AccessQuery(basis="consent"), limit=1000)
    assert {a.access_id for a in consent_reads} >= {
        k for k, v in replays.items() if any(e.basis == "consent" for e in v.shown)
    }
    assert LEAD.practitioner_id not in {r.practitioner_id for r in records}
