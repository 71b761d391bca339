"""What one API process holds open: the application, the stores, the audit writer, auth.

Built by the app's lifespan at start-up (never at import), closed at shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from api.auth import Authenticator, TokenVerifier
from api.cursors import CursorCodec
from api.metrics import Metrics
from api.readiness import ReadinessProbe
from api.settings import ApiSettings
from api.watch import ViewWatcher
from carerecord.access_log import AccessLog, AccessLogWriter
from carerecord.application import CareRecord, Clock, utc_now
from carerecord.db import AREAS, Databases
from carerecord.runtime import open_care_record
from carerecord.settings import Settings
from projections.engine.runner import ProjectionRunner
from projections.engine.settings import ProjectionSettings
from projections.registry import view_runner
from projections.repository import ReadRepository


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
    reads: ReadRepository
    watcher: ViewWatcher
    readiness_probe: ReadinessProbe
    runner: ProjectionRunner | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        settings: Settings,
        api: ApiSettings,
        *,
        metrics: Metrics,
        clock: Clock = utc_now,
        projection_settings: ProjectionSettings | None = None,
    ) -> Services:
        """Open everything (I/O: reads keys, opens pools and files). ``api`` must be resolved.

        With ``api.in_process_projections`` the curated views are built by a runner in
        this process (the embedded mode; call ``start_projections``); otherwise a
        separate projection worker keeps them up to date.
        """
        if api.cursor_key is None:
            raise ValueError("the API settings must be resolved before opening services")
        databases = Databases(settings)
        care_record = open_care_record(settings, clock=clock)
        access_log = AccessLog(databases.access)
        writer = AccessLogWriter(access_log, timeout=api.audit_timeout_seconds)
        projection_settings = projection_settings or ProjectionSettings()
        runner = None
        if api.in_process_projections:
            runner = view_runner(
                care_record,
                databases.views,
                projection_settings,
                core=settings,
                listen=True,
                heartbeat=True,
            )
        reads = ReadRepository(
            care_record, databases.views, settings=projection_settings, runner=runner
        )
        stores = {area: databases.area(area) for area in AREAS}
        probe = ReadinessProbe(
            {
                **{area: partial(db.read, "SELECT 1") for area, db in stores.items()},
                "projections": reads.readiness,
            },
            budget=api.ready_timeout_seconds,
        )
        return cls(
            settings=settings,
            api=api,
            clock=clock,
            databases=databases,
            care_record=care_record,
            access_log=access_log,
            access_writer=writer,
            authenticator=Authenticator(
                TokenVerifier(api), care_record, directory_ttl=api.directory_cache_seconds
            ),
            cursors=CursorCodec(api.cursor_key),
            metrics=metrics,
            reads=reads,
            watcher=ViewWatcher(reads.positions, interval=api.subscription_poll_seconds),
            readiness_probe=probe,
            runner=runner,
        )

    def start_projections(self, *, catch_up_timeout: float = 600.0) -> None:
        """Start the in-process runner (if any) and wait until the views have caught up."""
        if self.runner is None:
            return
        self.runner.start()
        head = int(self.care_record.recorder.max_notification_id() or 0)
        if not self.runner.wait_for(head, timeout=catch_up_timeout):
            raise RuntimeError("the curated views did not catch up with the event log")

    def access_writer_alive(self) -> bool:
        thread = getattr(self.access_writer, "_thread", None)
        return thread is None or thread.is_alive()

    def projection_lag(self) -> int:
        """Events in the log the slowest view has not processed yet."""
        return self.reads.readiness().max_lag

    def close(self) -> None:
        self.readiness_probe.close()
        if self.runner is not None:
            self.runner.stop()
        self.access_writer.close()
        self.care_record.close()
        self.databases.close()
