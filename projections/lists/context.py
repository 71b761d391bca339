"""What the list and feed reads are given: the view readers, settings and the write model.

The repository builds one ``ReadContext`` and hands it to the reads in ``reads``
and ``projections.feed.reads``, so they depend on the readers they use, not on
the repository (which imports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from projections.audience.reader import AudienceViewReader
from projections.engine.settings import ProjectionSettings
from projections.lists.readers import (
    CaseloadReader,
    ConcernsReader,
    DirectoryReader,
    InvolvementReader,
    ReferralsReader,
)

if TYPE_CHECKING:
    from carerecord.application import CareRecord


@dataclass(frozen=True)
class ReadContext:
    """The readers of the views, the read settings, and ``app`` for the read-time
    state (``load_client``, ``protocol``, the clock)."""

    app: CareRecord
    settings: ProjectionSettings
    audience: AudienceViewReader
    directory: DirectoryReader
    involvement_index: InvolvementReader
    caseloads: CaseloadReader
    referral_rows: ReferralsReader
    concern_rows: ConcernsReader
