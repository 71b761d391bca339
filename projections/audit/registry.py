"""Wiring of the governance read side: the audit projections over the access log, their
runner and rebuild, and the background work of long-running processes.

The projections over the *event log* (break-glass reviews, contribution figures) are
ordinary views (``projections.registry``); those over the *access log* (the access
audit index, read and flow figures) write to the ``access`` area and have their own
runner, started by ``carerecord project`` (and by ``carerecord serve`` when it builds
the views in-process). ``GovernanceTasks`` is that runner plus the checkpoint timer,
as a process runs them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from carerecord.application import CareRecord
from carerecord.audit.checkpoints import (
    ChainBroken,
    Checkpoint,
    CheckpointKeyMissing,
    checkpoint_if_due,
    load_signer,
    trusted_keys,
)
from carerecord.audit.details import ReadDetails
from carerecord.db import Database, Databases
from carerecord.settings import Settings
from carerecord.transient import MAX_BACKOFF_SECONDS, Backoff, is_transient
from projections.audit.index import INDEX, AccessIndexProjection, AccessLogSource
from projections.audit.settings import GovernanceSettings
from projections.audit.usage import READS, UsageReadsProjection
from projections.engine.framework import Projection, RebuildReport, reset_views
from projections.engine.heartbeat import ACCESS_INDEX, Heartbeat
from projections.engine.runner import Progress, ProjectionRunner, describe
from projections.engine.settings import ProjectionSettings

log = logging.getLogger("carerecord.governance")
AUDIT_NAMES = (INDEX, READS)


def audit_projections(app: CareRecord, names: Sequence[str] | None = None) -> list[Projection]:
    """The projections over the access log (all, or those ``names``), sharing one engine."""
    chosen = AUDIT_NAMES if names is None else tuple(names)
    unknown = set(chosen) - set(AUDIT_NAMES)
    if unknown:
        raise ValueError(f"unknown audit projection: {sorted(unknown)[0]}")
    details = ReadDetails(app)
    builders: dict[str, Callable[[], Projection]] = {
        INDEX: lambda: AccessIndexProjection(details),
        READS: lambda: UsageReadsProjection(details),
    }
    return [builders[name]() for name in AUDIT_NAMES if name in chosen]


AUDIT_PAGE = 250
"""Access records read per batch by the live audit runner: a record can name up to a
page of entries, and each needs its details, so a page of 2,000 held a large tail of
the access log in memory at once when the index fell behind."""


def audit_runner(
    app: CareRecord,
    access: Database,
    settings: ProjectionSettings,
    *,
    names: Sequence[str] | None = None,
    page_size: int | None = None,
    heartbeat: Database | None = None,
) -> ProjectionRunner:
    """A runner for the audit projections over the access log (it polls: the access log
    sends no notifications). ``heartbeat``: the ``views`` area, where a runner that
    follows the log live writes its heartbeat."""
    return ProjectionRunner(
        AccessLogSource(access),
        access,
        audit_projections(app, names),
        page_size=min(page_size or settings.page_size, AUDIT_PAGE),
        poll_seconds=settings.poll_seconds,
        heartbeat=None
        if heartbeat is None
        else Heartbeat(heartbeat, ACCESS_INDEX, every=settings.heartbeat_seconds),
    )


def rebuild_audit(
    app: CareRecord,
    access: Database,
    *,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Drop and rebuild the audit projections from the whole access log."""
    projections = audit_projections(app, names)
    reset_views(access, projections)
    runner = ProjectionRunner(AccessLogSource(access), access, projections, page_size=2000)
    started = time.perf_counter()
    done = runner.catch_up(progress)
    return RebuildReport(tuple(p.name for p in projections), done, time.perf_counter() - started)


# --- checkpoints on a timer ---------------------------------------------------------------------


def check_signing_keys(settings: Settings, governance: GovernanceSettings) -> None:
    """At start-up, when the checkpoint timer is on: a signing key is configured in production,
    and the configured key files (``CARERECORD_CHECKPOINT_KEY`` and the trusted public keys)
    can be read and are Ed25519 keys. ``CheckpointKeyMissing`` (with its ``reason``) if not."""
    if governance.checkpoint_every is None:
        return
    if not (governance.generate_signing_key or governance.signing_key_configured):
        raise CheckpointKeyMissing(reason="not_configured")  # production: configure one
    if governance.signing_key_configured:
        load_signer(settings, create=False)
    trusted_keys(settings)


