"""The one error mapping: a store failure that passes is STORE_UNAVAILABLE (503, Retry-After),
anything else unexpected stays INTERNAL_ERROR; the errors are real, from a refused connection
and from bad SQL."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import psycopg
from graphql import GraphQLError

from api.errors import (
    RETRY_AFTER_SECONDS,
    body_for,
    coded_graphql_error,
    headers_for,
    passes,
    status_for,
)
from carerecord.errors import AuditUnavailable, ClientNotFound
from carerecord.settings import PostgresParams


def _refused() -> psycopg.OperationalError:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    params = PostgresParams("127.0.0.1", port, "x", "postgres", "", connect_timeout=1)
    try:
        psycopg.connect(params.conninfo())
    except psycopg.OperationalError as exc:
        return exc
    raise AssertionError("nothing should listen there")


def _bad_sql(tmp_path: Path) -> sqlite3.OperationalError:
    conn = sqlite3.connect(str(tmp_path / "x.sqlite3"))
    try:
        conn.execute("SELECT * FROM no_such_table")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("expected an error")


def test_a_store_that_cannot_be_reached_is_a_retryable_503() -> None:
    error = _refused()
    assert status_for(error) == 503
    assert headers_for(error) == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    (entry,) = body_for(error)["errors"]
    assert entry["extensions"] == {"code": "STORE_UNAVAILABLE"}
    assert "127.0.0.1" not in entry["message"], "no driver detail leaks"
    assert passes(error)


def test_in_graphql_a_store_failure_is_coded_and_a_bug_is_masked(tmp_path: Path) -> None:
    store = coded_graphql_error(GraphQLError("x", original_error=_refused()))
    bug = coded_graphql_error(GraphQLError("x", original_error=_bad_sql(tmp_path)))
    assert store.extensions == {"code": "STORE_UNAVAILABLE"}
    assert bug.extensions == {"code": "INTERNAL_ERROR"}
    assert bug.message == "Unexpected error."
    assert "no_such_table" not in store.message + bug.message


def test_only_refusals_that_pass_carry_retry_after(tmp_path: Path) -> None:
    assert headers_for(ClientNotFound()) == {}
    assert headers_for(_bad_sql(tmp_path)) == {}  # a 500: retrying will not help
    assert status_for(_bad_sql(tmp_path)) == 500
    assert headers_for(AuditUnavailable(reason="timeout"))["Retry-After"]
    assert passes(AuditUnavailable(reason="store_unavailable"))
    assert not passes(AuditUnavailable(reason="writer_closed"))
