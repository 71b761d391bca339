"""What one API process holds open: the application, the stores, the audit writer, auth.

Built by the app's lifespan at start-up (never at import), closed at shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.auth import Authenticator, TokenVerifier
from api.cursors import CursorCodec
from api.metrics import Metrics
from api.settings import ApiSettings
from carerecord.access_log import AccessLog, AccessLogWriter
from carerecord.application import CareRecord, Clock, utc_now
from carerecord.db import Databases
from carerecord.runtime import open_care_record
from carerecord.settings import Settings


@dataclass
class Services:
    settings: Settings
    api: ApiSettings
    clock: Clock
    databases: Databases
    care_record: CareRecord
    access_log: AccessLog
    access_writer: AccessLogWriter
    authenticator: Authenticator
    cursors: CursorCodec
    metrics: Metrics
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        settings: Settings,
        api: ApiSettings,
        *,
        metrics: Metrics,
        clock: Clock = utc_now,
    ) -> Services:
        """Open everything (I/O: reads keys, opens pools and files). ``api`` must be resolved."""
        if api.cursor_key is None:
            raise ValueError("the API settings must be resolved before opening services")
        databases = Databases(settings)
        care_record = open_care_record(settings, clock=clock)
        access_log = AccessLog(databases.access)
        writer = AccessLogWriter(access_log, timeout=api.audit_timeout_seconds)
        return cls(
            settings=settings,
            api=api,
            clock=clock,
            databases=databases,
            care_record=care_record,
            access_log=access_log,
            access_writer=writer,
            authenticator=Authenticator(TokenVerifier(api), care_record),
            cursors=CursorCodec(api.cursor_key),
            metrics=metrics,
        )

    def access_writer_alive(self) -> bool:
        thread = getattr(self.access_writer, "_thread", None)
        return thread is None or thread.is_alive()

    def projection_lag(self) -> int | None:
        """Events in the log the views have not processed yet (None: no read side here)."""
        lag = self.extras.get("projection_lag")
        return None if lag is None else int(lag())

    def close(self) -> None:
        self.access_writer.close()
        self.care_record.close()
        self.databases.close()
