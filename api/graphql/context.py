"""The per-request (or per-socket) context resolvers see: who is calling, and the services."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from strawberry.fastapi import BaseContext
from strawberry.types import Info

from api.audit import AuditTrail
from api.auth import Caller, unauthenticated
from api.graphql.hardening import HTTP
from carerecord.errors import CareRecordError
from carerecord.values import Viewer

if TYPE_CHECKING:
    from api.services import Services


class ApiContext(BaseContext):
    """What resolvers may use. The caller is set by authentication, never from the query."""

    def __init__(
        self,
        services: Services,
        *,
        transport: str = HTTP,
        request_id: str,
        caller: Caller | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.transport = transport
        self.request_id = request_id
        self.caller = caller
        self.idempotency_key = idempotency_key
        """The request's ``Idempotency-Key`` (checked), for its one mutation."""
        self.key_refusal: CareRecordError | None = None
        """The refusal of the request's key, if any: it sets the response's status."""
        self.trail = AuditTrail(services.access_writer)

    @property
    def viewer(self) -> Viewer:
        if self.caller is None:
            raise unauthenticated("missing")
        return self.caller.viewer

    def now(self) -> datetime:
        return self.services.clock()


Ctx = Info[ApiContext, None]


def transport_of(context: object) -> str:
    return getattr(context, "transport", HTTP)
