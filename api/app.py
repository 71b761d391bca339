"""The FastAPI app factory. Importing this module does no I/O; the lifespan opens the stores.

``uvicorn --factory api.app:create_app`` (or ``carerecord serve``) builds the app from
the environment; tests and the demo pass settings explicitly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.edge import Edge
from api.errors import install_error_handlers
from api.graphql.http import graphql_get, graphql_post
from api.graphql.ide import ide_router
from api.graphql.schema import build_schema
from api.graphql.ws import SubscriptionRouter
from api.metrics import Metrics
from api.rest import rest_router
from api.services import Services
from api.settings import ApiSettings
from api.subject_access import subject_access_router
from carerecord.application import Clock, utc_now
from carerecord.settings import Settings

StartHook = Callable[[Services], Any]


def create_app(
    settings: Settings | None = None,
    api_settings: ApiSettings | None = None,
    *,
    clock: Clock = utc_now,
    on_start: StartHook | None = None,
) -> FastAPI:
    """The API app. Settings default to the environment (read now, not at import).

    ``on_start(services)`` runs at start-up after the services are open (the read
    side's in-process runner is started there by ``carerecord serve``); whatever it
    returns with a ``close()`` method is closed at shutdown.
    """
    settings = settings or Settings.from_env()
    api_settings = api_settings or ApiSettings.from_env()
    metrics = Metrics()
    schema = build_schema(api_settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = api_settings.resolved(settings.data_dir)
        services = Services.open(settings, resolved, metrics=metrics, clock=clock)
        app.state.services = services
        app.state.api_settings = resolved
        try:
            await asyncio.to_thread(services.start_projections)
            started = on_start(services) if on_start is not None else None
            try:
                yield
            finally:
                close = getattr(started, "close", None)
                if callable(close):
                    close()
        finally:
            await services.watcher.stop()
            await asyncio.to_thread(services.close)

    app = FastAPI(
        title="carerecord API",
        summary="REST edges of the shared care record: the agency feed, health, readiness, "
        "metrics. Front-ends use GraphQL at /graphql (see docs/graphql.md).",
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if api_settings.dev else None,
        redoc_url=None,
    )
    app.state.schema = schema
    app.state.api_settings = api_settings
    app.add_api_route("/graphql", graphql_post, methods=["POST"], include_in_schema=False)
    app.add_api_route("/graphql", graphql_get, methods=["GET"], include_in_schema=False)
    app.include_router(ide_router())
    app.include_router(SubscriptionRouter(schema, api_settings))
    app.include_router(rest_router())
    app.include_router(subject_access_router())
    install_error_handlers(app)
    if api_settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(api_settings.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(Edge, max_body_bytes=api_settings.limits.max_body_bytes, metrics=metrics)
    return app
