"""The ASGI edge: request ids, the request body cap, one set of credentials, per-route metrics.

Pure ASGI (no per-request task or thread): it reads the body up to the cap before
the app sees it, so an oversized request is refused with ``BODY_TOO_LARGE`` (413)
and never parsed. A request with more than one ``Authorization`` header is refused
(400 ``BAD_REQUEST``, ``reason: duplicate_authorization``; a WebSocket handshake is
closed before it is accepted): which one would count is ambiguous, and proxies and
frameworks disagree (first wins, last wins, or joined with a comma) - RFC 6750's
``invalid_request``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from api.errors import BAD_REQUEST, BODY_TOO_LARGE, ApiError, body_for
from api.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = b"x-request-id"
AUTHORIZATION_HEADER = b"authorization"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{8,64}")
_KNOWN_ROUTES = ("/graphql", "/feed", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs")


def route_label(path: str) -> str:
    for route in _KNOWN_ROUTES:
        if path == route or path.startswith(route + "/"):
            return route
    return "other"


class Edge:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        duplicate = _credentials(scope) > 1
        if scope["type"] == "websocket":
            if duplicate:
                await send({"type": "websocket.close", "code": 4400})
                return
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = route_label(scope.get("path", ""))
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            if duplicate:
                await _refuse(
                    send_with_id,
                    400,
                    ApiError(
                        BAD_REQUEST,
                        "Send one Authorization header.",
                        reason="duplicate_authorization",
                    ),
                    headers=[(b"www-authenticate", b'Bearer error="invalid_request"')],
                )
                return
            body = await self._read_body(scope, receive)
            if body is None:
                await _refuse(
                    send_with_id,
                    413,
                    ApiError(
                        BODY_TOO_LARGE,
                        "The request body is larger than allowed.",
                        limit=self.max_body,
                    ),
                )
                return
            await self.app(scope, _replay(body, receive), send_with_id)
        finally:
            self.metrics.requests.labels(route, str(status["code"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body:
                        return None
                except ValueError:
                    return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(
    send: Send, status: int, error: ApiError, *, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = orjson.dumps(body_for(error))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _credentials(scope: Scope) -> int:
    return sum(1 for name, _ in scope.get("headers", []) if name == AUTHORIZATION_HEADER)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER and _REQUEST_ID.fullmatch(value):
            return str(value.decode("ascii"))
    return uuid.uuid4().hex
