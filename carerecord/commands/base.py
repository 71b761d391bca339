"""The application's wiring, the load -> decide -> save loop every client command uses,
and ``command``, the wrapper that makes every public command idempotent under a key."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Concatenate, ParamSpec, TypeVar, cast
from typing import Protocol as TypingProtocol
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError, Recording, Transcoder
from eventsourcing.utils import Environment

from carerecord import errors
from carerecord.client_record import ClientRecord
from carerecord.idempotency import IdempotencyKey, KeyHasher, check_key, materialised
from carerecord.ids import ClientId, parse_client_id
from carerecord.protocol import Protocol
from carerecord.transcoder import OrjsonTranscoder
from carerecord.validation import event_time
from carerecord.values import Viewer

Clock = Callable[[], datetime]
T = TypeVar("T")
P = ParamSpec("P")
App = TypeVar("App", bound="CareRecordBase")
MAX_ATTEMPTS = 5
SYSTEM = "system"
KEY_ARGUMENT = "idempotency_key"


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
        self._keys = KeyHasher(identifier_key)
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

    def _commit(self, *objs: Aggregate, created: str | None) -> CommandResult:
        """Save what a command decided in one transaction: every command saves through here.

        Under an idempotency key (see ``command``) the key is saved with the command's
        events. If the save conflicts and the key turns out to be used meanwhile (the
        same key sent concurrently), ``_KeyUsed`` hands over to ``command``, which returns
        the first outcome; any other conflict is the caller's to handle.
        """
        pending = _PENDING.get()
        if pending is None:
            return CommandResult(_position(self.save(*objs)), created)
        key = IdempotencyKey.use(
            key_id=pending.key_id,
            command=pending.command,
            input_hash=pending.input_hash,
            result_id=created,
            by=pending.by,
            at=self.clock(),
        )
        try:
            recordings = self.save(*objs, key)  # the key's event last: its position is the result's
        except RecordConflictError:
            if self._key_position(pending.key_id) is not None:
                raise _KeyUsed() from None
            raise
        return CommandResult(_position(recordings), created)

    def _save_new(self, aggregate: Aggregate, *, created: str) -> CommandResult:
        try:
            return self._commit(aggregate, created=created)
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
        concurrent change is never lost; the rules are checked again each time. No such
        client is ``NO_CARE_RELATIONSHIP``, as for a client the caller has no standing
        towards (no existence oracle).
        """
        cid = parse_client_id(client_id)
        for _ in range(MAX_ATTEMPTS):
            try:
                record: object = self.repository.get(cid)
            except AggregateNotFoundError:
                # The same answer as a real client the caller has no standing towards:
                # a command never reveals whether a client exists.
                raise errors.NoCareRelationship() from None
            if not isinstance(record, ClientRecord):
                raise errors.NoCareRelationship()
            extra = action(record) or ()
            try:
                return self._commit(record, *extra, created=created)
            except RecordConflictError:
                if on_conflict is not None:
                    on_conflict()
        raise errors.ConcurrentUpdate()

    # --- idempotency keys ---------------------------------------------------------------

    def _key_position(self, key_id: UUID) -> int | None:
        recorder = cast(_Positions, self.recorder)
        return recorder.notification_id_of(key_id, 1)

    def _earlier_outcome(self, pending: _Pending) -> CommandResult | None:
        """The outcome of the command that used this key first, if it was used."""
        position = self._key_position(pending.key_id)
        if position is None:
            return None
        # A given version is read from the store, bypassing (and not filling) the cache.
        used: object = self.repository.get(pending.key_id, version=1)
        assert isinstance(used, IdempotencyKey)
        return CommandResult(position, used.result_for(pending.command, pending.input_hash))

    resolve_actor: Callable[[Viewer], Viewer]
    """The caller as the directory vouches for it: ``DirectoryCommands.resolve_actor``
    (every command area builds on the directory)."""

    def _pending(self, command: str, arguments: dict[str, object], key: object) -> _Pending:
        caller = arguments.pop("caller", None)
        by = arguments.pop("by", None)
        if isinstance(caller, Viewer):
            # Only a caller the directory vouches for may learn a key's earlier outcome.
            scope = self.resolve_actor(caller).scope
        elif isinstance(by, str):
            scope = f"operator:{by}"
        else:
            raise TypeError(f"{command}: a command needs a caller or an operator (by)")
        checked = check_key(key)
        return _Pending(
            key_id=self._keys.key_id(scope, checked),
            command=command,
            input_hash=self._keys.input_hash(command, arguments),
            by=scope,
        )


# --- the command decorator -----------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    """The idempotency key the running command saves with its events."""

    key_id: UUID
    command: str
    input_hash: str
    by: str


_PENDING: ContextVar[_Pending | None] = ContextVar("carerecord_idempotency_key", default=None)


class _KeyUsed(Exception):
    """The key was used by a command that committed first (not an error: a handover)."""


class _Positions(TypingProtocol):
    def notification_id_of(self, originator_id: UUID, version: int) -> int | None: ...


def command(
    method: Callable[Concatenate[App, P], CommandResult],
) -> Callable[Concatenate[App, P], CommandResult]:
    """Make a public command idempotent under its keyword argument ``idempotency_key``.

    Without a key the command runs as it always did. With one, the caller is resolved
    against the directory, and the key checked (1-255 printable ASCII characters),
    scoped to the caller (``caller``, or the operator ``by`` of directory commands) and
    hashed with the command's other arguments (canonical JSON). If the caller used the
    key before, the first outcome is returned - the same position and id - and nothing
    is stored; if it was used for another command or input: ``IDEMPOTENCY_KEY_REUSED``.
    Otherwise the command runs and ``_commit`` saves the key with its events. A refusal
    stores nothing, so a retry of a refused command decides afresh.
    """
    signature = inspect.signature(method)
    parameter = signature.parameters.get(KEY_ARGUMENT)
    if parameter is None or parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
        raise TypeError(f"{method.__name__} needs a keyword-only {KEY_ARGUMENT} argument")
    name = method.__name__

    @functools.wraps(method)
    def run(self: App, /, *args: P.args, **kwargs: P.kwargs) -> CommandResult:
        key = kwargs.get(KEY_ARGUMENT)
        if key is None:
            return method(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for argument, value in bound.arguments.items():
            bound.arguments[argument] = materialised(value)
        arguments = {k: v for k, v in bound.arguments.items() if k not in ("self", KEY_ARGUMENT)}
        pending = self._pending(name, arguments, key)
        earlier = self._earlier_outcome(pending)
        if earlier is not None:
            return earlier
        token = _PENDING.set(pending)
        try:
            return method(*bound.args, **bound.kwargs)
        except _KeyUsed:
            outcome = self._earlier_outcome(pending)
            assert outcome is not None
            return outcome
        except errors.CareRecordError:
            # Refused after the same key committed elsewhere (the state it changed now
            # refuses the command again): the retry gets the first outcome.
            earlier = self._earlier_outcome(pending)
            if earlier is None:
                raise
            return earlier
        finally:
            _PENDING.reset(token)

    run.is_command = True  # type: ignore[attr-defined]
    return run


def _position(recordings: list[Recording[UUID]]) -> int:
    return max(r.notification.id for r in recordings)


def _required(value: T | None) -> T:
    if value is None:
        raise errors.NotPermitted(reason="incomplete_identity")
    return value
