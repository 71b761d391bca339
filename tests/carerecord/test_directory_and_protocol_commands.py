"""Given / When / Then: the directory (agencies, practitioners) and adopting protocol versions.

These start from an empty store: what is refused before any protocol is adopted is
part of the behaviour.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from care_world import SECRET, log_head, named, payload

from carerecord.agency import Agency
from carerecord.application import CareRecord
from carerecord.errors import CareRecordError, InvalidProtocol
from carerecord.practitioner import Practitioner
from carerecord.protocol import bundled_document, content_hash, parse_protocol
from carerecord.sharing_protocol import SharingProtocol
from carerecord.values import Viewer
from carerecord.vocab import Sector, ViewerKind


def events_of(app: CareRecord, aggregate_id: UUID) -> list[Any]:
    return list(app.repository.event_store.get(aggregate_id))


def refused(app: CareRecord, code: str, command: Any) -> CareRecordError:
    before = log_head(app)
    with pytest.raises(CareRecordError) as info:
        command()
    assert info.value.code == code, str(info.value)
    assert log_head(app) == before
    assert SECRET not in str(info.value)
    return info.value


def agency(app: CareRecord, code: str = "gp-north", **overrides: object) -> object:
    fields: dict[str, object] = {
        "code": code,
        "name": "Northgate Surgery",
        "sector": "health",
        "local_authority_area": "north-shire",
        "phone": "01632 960000",
        "email": "reception@northgate.example",
    }
    fields.update(overrides)
    return app.register_agency(**fields)  # type: ignore[arg-type]


def enrol(app: CareRecord, practitioner_id: str = "dr-north", **overrides: object) -> object:
    fields: dict[str, object] = {
        "practitioner_id": practitioner_id,
        "agency_id": "gp-north",
        "profession": "gp",
        "name": "Dr North",
    }
    fields.update(overrides)
    return app.enrol_practitioner(**fields)  # type: ignore[arg-type]


# --- register_agency ---------------------------------------------------------------------


def test_registering_an_agency_records_its_sector_area_and_contacts(fresh_app: CareRecord) -> None:
    registered_at = fresh_app.clock() - timedelta(days=3)
    result = agency(fresh_app, at=registered_at, by="admin-1")

    events = events_of(fresh_app, Agency.id_for("gp-north"))
    assert named(events) == ["Registered"]
    assert payload(events[0]) == {
        "code": "gp-north",
        "name": "Northgate Surgery",
        "sector": "health",
        "local_authority_area": "north-shire",
        "phone": "01632 960000",
        "email": "reception@northgate.example",
        "by": "admin-1",
        "at": registered_at,
    }
    assert result.position == log_head(fresh_app)  # type: ignore[attr-defined]
    assert fresh_app.agency("gp-north").sector is Sector.HEALTH
    assert fresh_app.agency_exists("gp-north")
    assert not fresh_app.agency_exists("gp-south")


def test_registering_the_same_agency_code_twice_is_refused(fresh_app: CareRecord) -> None:
    agency(fresh_app)
    refused(fresh_app, "ALREADY_EXISTS", lambda: agency(fresh_app, name="Another name"))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"code": "GP North"}, "INVALID_IDENTIFIER"),
        ({"code": "g"}, "INVALID_IDENTIFIER"),
        ({"code": "-gp"}, "INVALID_IDENTIFIER"),
        ({"code": "gp-\u0661"}, "INVALID_IDENTIFIER"),
        ({"name": ""}, "TEXT_EMPTY"),
        ({"name": "n" * 201}, "TEXT_TOO_LONG"),
        ({"name": "Surgery\u202e"}, "INVALID_TEXT"),
        ({"sector": "military"}, "UNKNOWN_VALUE"),
        ({"local_authority_area": "North Shire"}, "INVALID_IDENTIFIER"),
        ({"phone": "0" * 31}, "TEXT_TOO_LONG"),
        ({"email": "e" * 121}, "TEXT_TOO_LONG"),
        ({"at": datetime(2026, 1, 1)}, "INVALID_DATE"),
    ],
)
def test_registering_an_agency_with_bad_input_is_refused(
    fresh_app: CareRecord, overrides: dict[str, object], code: str
) -> None:
    refused(fresh_app, code, lambda: agency(fresh_app, **overrides))


def test_registering_an_agency_in_the_future_is_refused(fresh_app: CareRecord) -> None:
    later = fresh_app.clock() + timedelta(days=1)
    refused(fresh_app, "DATE_IN_FUTURE", lambda: agency(fresh_app, at=later))


def test_an_unknown_agency_is_not_found(fresh_app: CareRecord) -> None:
    refused(fresh_app, "AGENCY_NOT_FOUND", lambda: fresh_app.agency("gp-north"))


# --- enrol_practitioner ------------------------------------------------------------------


def test_practitioners_cannot_be_enrolled_before_a_protocol_is_adopted(
    fresh_app: CareRecord,
) -> None:
    agency(fresh_app)
    refused(fresh_app, "PROTOCOL_NOT_ADOPTED", lambda: enrol(fresh_app))


def test_enrolling_a_practitioner_records_profession_roles_and_teams(
    fresh_app: CareRecord,
) -> None:
    fresh_app.adopt_protocol(bundled_document(1))
    agency(fresh_app)
    enrol(
        fresh_app,
        roles=["safeguarding_lead", "practitioner"],
        teams=["frailty", "care-homes"],
        phone="01632 960001",
        email="dr.north@northgate.example",
        trained_on=date(2026, 1, 15),
    )

    events = events_of(fresh_app, Practitioner.id_for("dr-north"))
    assert named(events) == ["Enrolled"]
    assert payload(events[0]) == {
        "practitioner_id": "dr-north",
        "agency_id": "gp-north",
        "profession": "gp",
        "name": "Dr North",
        "roles": ["practitioner", "safeguarding_lead"],
        "teams": ["care-homes", "frailty"],
        "phone": "01632 960001",
        "email": "dr.north@northgate.example",
        "trained_on": date(2026, 1, 15),
        "by": "system",
        "at": fresh_app.clock(),
    }
    actor = fresh_app.resolve_actor(
        Viewer(
            kind=ViewerKind.PRACTITIONER,
            agency_id="gp-north",
            profession="gp",
            practitioner_id="dr-north",
        )
    )
    assert actor.sector is Sector.HEALTH
    assert actor.teams == frozenset({"frailty", "care-homes"})


def test_enrolling_the_same_practitioner_twice_is_refused(fresh_app: CareRecord) -> None:
    fresh_app.adopt_protocol(bundled_document(1))
    agency(fresh_app)
    enrol(fresh_app)
    refused(fresh_app, "ALREADY_EXISTS", lambda: enrol(fresh_app, name="Dr North Again"))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"practitioner_id": "Dr North"}, "INVALID_IDENTIFIER"),
        ({"agency_id": "GP"}, "INVALID_IDENTIFIER"),
        ({"agency_id": "gp-nowhere"}, "AGENCY_NOT_FOUND"),
        ({"profession": "wizard"}, "UNKNOWN_PROFESSION"),
        ({"profession": "agency_system"}, "UNKNOWN_PROFESSION"),
        ({"roles": ["overlord"]}, "UNKNOWN_VALUE"),
        ({"teams": ["Team A"]}, "INVALID_IDENTIFIER"),
        ({"name": " "}, "TEXT_EMPTY"),
        ({"phone": "0" * 31}, "TEXT_TOO_LONG"),
        ({"trained_on": "last spring"}, "INVALID_DATE"),
        ({"trained_on": datetime(2026, 1, 1, tzinfo=UTC)}, "INVALID_DATE"),
        ({"trained_on": object()}, "INVALID_DATE"),
        ({"trained_on": date(2999, 1, 1)}, "DATE_IN_FUTURE"),
    ],
)
def test_enrolling_with_bad_input_is_refused(
    fresh_app: CareRecord, overrides: dict[str, object], code: str
) -> None:
    fresh_app.adopt_protocol(bundled_document(1))
    agency(fresh_app)
    refused(fresh_app, code, lambda: enrol(fresh_app, **overrides))


# --- adopt_protocol ----------------------------------------------------------------------


def test_adopting_the_first_protocol_establishes_the_partnerships_protocol_record(
    fresh_app: CareRecord,
) -> None:
    refused(fresh_app, "PROTOCOL_NOT_ADOPTED", fresh_app.protocol)
    document = bundled_document(1)

    result = fresh_app.adopt_protocol(document, by="board-secretary")

    events = events_of(fresh_app, SharingProtocol.id_for("north-shire"))
    assert named(events) == ["Established", "VersionAdopted"]
    assert payload(events[0]) == {
        "partnership": "north-shire",
        "by": "board-secretary",
        "at": fresh_app.clock(),
    }
    assert payload(events[1]) == {
        "version": 1,
        "document": document,
        "content_hash": content_hash(document),
        "by": "board-secretary",
        "at": fresh_app.clock(),
    }
    assert result.id == "1"
    assert fresh_app.protocol().version == 1


def test_a_newer_version_comes_into_force_and_the_old_one_stays_in_the_log(
    fresh_app: CareRecord,
) -> None:
    fresh_app.adopt_protocol(bundled_document(1))
    fresh_app.adopt_protocol(bundled_document(2))

    events = events_of(fresh_app, SharingProtocol.id_for("north-shire"))
    assert named(events) == ["Established", "VersionAdopted", "VersionAdopted"]
    assert [e.version for e in events[1:]] == [1, 2]
    assert events[1].document == bundled_document(1)
    assert fresh_app.protocol().version == 2
    assert "housing" in (fresh_app.protocol().purposes["emergency"].categories or ())


@pytest.mark.parametrize("version", [1, 2])
def test_adopting_a_version_that_is_not_newer_is_refused(
    fresh_app: CareRecord, version: int
) -> None:
    fresh_app.adopt_protocol(bundled_document(2))
    refused(
        fresh_app,
        "PROTOCOL_VERSION_NOT_NEWER",
        lambda: fresh_app.adopt_protocol(bundled_document(version)),
    )


def test_the_minimum_necessary_version_3_follows_versions_1_and_2_in_the_log(
    fresh_app: CareRecord,
) -> None:
    for version in (1, 2, 3):
        fresh_app.adopt_protocol(bundled_document(version))

    events = events_of(fresh_app, SharingProtocol.id_for("north-shire"))
    assert [e.version for e in events[1:]] == [1, 2, 3]
    protocol = fresh_app.protocol()
    assert protocol.version == 3
    assert protocol.category_for_heading("mental_health_practitioner", "Crisis plan") == (
        "crisis_plan"
    )
    assert protocol.category_for_heading("psychiatrist", "Treatment") == "mental_health"


# The recorded hashes of the bundled versions 1 and 2: the need-to-know matrix is an
# optional key, so their documents, canonical form and hashes are what they were.
RECORDED_HASHES = {
    1: "e19e446fef70397ee01644c8e0d5f469b8d2ba381422b8556380830c6193b20b",
    2: "5e3df551e2fd6b66562dea52cf518fcd3efa42aaa8dce9b615879d0a129ab3fc",
}


@pytest.mark.parametrize("version", [1, 2])
def test_versions_1_and_2_keep_their_recorded_hash_and_have_no_matrix(version: int) -> None:
    document = bundled_document(version)
    protocol = parse_protocol(document)
    assert content_hash(document) == protocol.content_hash == RECORDED_HASHES[version]
    assert all(rule.reach is None for rule in protocol.purposes.values())
    assert protocol.break_glass.reach is None


def test_an_unknown_bundled_version_is_refused() -> None:
    with pytest.raises(InvalidProtocol):
        bundled_document(99)


def _broken(change: Any, version: int = 1) -> dict[str, Any]:
    document = copy.deepcopy(bundled_document(version))
    change(document)
    return document


@pytest.mark.parametrize(
    "document",
    [
        _broken(lambda d: d.update(partnership="south-shire")),
        _broken(lambda d: d.update(version=0)),
        _broken(lambda d: d.update(version="2")),
        _broken(lambda d: d.update(surprise=True)),
        _broken(lambda d: d["professions"]["gp"]["headings"].update(Notes="astrology")),
        _broken(lambda d: d["purposes"]["emergency"]["who"].append({"professions": ["wizard"]})),
        _broken(lambda d: d["purposes"].pop("direct_care")),
        _broken(lambda d: d["purposes"].update(audit={"who": [{"roles": ["auditor"]}]})),
        _broken(lambda d: d["lawful_bases"].update(consent={"purposes": [], "who": []})),
        _broken(lambda d: d["alert_categories"].pop("missing_episode")),
        _broken(lambda d: d["break_glass"].update(max_minutes=100_000)),
        _broken(lambda d: d["categories"]["mental_health"].update(min_sensitivity="secret")),
        _broken(lambda d: d["redactions"].append({"who": [], "fields": ["text"]})),
        # the need-to-know matrix
        _broken(lambda d: d["purposes"]["direct_care"].update(reach="*")),
        _broken(lambda d: d["purposes"]["direct_care"].update(reach=[{"who": []}])),
        _broken(
            lambda d: d["purposes"]["direct_care"].update(
                reach=[{"who": [{"professions": ["gp"]}], "categories": ["astrology"]}]
            )
        ),
        _broken(
            lambda d: d["purposes"]["direct_care"].update(
                reach=[{"who": [{"professions": ["wizard"]}], "categories": "*"}]
            )
        ),
        _broken(
            lambda d: d["purposes"]["direct_care"]["reach"][0].update(surprise=True), version=3
        ),
        _broken(lambda d: d["break_glass"].update(reach=[{"categories": ["risk"]}])),
    ],
)
def test_adopting_an_invalid_protocol_document_is_refused(
    fresh_app: CareRecord, document: dict[str, Any]
) -> None:
    refused(fresh_app, "INVALID_PROTOCOL", lambda: fresh_app.adopt_protocol(document))


@pytest.mark.parametrize(
    ("at", "code"), [(datetime(2026, 1, 1), "INVALID_DATE"), (None, "DATE_IN_FUTURE")]
)
def test_adopting_at_a_naive_or_future_time_is_refused(
    fresh_app: CareRecord, at: datetime | None, code: str
) -> None:
    when = at or fresh_app.clock() + timedelta(days=1)
    refused(fresh_app, code, lambda: fresh_app.adopt_protocol(bundled_document(1), at=when))


def test_a_profession_a_later_protocol_drops_can_no_longer_contribute(
    fresh_app: CareRecord,
) -> None:
    fresh_app.adopt_protocol(bundled_document(1))
    agency(fresh_app, code="housing", sector="housing", name="North Shire Housing")
    enrol(fresh_app, "bo-pat", agency_id="housing", profession="benefits_officer")
    officer = Viewer(
        kind=ViewerKind.PRACTITIONER,
        agency_id="housing",
        profession="benefits_officer",
        practitioner_id="bo-pat",
    )
    client = fresh_app.register_client(
        officer,
        local_ids={"north-shire": "HB1"},
        given_name="Pat",
        family_name="Ward",
        date_of_birth=date(1970, 1, 1),
    ).id
    without_benefits = copy.deepcopy(bundled_document(2))
    without_benefits["version"] = 3
    del without_benefits["professions"]["benefits_officer"]
    fresh_app.adopt_protocol(without_benefits)

    refused(
        fresh_app,
        "UNKNOWN_PROFESSION",
        lambda: fresh_app.record_contribution(
            officer,
            client,
            heading="Benefit claim",
            text="Claim made.",
            occurred_at=fresh_app.clock(),
        ),
    )
    refused(
        fresh_app,
        "UNKNOWN_PROFESSION",
        lambda: fresh_app.raise_alert(
            officer, client, kind="access_needs", severity="low", summary="Needs large print."
        ),
    )
