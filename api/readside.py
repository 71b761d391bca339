"""Wiring of the read side into the API process: the read repository and, in the embedded
mode, the in-process projection runner (the projections themselves live in ``projections``)."""

from __future__ import annotations

from carerecord.application import CareRecord
from carerecord.db import Databases
from carerecord.settings import Settings
from projections.audience_views import AudienceViewsProjection
from projections.caseload import CaseloadProjection
from projections.concerns import ConcernsProjection
from projections.directory import DirectoryProjection
from projections.involvement import InvolvementProjection
from projections.referrals import ReferralsProjection
from projections.runner import EventLogSource, ProjectionRunner, Waker
from projections.settings import ProjectionSettings


def view_runner(
    settings: Settings,
    care_record: CareRecord,
    databases: Databases,
    projection_settings: ProjectionSettings,
) -> ProjectionRunner:
    """The runner of the curated views over the event log, writing to the ``views`` area."""
    views = databases.views
    source = EventLogSource(care_record)
    channel = source.channel()
    return ProjectionRunner(  # type: ignore[misc]
        source,
        views,
        [
            DirectoryProjection(),
            CaseloadProjection(),
            InvolvementProjection(),
            ReferralsProjection(),
            ConcernsProjection(projection_settings.concern_window),
            AudienceViewsProjection(views, cache_clients=projection_settings.cache_clients),
        ],
        page_size=projection_settings.page_size,
        poll_seconds=projection_settings.poll_seconds,
        waker=None if channel is None or settings.postgres is None else Waker(settings, channel),
    )
