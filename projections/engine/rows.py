"""Small building blocks for projections that keep one row per key.

``RowStore`` holds the rows a batch touches in memory: it loads them in bulk
(one query per chunk of keys, never one per event), lets the pure ``evolve``
functions fold events into them, and writes the net result (upserts and deletes)
with one ``executemany`` each at the end of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from carerecord.db import Tx

R = TypeVar("R")
CHUNK = 500
_MISSING = object()


def ts(value: datetime) -> str:
    """A sortable UTC text form of a time (always with microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_opt(value: datetime | None) -> str | None:
    return None if value is None else ts(value)


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def parse_ts_opt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def placeholders(count: int) -> str:
    return ",".join("?" * count)


class RowStore(Generic[R]):
    """Rows of one table keyed by one text column, cached for the length of a batch.

    ``to_row`` turns a value into the table's column values (key first);
    ``from_row`` turns selected columns back into a value.
    """

    def __init__(
        self,
        table: str,
        columns: Sequence[str],
        *,
        to_row: Callable[[R], tuple[Any, ...]],
        from_row: Callable[[tuple[Any, ...]], R],
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.key = self.columns[0]
        self.to_row = to_row
        self.from_row = from_row
        self._rows: dict[str, R | None] = {}
        self._dirty: set[str] = set()
        cols = ", ".join(self.columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.columns[1:])
        self._select = f"SELECT {cols} FROM {table} WHERE {self.key} IN "
        self._upsert = (
            f"INSERT INTO {table} ({cols}) VALUES ({placeholders(len(self.columns))}) "
            f"ON CONFLICT ({self.key}) DO UPDATE SET {updates}"
        )
        self._delete = f"DELETE FROM {table} WHERE {self.key} = ?"

    def load(self, tx: Tx, keys: Iterable[str]) -> None:
        """Bring the rows for ``keys`` into memory (missing ones are remembered as None)."""
        wanted = sorted({k for k in keys if k not in self._rows})
        for part in chunks(wanted):
            for row in tx.fetchall(self._select + f"({placeholders(len(part))})", tuple(part)):
                self._rows[str(row[0])] = self.from_row(row)
        for key in wanted:
            self._rows.setdefault(key, None)

    def get(self, key: str) -> R | None:
        found = self._rows.get(key, _MISSING)
        if found is _MISSING:
            raise KeyError(key)  # a bug: rows must be loaded before they are folded
        return found  # type: ignore[return-value]

    def put(self, key: str, value: R | None) -> None:
        self._rows[key] = value
        self._dirty.add(key)

    def flush(self, tx: Tx) -> None:
        """Write the batch's net changes and forget the rows."""
        upserts = []
        deletes = []
        for key in sorted(self._dirty):
            value = self._rows[key]
            if value is None:
                deletes.append((key,))
            else:
                upserts.append(self.to_row(value))
        if deletes:
            tx.executemany(self._delete, deletes)
        if upserts:
            tx.executemany(self._upsert, upserts)
        self.clear()

    def clear(self) -> None:
        self._rows.clear()
        self._dirty.clear()
