"""Governance work in the API process: the checkpoint timer, and - when the views are built
in-process (``CARERECORD_IN_PROCESS_PROJECTIONS=1``) - the access audit index runner.

``carerecord serve`` starts it through the app's ``on_start`` hook (``api.server``);
a deployment with separate ``carerecord project`` workers gets the index from them
(they run the timer too). The resolvers find the governance settings (the break-glass
review period) in ``services.extras``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.graphql.governance import SETTINGS_KEY
from api.services import Services
from projections.audit.registry import GovernanceTasks
from projections.audit.settings import GovernanceSettings

TASKS_KEY = "governance_tasks"


class Started:
    """What ``start_governance`` started, and whatever else must close with it."""

    def __init__(self, tasks: GovernanceTasks, also: Any = None) -> None:
        self.tasks = tasks
        self.also = also

    def close(self) -> None:
        self.tasks.close()
        close = getattr(self.also, "close", None)
        if callable(close):
            close()


def start_governance(
    services: Services, *, governance: GovernanceSettings | None = None, also: Any = None
) -> Started:
    """Start the governance tasks of this API process (see the module docstring)."""
    settings = governance or GovernanceSettings.from_env()
    tasks = GovernanceTasks(
        services.care_record,
        services.settings,
        services.databases,
        services.reads.settings,
        settings,
        index=services.api.in_process_projections,
    ).start()
    services.extras[SETTINGS_KEY] = settings
    services.extras[TASKS_KEY] = tasks
    return Started(tasks, also)


def governance_hook(
    governance: GovernanceSettings | None = None,
    then: Callable[[Services], Any] | None = None,
) -> Callable[[Services], Any]:
    """An ``on_start`` hook for ``create_app``: ``then`` (if any), then the governance tasks."""

    def hook(services: Services) -> Started:
        also = None if then is None else then(services)
        return start_governance(services, governance=governance, also=also)

    return hook


def governance_failures(services: Services) -> dict[str, bool]:
    """The governance tasks this process runs and whether each is failing (for metrics)."""
    tasks = services.extras.get(TASKS_KEY)
    return tasks.health() if isinstance(tasks, GovernanceTasks) else {}
