"""Subscriptions over WebSocket: graphql-transport-ws only, authenticated, closed at token expiry.

The token comes in the ``connection_init`` payload (``{"Authorization": "Bearer
..."}``) or, failing that, the handshake's ``Authorization`` header; it is checked
against the directory like any request. A connection whose token cannot be
verified is closed (4403) before any subscription starts; when the token expires
the socket is closed (4401) and nothing more is delivered on it. Origins are
checked against ``CARERECORD_ALLOWED_ORIGINS``; the number of subscriptions per
socket and the size of each message are capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from fastapi import WebSocket
from fastapi.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types.unset import UNSET, UnsetType

from api.errors import ApiError
from api.graphql.context import ApiContext
from api.graphql.hardening import WEBSOCKET
from api.graphql.schema import CareRecordSchema
from api.settings import ApiSettings
from carerecord.errors import CareRecordError

TOKEN_EXPIRED = 4401


class SocketContext(ApiContext):
    """A socket's context: the caller, and the watch that closes the socket at token expiry."""

    watch: asyncio.Task[None] | None = None

    def stop_watch(self) -> None:
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None


class TransportWSHandler(BaseGraphQLTransportWSHandler[ApiContext, None]):
    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            if isinstance(self.context, SocketContext):
                self.context.stop_watch()


class SubscriptionRouter(GraphQLRouter[ApiContext, None]):
    """strawberry's router, used for its WebSocket route only (HTTP has its own handler)."""

    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, schema: CareRecordSchema, settings: ApiSettings) -> None:
        self.max_message_bytes = settings.limits.max_body_bytes
        super().__init__(
            schema,
            path="/graphql",
            graphql_ide=None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            context_getter=_socket_context,
            connection_init_wait_timeout=timedelta(
                seconds=settings.limits.connection_init_timeout_seconds
            ),
            max_subscriptions_per_connection=settings.limits.max_subscriptions_per_socket,
            allowed_origins=settings.allowed_origins,
            include_in_schema=False,
        )

    def decode_json(self, data: str | bytes) -> object:
        if len(data) > self.max_message_bytes:
            # The protocol handler closes the socket (4400) on undecodable messages.
            raise json.JSONDecodeError("message too large", "", 0)
        return super().decode_json(data)

    async def on_ws_connect(self, context: ApiContext) -> UnsetType | dict[str, object] | None:
        if not isinstance(context, SocketContext):
            raise ConnectionRejectionError()
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = _authorization(params)
        if authorization is None and isinstance(context.request, WebSocket):
            authorization = context.request.headers.get("authorization")
        services = context.services
        try:
            caller = await run_in_threadpool(services.authenticator.authenticate, authorization)
        except (ApiError, CareRecordError) as exc:
            reason = exc.fields.get("reason") if isinstance(exc, ApiError) else exc.code.lower()
            services.metrics.auth_failures.labels(str(reason or "rejected")).inc()
            raise ConnectionRejectionError() from None
        context.caller = caller
        if isinstance(context.request, WebSocket):
            context.watch = asyncio.create_task(_close_at_expiry(context, context.request))
        return cast(UnsetType, UNSET)


def _authorization(params: dict[str, Any]) -> str | None:
    for key in ("Authorization", "authorization"):
        value = params.get(key)
        if isinstance(value, str):
            return value
    token = params.get("token")
    return f"Bearer {token}" if isinstance(token, str) else None


async def _socket_context(connection: HTTPConnection) -> SocketContext:
    return SocketContext(
        connection.app.state.services,
        transport=WEBSOCKET,
        request_id=connection.scope.get("state", {}).get("request_id", "-"),
    )


async def _close_at_expiry(context: SocketContext, websocket: WebSocket) -> None:
    assert context.caller is not None
    # Token times are wall-clock times (whatever clock the domain is given).
    remaining = (context.caller.expires_at - datetime.now(UTC)).total_seconds()
    await asyncio.sleep(max(0.0, remaining))
    with contextlib.suppress(Exception):
        await websocket.close(code=TOKEN_EXPIRED, reason="Token expired")
