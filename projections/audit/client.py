"""The person's own access log: every recorded access to their record, in plain words.

Read straight from the access log (its per-client chain index), not from the audit
index, so it is complete up to the moment of asking - every access, including
break-glass and auditors' reads. Each is put in words with the organisation's name
(directory view), the profession's title (protocol), the entries' bases (audit index,
where it has caught up) and, for break-glass, the review outcome (break-glass view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from carerecord.access_log import AccessRecord
from carerecord.audit.plain import AccessInWords
from carerecord.db import Database
from carerecord.protocol import Protocol
from projections.audit.break_glass import break_glass_reader
from projections.audit.index import access_index_reader
from projections.engine.reading import pick
from projections.lists.readers import PostgresDirectoryReader, SQLiteDirectoryReader


@dataclass(frozen=True)
class ClientAccess:
    """One access to the person's record: its place in their log and what it was."""

    seq: int
    access_id: str
    words: AccessInWords
    agency_phone: str | None = None
    agency_email: str | None = None

    def to_json(self, sentence: str) -> dict[str, object]:
        w = self.words
        return {
            "at": w.at.isoformat(),
            "description": sentence,
            "organisation": w.agency_name,
            "organisation_code": w.agency_id,
            "organisation_phone": self.agency_phone,
            "organisation_email": self.agency_email,
            "profession": w.profession_title,
            "action": w.action,
            "purpose": w.purpose,
            "basis": w.basis,
            "entry_bases": list(w.entry_bases),
            "break_glass": w.break_glass,
            "by_auditor": w.by_auditor,
            "review_outcome": w.review_outcome,
        }


def client_access_records(
    access: Database, client_id: str, *, before: int | None = None, limit: int = 100
) -> list[tuple[int, AccessRecord]]:
    """The client's access records, newest first: ``(client_seq, record)``. Refused
    attempts are left out (nothing was shown; they are for the information-governance
    officers, in the access audit): pages skip them and still hold ``limit`` records
    while there are more."""
    out: list[tuple[int, AccessRecord]] = []
    while len(out) < limit:
        where, params = "client_id = ?", list[object]([client_id])
        if before is not None:
            where += " AND client_seq < ?"
            params.append(before)
        with access.snapshot() as tx:
            rows = tx.fetchall(
                f"SELECT client_seq, record FROM access_log WHERE {where} "
                "ORDER BY client_seq DESC LIMIT ?",
                (*params, limit),
            )
        for row in rows:
            record = AccessRecord.from_json(orjson.loads(bytes(row[1])))
            if not record.refused and len(out) < limit:
                out.append((int(row[0]), record))
        if len(rows) < limit:
            break
        before = int(rows[-1][0])
    return out


def client_access_count(access: Database, client_id: str) -> int:
    with access.snapshot() as tx:
        return int(tx.scalar("SELECT COUNT(*) FROM access_log WHERE client_id = ?", (client_id,)))


def in_words(
    records: Sequence[tuple[int, AccessRecord]],
    *,
    client_id: str,
    views: Database,
    access: Database,
    protocol: Protocol,
) -> list[ClientAccess]:
    """The records put in words (names, titles, entry bases and review outcomes joined)."""
    if not records:
        return []
    agencies = pick(views, SQLiteDirectoryReader, PostgresDirectoryReader).agencies(
        [r.agency_id for _, r in records if r.agency_id is not None]
    )
    indexed = access_index_reader(access).by_access_ids([r.access_id for _, r in records])
    grants = (
        break_glass_reader(views).for_client(client_id)
        if any(r.grant_id is not None for _, r in records)
        else {}
    )
    out = []
    for seq, record in records:
        agency = agencies.get(record.agency_id or "")
        profession = protocol.professions.get(record.profession or "")
        found = indexed.get(record.access_id)
        grant = grants.get(record.grant_id or "")
        out.append(
            ClientAccess(
                seq=seq,
                access_id=record.access_id,
                words=AccessInWords(
                    at=record.at,
                    action=record.action,
                    viewer_kind=record.viewer_kind,
                    agency_id=record.agency_id,
                    agency_name=None if agency is None else str(agency[1]),
                    profession=record.profession,
                    profession_title=None if profession is None else profession.title,
                    roles=record.roles,
                    purpose=record.purpose,
                    basis=record.basis,
                    entry_bases=() if found is None else found.entry_bases,
                    review_outcome=None if grant is None else grant.outcome,
                ),
                agency_phone=None if agency is None else str(agency[3]),
                agency_email=None if agency is None else str(agency[4]),
            )
        )
    return out
