"""Shapes shared by every area of the schema: command results, refusals, pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import strawberry

from api.graphql.context import ApiContext, Ctx
from carerecord.application import CareRecord, CommandResult
from carerecord.errors import CareRecordError, IdempotencyKeyReused
from carerecord.values import Viewer

CONSISTENCY = "consistency"
F = TypeVar("F", bound=Callable[..., Any])


def field(description: str) -> Callable[[F], F]:
    """``@strawberry.field(description=...)``, typed (strawberry's own overload is ``Any``)."""
    return cast(Callable[[F], F], strawberry.field(description=description))


def mutation(description: str) -> Callable[[F], F]:
    return cast(Callable[[F], F], strawberry.mutation(description=description))


def subscription(description: str) -> Callable[[F], F]:
    return cast(Callable[[F], F], strawberry.subscription(description=description))


@strawberry.type(description="A name and value describing a refusal (ids, field names, limits).")
class ErrorField:
    name: str
    value: str | None


@strawberry.type(description="An expected refusal: a stable code and a message safe to show.")
class Refused:
    code: str
    message: str
    fields: list[ErrorField]

    @classmethod
    def of(cls, exc: CareRecordError) -> Refused:
        return cls(
            code=exc.code,
            message=exc.message,
            fields=[
                ErrorField(name=k, value=None if v is None else str(v))
                for k, v in sorted(exc.fields.items())
            ],
        )


@strawberry.type(description="A command that was recorded.")
class Accepted:
    id: strawberry.ID | None = strawberry.field(
        description="What the command created (entry, consent, referral...), if anything."
    )
    consistency_token: str = strawberry.field(
        description="Pass as `consistentWith` to a query to read your own write "
        "(the query waits, briefly, until the views include it)."
    )


CommandOutcome = Annotated[Accepted | Refused, strawberry.union("CommandOutcome")]


def viewer_scope(viewer: Viewer) -> str:
    """Whom a cursor or token belongs to (it is refused for anyone else)."""
    return viewer.scope


def consistency_token(context: ApiContext, position: int) -> str:
    return context.services.cursors.seal(CONSISTENCY, viewer_scope(context.viewer), position)


Command = Callable[[CareRecord, Viewer, str | None], CommandResult]
"""``(app, caller, idempotency_key)``: one command of the application service."""


def execute_command(info: Ctx, action: Command) -> CommandResult:
    """Run one command as the caller, under the request's ``Idempotency-Key`` if it sent one
    (a retry then gets the first outcome back; see ``api.graphql.idempotency``)."""
    context = info.context
    return action(context.services.care_record, context.viewer, context.idempotency_key)


def refused(context: ApiContext, exc: CareRecordError) -> Refused:
    """A command's refusal as the caller sees it (counted; a reused key sets the status)."""
    context.services.metrics.graphql_errors.labels(exc.code).inc()
    if isinstance(exc, IdempotencyKeyReused):
        context.key_refusal = exc
    return Refused.of(exc)


def run_command(info: Ctx, action: Command) -> Accepted | Refused:
    """Run one command of the application service as the caller; refusals become ``Refused``."""
    context = info.context
    try:
        result = execute_command(info, action)
    except CareRecordError as exc:
        return refused(context, exc)
    return Accepted(
        id=None if result.id is None else strawberry.ID(result.id),
        consistency_token=consistency_token(context, result.position),
    )
