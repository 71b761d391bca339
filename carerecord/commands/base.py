"""The application's wiring and the load -> decide -> save loop every client command uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError, Recording, Transcoder
from eventsourcing.utils import Environment

from carerecord import errors
from carerecord.client_record import ClientRecord
from carerecord.ids import ClientId, parse_client_id
from carerecord.protocol import Protocol
from carerecord.transcoder import OrjsonTranscoder
from carerecord.validation import event_time

Clock = Callable[[], datetime]
T = TypeVar("T")
MAX_ATTEMPTS = 5
SYSTEM = "system"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid4())


@dataclass(frozen=True)
class CommandResult:
    """What a command saved: the log position to wait for, and the id it created (if any)."""

    position: int
    id: str | None = None


@dataclass(frozen=True)
class ClientIdentity:
    """The minimal identity returned by an exact identifier lookup (no browsing)."""

    client_id: ClientId
    given_name: str
    family_name: str
    date_of_birth: str


class CareRecordBase(Application[UUID]):
    """Configuration, reading the write model, and saving what a command decided."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        identifier_key: bytes,
        partnership: str = "north-shire",
        clock: Clock = utc_now,
        id_factory: Callable[[], str] = new_id,
    ) -> None:
        self._identifier_key = identifier_key
        self.partnership = partnership
        self.clock = clock
        self._new_id = id_factory
        self._protocol_cache: tuple[int, Protocol] | None = None
        super().__init__(env=dict(env))

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # Configuration is explicit: the process environment is never read here.
        values = {"IS_SNAPSHOTTING_ENABLED": "y"}
        values.update(env or {})
        return Environment(name, values)

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    # --- reading the write model -------------------------------------------------------

    def load_client(self, client_id: object, *, version: int | None = None) -> ClientRecord:
        """The client's aggregate (read-only use: never save what this returns)."""
        cid = parse_client_id(client_id)
        try:
            record: object = self.repository.get(cid, version=version, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            raise errors.ClientNotFound() from None
        if not isinstance(record, ClientRecord):
            raise errors.ClientNotFound()
        return record

    # --- internals ---------------------------------------------------------------------

    def _when(self, at: datetime | None, now: datetime, *, field: str = "at") -> datetime:
        return now if at is None else event_time(at, field=field, now=now)

    def _save_new(self, aggregate: Aggregate) -> int:
        try:
            return _position(self.save(aggregate))
        except RecordConflictError:
            raise errors.AlreadyExists(field="id") from None

    def _change(
        self,
        client_id: object,
        action: Callable[[ClientRecord], Sequence[Aggregate] | None],
        *,
        created: str | None = None,
        on_conflict: Callable[[], None] | None = None,
    ) -> CommandResult:
        """Load the client, let ``action`` decide, save everything in one transaction.

        On a version conflict the whole command is retried from a fresh load, so a
        concurrent change is never lost; the rules are checked again each time.
        """
        cid = parse_client_id(client_id)
        for _ in range(MAX_ATTEMPTS):
            try:
                record: object = self.repository.get(cid)
            except AggregateNotFoundError:
                raise errors.ClientNotFound() from None
            if not isinstance(record, ClientRecord):
                raise errors.ClientNotFound()
            extra = action(record) or ()
            try:
                recordings = self.save(record, *extra)
            except RecordConflictError:
                if on_conflict is not None:
                    on_conflict()
                continue
            return CommandResult(_position(recordings), created)
        raise errors.ConcurrentUpdate()


def _position(recordings: list[Recording[UUID]]) -> int:
    return max(r.notification.id for r in recordings)


def _required(value: T | None) -> T:
    if value is None:
        raise errors.NotPermitted(reason="incomplete_identity")
    return value
