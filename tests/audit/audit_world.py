"""A small partnership for the audit tests: agencies, practitioners, and raw SQL access.

The tamper tests change the stores directly, as an attacker with database access
would; ``raw`` runs such SQL against one storage area of a deployment.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from carerecord.access_log import AccessLog, AccessRecord
from carerecord.application import CareRecord
from carerecord.audit.chains import EventTables
from carerecord.chain import GENESIS, link_hash, record_digest
from carerecord.db import Databases
from carerecord.protocol import bundled_document
from carerecord.settings import Settings
from carerecord.values import Viewer
from carerecord.vocab import Role, ViewerKind

SECRET = "Quokka-4417 private disclosure"
"""Stand-in clinical text: it must never appear in a report, an error or CLI output."""


@dataclass(frozen=True)
class Person:
    practitioner_id: str
    agency_id: str
    profession: str
    roles: tuple[Role, ...] = (Role.PRACTITIONER,)
    teams: tuple[str, ...] = ()

    @property
    def caller(self) -> Viewer:
        """What a token would claim for this practitioner."""
        return Viewer(
            kind=ViewerKind.PRACTITIONER,
            agency_id=self.agency_id,
            profession=self.profession,
            practitioner_id=self.practitioner_id,
        )


AGENCIES = (
    ("gp-north", "health"),
    ("community-health", "health"),
    ("mh-trust", "health"),
    ("adult-care", "social_care"),
    ("police", "police"),
    ("housing", "housing"),
    ("charity", "voluntary"),
)

GP = Person("dr-north", "gp-north", "gp")
NURSE = Person("nurse-ann", "community-health", "district_nurse", teams=("dn-north",))
NURSE_TEAMMATE = Person("nurse-bo", "community-health", "district_nurse", teams=("dn-north",))
MH = Person("mhp-dev", "mh-trust", "mental_health_practitioner")
SOCIAL_WORKER = Person("sw-gail", "adult-care", "social_worker")
SAFEGUARDING_LEAD = Person(
    "sw-lead", "adult-care", "social_worker", (Role.SAFEGUARDING_LEAD, Role.TEAM_LEAD)
)
POLICE = Person("pc-ivy", "police", "police_officer")
HOUSING = Person("ho-kim", "housing", "housing_officer")
SUPPORT = Person("sup-max", "charity", "support_worker")
AUDITOR = Person("audit-ned", "gp-north", "gp", (Role.AUDITOR,))
IG = Person("ig-ola", "community-health", "district_nurse", (Role.IG_OFFICER,))

PEOPLE = (
    GP,
    NURSE,
    NURSE_TEAMMATE,
    MH,
    SOCIAL_WORKER,
    SAFEGUARDING_LEAD,
    POLICE,
    HOUSING,
    SUPPORT,
    AUDITOR,
    IG,
)


class StepClock:
    """A clock tests move forward, never back.

    It starts a little ahead of the real time: "recorded at or before T" uses the
    library's recording timestamps (real time), so the application's times must never
    fall behind them.
    """

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now = self.now + timedelta(**kwargs)
        return self.now


@dataclass
class Deployment:
    """One deployment under test: its settings, the application, and its databases."""

    settings: Settings
    app: CareRecord
    dbs: Databases
    clock: StepClock


def build_directory(app: CareRecord) -> None:
    """Register the agencies, enrol the practitioners, adopt protocol version 1."""
    app.adopt_protocol(bundled_document(1))
    for code, sector in AGENCIES:
        app.register_agency(
            code=code,
            name=code.replace("-", " ").title(),
            sector=sector,
            local_authority_area="north-shire",
            phone="01632 960000",
            email=f"duty@{code}.example",
        )
    for person in PEOPLE:
        app.enrol_practitioner(
            practitioner_id=person.practitioner_id,
            agency_id=person.agency_id,
            profession=person.profession,
            name=person.practitioner_id.replace("-", " ").title(),
            roles=person.roles,
            teams=person.teams,
        )


def register_client(app: CareRecord, by: Person = GP, n: int = 1) -> str:
    result = app.register_client(
        by.caller,
        local_ids={"north-shire": f"NS{n:06d}"},
        given_name="Alex",
        family_name=f"Example{n}",
        date_of_birth=date(1950, 1, 1),
    )
    assert result.id is not None
    return result.id


@contextmanager
def raw(settings: Settings, area: str) -> Iterator[Any]:
    """A write transaction straight on one storage area (the attacker's view)."""
    dbs = Databases(settings)
    try:
        with dbs.area(area).transaction() as tx:
            yield tx
    finally:
        dbs.close()


def event_tables(settings: Settings) -> EventTables:
    return EventTables.for_settings(settings)


def event_rows(settings: Settings) -> Sequence[tuple[Any, ...]]:
    """(notification id, originator id, version, topic) of every stored event, in order."""
    t = event_tables(settings)
    with raw(settings, "events") as tx:
        rows: list[tuple[Any, ...]] = tx.fetchall(
            f"SELECT {t.id_column}, originator_id, originator_version, topic "
            f"FROM {t.events} ORDER BY {t.id_column}"
        )
    return rows


def populate(app: CareRecord, clock: StepClock, *, clients: int = 3, entries: int = 4) -> list[str]:
    """A few clients, each with a consent decision and some contributions."""
    ids = []
    for n in range(clients):
        cid = register_client(app, n=n + 1)
        app.record_consent(GP.caller, cid, decision="granted", everyone=True)
        for i in range(entries):
            clock.advance(minutes=5)
            app.record_contribution(
                GP.caller, cid, heading="History", text=f"{SECRET} {n}/{i}", occurred_at=clock()
            )
        ids.append(cid)
    return ids


def stream_events(settings: Settings, stream: str) -> list[tuple[int, int, str]]:
    """(notification id, version, topic) of one stream's stored events, in version order."""
    t = event_tables(settings)
    key: Any = UUID(stream) if settings.postgres is not None else UUID(stream).hex
    with raw(settings, "events") as tx:
        rows = tx.fetchall(
            f"SELECT {t.id_column}, originator_version, topic FROM {t.events} "
            "WHERE originator_id = ? ORDER BY originator_version",
            (key,),
        )
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def stored_id(settings: Settings, stream: str) -> Any:
    """A stream id as the events table stores it (hex on SQLite, uuid on PostgreSQL)."""
    return UUID(stream) if settings.postgres is not None else UUID(stream).hex


def renumber_from(tx: Any, table: str, column: str, after: int, by: int) -> None:
    """Move every row after ``after`` along by ``by`` positions (two steps: ids are unique)."""
    tx.execute(f"UPDATE {table} SET {column} = -{column} WHERE {column} > ?", (after,))
    tx.execute(f"UPDATE {table} SET {column} = -{column} + ? WHERE {column} < 0", (by,))


def swap_ids(tx: Any, table: str, column: str, a: int, b: int) -> None:
    tx.execute(f"UPDATE {table} SET {column} = -1 WHERE {column} = ?", (a,))
    tx.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (a, b))
    tx.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = -1", (b,))


