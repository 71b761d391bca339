"""Wiring: the view projections and a runner for them (entry points call this).

Other areas add their projections by passing their own list to ``ProjectionRunner``
(for instance over the access log, writing to the ``access`` area); the view
projections below all read the event log and write to the ``views`` area.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from carerecord.db import Database
from carerecord.settings import Settings
from projections.audience.views import AudienceViewsProjection
from projections.audit.break_glass import BreakGlassReviewProjection
from projections.audit.usage import UsageContributionsProjection
from projections.engine.framework import Projection
from projections.engine.heartbeat import VIEWS, Heartbeat
from projections.engine.runner import EventLogSource, ProjectionRunner
from projections.engine.settings import ProjectionSettings
from projections.engine.waker import Waker
from projections.lists.caseload import CaseloadProjection
from projections.lists.concerns import ConcernsProjection
from projections.lists.directory import DirectoryProjection
from projections.lists.involvement import InvolvementProjection
from projections.lists.referrals import ReferralsProjection

VIEW_NAMES = (
    "directory",
    "audience_views",
    "involvement",
    "caseload",
    "referrals",
    "concerns",
    "break_glass_reviews",  # governance views (0300-0399): projections/audit/
    "usage_contributions",
)


def view_projections(
    views: Database, settings: ProjectionSettings, names: Sequence[str] | None = None
) -> list[Projection]:
    """The curated views and indexes (all of them, or those ``names``)."""
    chosen = VIEW_NAMES if names is None else tuple(names)
    unknown = set(chosen) - set(VIEW_NAMES)
    if unknown:
        raise ValueError(f"unknown view: {sorted(unknown)[0]}")
    builders: dict[str, Callable[[], Projection]] = {
        "directory": lambda: DirectoryProjection(),
        "audience_views": lambda: AudienceViewsProjection(
            views, cache_clients=settings.cache_clients
        ),
        "involvement": lambda: InvolvementProjection(),
        "caseload": lambda: CaseloadProjection(),
        "referrals": lambda: ReferralsProjection(),
        "concerns": lambda: ConcernsProjection(settings.concern_window),
        "break_glass_reviews": lambda: BreakGlassReviewProjection(),
        "usage_contributions": lambda: UsageContributionsProjection(),
    }
    return [builders[name]() for name in VIEW_NAMES if name in chosen]


def view_runner(
    app: Any,
    views: Database,
    settings: ProjectionSettings,
    *,
    core: Settings | None = None,
    names: Sequence[str] | None = None,
    page_size: int | None = None,
    listen: bool = False,
    heartbeat: bool = False,
) -> ProjectionRunner:
    """A runner for the view projections over the application's event log.

    With ``listen`` (and PostgreSQL settings in ``core``) the idle runner wakes on the
    recorder's NOTIFY channel; otherwise it polls every ``poll_seconds``. With
    ``heartbeat`` (a runner that follows the log live) ``run_forever`` writes its
    heartbeat every ``heartbeat_seconds``.
    """
    source = EventLogSource(app)
    waker = None
    channel = source.channel()
    if listen and core is not None and core.postgres is not None and channel is not None:
        waker = Waker(core, channel)
    return ProjectionRunner(
        source,
        views,
        view_projections(views, settings, names),
        page_size=page_size or settings.page_size,
        poll_seconds=settings.poll_seconds,
        waker=waker,
        heartbeat=Heartbeat(views, VIEWS, every=settings.heartbeat_seconds) if heartbeat else None,
    )
