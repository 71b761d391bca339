"""The read interface of every view, with its SQLite and PostgreSQL implementations.

Each view's reader is written once against ``ViewReader``; the two dialects differ
in how a list of values is matched (``IN (?, ?, ...)`` on SQLite, ``= ANY(?)`` with
an array on PostgreSQL, which keeps one prepared plan whatever the list length).
``pick(db, SQLiteX, PostgresX)`` chooses the implementation for a database. The same contract
suite runs against both (tests/projections).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, TypeVar

from carerecord.db import Database
from projections.engine.rows import placeholders

V = TypeVar("V", bound="ViewReader")


class ViewReader(ABC):
    """Base of the view readers: one storage area, reads in consistent snapshots."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @abstractmethod
    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """An SQL condition ``column`` matches one of ``values``, with its parameters."""


class SQLiteReader(ViewReader):
    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        if not values:
            return "1 = 0", ()
        return f"{column} IN ({placeholders(len(values))})", tuple(values)


class PostgresReader(ViewReader):
    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} = ANY(?)", (list(values),)


def pick(db: Database, sqlite: type[V], postgres: type[V]) -> V:
    """The implementation of a reader for ``db``'s dialect."""
    return postgres(db) if db.dialect == "postgres" else sqlite(db)
