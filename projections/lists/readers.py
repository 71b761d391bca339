"""Readers of the directory, involvement, caseload, referral and concern views.

Rows in, plain tuples out: the repository turns them into result values and
applies the caller's permissions and the read-time re-checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.engine.reading import PostgresReader, SQLiteReader, ViewReader
from projections.lists.referrals import COLUMNS as REFERRAL_COLUMNS

Row = tuple[Any, ...]


class DirectoryReader(ViewReader):
    def agencies(self, agency_ids: Sequence[str]) -> dict[str, Row]:
        """``agency_id -> (agency_id, name, sector, phone, email)``."""
        if not agency_ids:
            return {}
        cond, params = self.any_of("agency_id", sorted(set(agency_ids)))
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                f"SELECT agency_id, name, sector, phone, email FROM dir_agencies WHERE {cond}",
                params,
            )
        return {str(r[0]): r for r in rows}

    def practitioners(self, practitioner_ids: Sequence[str]) -> dict[str, Row]:
        """``practitioner_id -> (practitioner_id, agency_id, profession, name, phone, email)``."""
        if not practitioner_ids:
            return {}
        cond, params = self.any_of("practitioner_id", sorted(set(practitioner_ids)))
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                "SELECT practitioner_id, agency_id, profession, name, phone, email "
                f"FROM dir_practitioners WHERE {cond}",
                params,
            )
        return {str(r[0]): r for r in rows}


class InvolvementReader(ViewReader):
    def client(self, client_id: str) -> tuple[int, list[Row]]:
        """The client's version in the index and its involvement rows (by ref id)."""
        with self.db.snapshot() as tx:
            version = tx.scalar("SELECT version FROM inv_clients WHERE client_id = ?", (client_id,))
            rows = tx.fetchall(
                "SELECT ref_id, kind, agency_id, practitioner_id, team_id, profession, since, "
                "from_agency, status, urgency, due_by FROM inv_involvements "
                "WHERE client_id = ? ORDER BY agency_id, ref_id",
                (client_id,),
            )
        return (0 if version is None else int(version)), rows

    def agency_clients(self, agency_id: str, client_ids: Sequence[str]) -> set[str]:
        """Which of ``client_ids`` the agency has an active relationship with (per the index)."""
        if not client_ids:
            return set()
        cond, params = self.any_of("client_id", list(client_ids))
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                "SELECT DISTINCT client_id FROM inv_involvements "
                f"WHERE agency_id = ? AND kind = 'relationship' AND {cond}",
                (agency_id, *params),
            )
        return {str(r[0]) for r in rows}


class CaseloadReader(ViewReader):
    _SELECT = (
        "SELECT c.client_id, c.given_name, c.family_name, c.date_of_birth, "
        "MIN(r.relationship_id), MIN(r.team_id), MIN(r.since) "
        "FROM cl_relationships r JOIN cl_clients c ON c.client_id = r.client_id "
    )

    def page(
        self,
        *,
        agency_id: str,
        practitioner_id: str | None,
        team_id: str | None,
        after: tuple[str, str, str] | None,
        limit: int,
    ) -> list[Row]:
        """Clients of the practitioner (or the team), by family name, given name, id."""
        params: list[Any]
        if team_id is not None:
            where, params = "r.agency_id = ? AND r.team_id = ?", [agency_id, team_id]
        else:
            where, params = (
                "r.agency_id = ? AND r.practitioner_id = ?",
                [agency_id, practitioner_id],
            )
        if after is not None:
            where += " AND (c.family_name, c.given_name, c.client_id) > (?, ?, ?)"
            params += [after[0], after[1], after[2]]
        with self.db.snapshot() as tx:
            rows: list[Row] = tx.fetchall(
                self._SELECT + f"WHERE {where} "
                "GROUP BY c.client_id, c.given_name, c.family_name, c.date_of_birth "
                "ORDER BY c.family_name, c.given_name, c.client_id LIMIT ?",
                (*params, limit),
            )
        return rows