class CheckpointTimer:
    """Signs checkpoints of both logs when due (``checkpoint_if_due``), off the request path.

    A broken chain is logged as an error on every attempt (alert on it) and nothing is
    signed for it; the timer keeps running.
    """

    def __init__(
        self,
        settings: Settings,
        databases: Databases,
        governance: GovernanceSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        every = governance.checkpoint_every
        if every is None:
            raise ValueError("the checkpoint timer is off (CARERECORD_CHECKPOINT_EVERY_SECONDS=0)")
        self.generate_key = governance.generate_signing_key
        check_signing_keys(settings, governance)
        self.settings = settings
        self.databases = databases
        self.every = every
        self.tick = governance.checkpoint_tick
        self.clock = clock
        self.signed = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[Checkpoint]:
        signer = load_signer(self.settings, create=self.generate_key)
        if signer is None:  # removed since start-up
            raise CheckpointKeyMissing(reason="not_configured")
        try:
            signed = checkpoint_if_due(
                self.settings,
                self.databases,
                signer,
                now=self.clock(),
                every=self.every,
                trusted=trusted_keys(self.settings),
            )
        except ChainBroken as exc:
            self.last_error = exc.code
            log.error(
                "checkpoint refused: %s in the %s log at position %s (%s)",
                exc.code,
                exc.fields.get("log"),
                exc.fields.get("position"),
                exc.fields.get("kind"),
            )
            return []
        self.last_error = None
        for checkpoint in signed:
            log.info(
                "signed a checkpoint of the %s log at position %d",
                checkpoint.log,
                checkpoint.position,
            )
        self.signed += len(signed)
        return signed

    def _run(self) -> None:
        # A store outage must not end the timer. A transient error is retried sooner
        # than the next tick (capped back-off), so a checkpoint that fell due during
        # the outage is signed soon after it, and ``health()`` stops reporting failure.
        backoff = Backoff(0.5, cap=min(MAX_BACKOFF_SECONDS, self.tick))
        while not self._stop.is_set():
            pause = self.tick
            try:
                self.run_once()
                backoff.reset()
            except Exception as exc:
                self.last_error = type(exc).__name__
                if is_transient(exc):
                    pause = backoff.next()
                    log.warning(
                        "checkpoint timer: database unavailable, retrying in %.1f s: %s",
                        pause,
                        describe(exc),
                    )
                else:
                    log.error("checkpoint timer: %s", describe(exc))
            self._stop.wait(pause)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


class GovernanceTasks:
    """What a long-running process runs for governance: the audit runner (``index``) and
    the checkpoint timer (unless turned off). ``close()`` stops both."""

    def __init__(
        self,
        app: CareRecord,
        settings: Settings,
        databases: Databases,
        projection_settings: ProjectionSettings,
        governance: GovernanceSettings,
        *,
        index: bool,
    ) -> None:
        self.runner = (
            audit_runner(app, databases.access, projection_settings, heartbeat=databases.views)
            if index
            else None
        )
        self.timer = (
            None
            if governance.checkpoint_every is None
            else CheckpointTimer(settings, databases, governance)
        )

    def catch_up(self) -> int:
        """Bring the audit projections up to the access log's head (``ProjectionFailed`` if
        one stops); returns the access records read."""
        return 0 if self.runner is None else self.runner.catch_up()

    def failures(self) -> dict[str, str]:
        return {} if self.runner is None else self.runner.failures()

    def health(self) -> dict[str, bool]:
        """For each task this process runs, whether it is failing now: ``audit_index``
        (an audit projection stopped on an error) and ``checkpoints`` (the timer's last
        attempt failed - a broken chain, or the store unreachable)."""
        found: dict[str, bool] = {}
        if self.runner is not None:
            found["audit_index"] = bool(self.runner.failures())
        if self.timer is not None:
            found["checkpoints"] = self.timer.last_error is not None
        return found

    def start(self) -> GovernanceTasks:
        if self.runner is not None:
            self.runner.start()
        if self.timer is not None:
            self.timer.start()
        return self

    def close(self) -> None:
        if self.timer is not None:
            self.timer.stop()
        if self.runner is not None:
            self.runner.stop()