def rechain_events(settings: Settings) -> None:
    """Recompute the whole event chain from the stored events (a consistent rewrite)."""
    t = event_tables(settings)
    with raw(settings, "events") as tx:
        rows = tx.fetchall(
            f"SELECT {t.id_column}, originator_id, originator_version, topic, state "
            f"FROM {t.events} ORDER BY {t.id_column}"
        )
        tx.execute(f"DELETE FROM {t.chain}")
        prev = GENESIS
        heads: dict[str, bytes] = {}
        for n, originator, version, topic, state in rows:
            stream = str(originator) if isinstance(originator, UUID) else str(UUID(originator))
            stream_prev = heads.get(stream, GENESIS)
            current = link_hash(
                prev, stream_prev, record_digest(int(n), stream, int(version), topic, bytes(state))
            )
            tx.execute(
                f"INSERT INTO {t.chain} VALUES (?,?,?,?,?,?)",
                (int(n), stream, int(version), stream_prev, prev, current),
            )
            prev = heads[stream] = current


def some_access(dep: Deployment, client: str) -> None:
    AccessLog(dep.dbs.access).append(
        [
            AccessRecord(
                access_id=str(uuid4()),
                at=dep.clock(),
                request_id=f"req-{n}",
                action="clientSlice",
                viewer_kind="practitioner",
                practitioner_id=GP.practitioner_id,
                agency_id=GP.agency_id,
                profession=GP.profession,
                roles=("practitioner",),
                purpose="direct_care",
                basis="care_relationship",
                client_id=client,
                items=(),
                response_hash="0" * 64,
            )
            for n in range(5)
        ]
    )