class ReferralsReader(ViewReader):
    _COLUMNS = ", ".join(REFERRAL_COLUMNS[:15])

    def page(
        self,
        *,
        agency_id: str,
        direction: str,
        now: str,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[Row]:
        """Open incoming / open outgoing / overdue referrals of an agency, by due date."""
        if direction == "incoming":
            where, params = "to_agency = ? AND open = 1", [agency_id]
        elif direction == "outgoing":
            where, params = "from_agency = ? AND open = 1", [agency_id]
        else:
            where, params = "to_agency = ? AND awaiting = 1 AND due_by < ?", [agency_id, now]
        if after is not None:
            where += " AND (due_by, referral_id) > (?, ?)"
            params += [after[0], after[1]]
        with self.db.snapshot() as tx:
            rows: list[Row] = tx.fetchall(
                f"SELECT {self._COLUMNS} FROM rf_referrals WHERE {where} "
                "ORDER BY due_by, referral_id LIMIT ?",
                (*params, limit),
            )
        return rows

    def by_ids(self, referral_ids: Sequence[str]) -> dict[str, Row]:
        if not referral_ids:
            return {}
        cond, params = self.any_of("referral_id", sorted(set(referral_ids)))
        with self.db.snapshot() as tx:
            rows = tx.fetchall(f"SELECT {self._COLUMNS} FROM rf_referrals WHERE {cond}", params)
        return {str(r[0]): r for r in rows}

    def stats_rows(self, *, agency_id: str, direction: str) -> list[Row]:
        """``(open, awaiting, due_by, response_seconds)`` of every referral in that direction."""
        column = "to_agency" if direction == "incoming" else "from_agency"
        with self.db.snapshot() as tx:
            rows: list[Row] = tx.fetchall(
                f"SELECT open, awaiting, due_by, response_seconds FROM rf_referrals "
                f"WHERE {column} = ?",
                (agency_id,),
            )
        return rows


class ConcernsReader(ViewReader):
    def flagged_page(self, *, agency_id: str, after: str | None, limit: int) -> list[Row]:
        """Flagged clients the agency has an active relationship with (per the index)."""
        where, params = "c.flagged = 1", []
        if after is not None:
            where += " AND c.client_id > ?"
            params.append(after)
        with self.db.snapshot() as tx:
            rows: list[Row] = tx.fetchall(
                "SELECT c.client_id, c.agencies, c.concern_count, c.open_count, c.first_at, "
                f"c.last_at FROM cc_clients c WHERE {where} AND EXISTS (SELECT 1 FROM "
                "inv_involvements i WHERE i.client_id = c.client_id AND i.agency_id = ? "
                "AND i.kind = 'relationship') ORDER BY c.client_id LIMIT ?",
                (*params, agency_id, limit),
            )
        return rows

    def concerns(self, client_ids: Sequence[str]) -> dict[str, list[Row]]:
        """``client_id -> [(entry_id, agency_id, source, alert_kind, severity, occurred_at,
        resolved)]``, in time order."""
        if not client_ids:
            return {}
        cond, params = self.any_of("client_id", list(client_ids))
        with self.db.snapshot() as tx:
            rows = tx.fetchall(
                "SELECT client_id, entry_id, agency_id, source, alert_kind, severity, "
                f"occurred_at, resolved FROM cc_concerns WHERE {cond} "
                "ORDER BY client_id, occurred_at, entry_id",
                params,
            )
        found: dict[str, list[Row]] = {}
        for row in rows:
            found.setdefault(str(row[0]), []).append(row[1:])
        return found


class SQLiteDirectoryReader(SQLiteReader, DirectoryReader):
    pass


class PostgresDirectoryReader(PostgresReader, DirectoryReader):
    pass


class SQLiteInvolvementReader(SQLiteReader, InvolvementReader):
    pass


class PostgresInvolvementReader(PostgresReader, InvolvementReader):
    pass


class SQLiteCaseloadReader(SQLiteReader, CaseloadReader):
    pass


class PostgresCaseloadReader(PostgresReader, CaseloadReader):
    pass


class SQLiteReferralsReader(SQLiteReader, ReferralsReader):
    pass


class PostgresReferralsReader(PostgresReader, ReferralsReader):
    pass


class SQLiteConcernsReader(SQLiteReader, ConcernsReader):
    pass


class PostgresConcernsReader(PostgresReader, ConcernsReader):
    pass
