"""Profession overview: a per-profession summary of a client, by shared category.

The single-assessment overview that health, social care and housing all
contribute to: for each category of the shared taxonomy that has entries the
caller may see, how many there are, which agencies and professions contributed,
the newest entry overall and per contributing profession, and which of the
caller's own profession's headings map to the category (how they would record it).

It is a fold over the caller's curated slice - not a separate table - so it shows
exactly what the caller may see, re-checked at read time, and it is audited as
that slice. (A materialised summary would have to be re-checked entry by entry
at read time anyway, which is what reading the slice already does.)
"""

from __future__ import annotations

from collections.abc import Iterable

from carerecord.protocol import Protocol
from carerecord.slice import SharedEntry
from projections.lists.record import OverviewSection


def _newest(entries: Iterable[SharedEntry]) -> SharedEntry:
    return max(entries, key=lambda e: (e.occurred_at, e.entry_id))


def sections(
    entries: Iterable[SharedEntry], protocol: Protocol, profession: str | None
) -> tuple[OverviewSection, ...]:
    """The overview's sections, in the protocol's category order (empty ones left out)."""
    by_category: dict[str, list[SharedEntry]] = {}
    for entry in entries:
        by_category.setdefault(entry.category, []).append(entry)
    own = protocol.professions.get(profession or "")
    result = []
    for category_id, definition in protocol.categories.items():
        found = by_category.pop(category_id, [])
        if not found:
            continue
        result.append(
            _section(category_id, definition.title, found, own_headings(own, category_id))
        )
    for category_id in sorted(by_category):  # categories an older protocol version had
        found = by_category[category_id]
        result.append(_section(category_id, category_id, found, ()))
    return tuple(result)


def own_headings(profession: object, category: str) -> tuple[str, ...]:
    headings = getattr(profession, "headings", None) or {}
    return tuple(h for h, c in headings.items() if c == category)


def _section(
    category: str, title: str, entries: list[SharedEntry], headings: tuple[str, ...]
) -> OverviewSection:
    newest = _newest(entries)
    by_profession: dict[str, list[SharedEntry]] = {}
    for entry in entries:
        by_profession.setdefault(entry.profession, []).append(entry)
    return OverviewSection(
        category=category,
        title=title,
        headings=headings,
        entry_count=len(entries),
        agencies=tuple(sorted({e.agency_id for e in entries})),
        professions=tuple(sorted(by_profession)),
        last_occurred_at=newest.occurred_at,
        latest=newest,
        latest_by_profession=tuple(_newest(by_profession[p]) for p in sorted(by_profession)),
    )
