"""Refusals specific to the read side (part of the one error family, stable codes)."""

from __future__ import annotations

from carerecord.errors import CareRecordError


class ViewsBehind(CareRecordError):
    """The curated views have not yet caught up with a protocol change; retry shortly.

    Raised instead of answering from a view built under an older protocol version,
    so that every read can be replayed exactly by the auditors (HTTP 503-like).
    """

    code = "VIEWS_BEHIND"
    message = "The record views are being updated; please retry in a moment."


class ProjectionFailed(Exception):
    """A projection stopped on an error (it never skips an event); see its health."""

    def __init__(self, name: str, position: int, error: str) -> None:
        super().__init__(f"projection {name} stopped after position {position}: {error}")
        self.name = name
        self.position = position
        self.error = error
