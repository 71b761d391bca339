"""Audience views: for each client, what each audience may see, and the audience feed.

The thin I/O side of the projection (the fold is in ``fold``): per batch
it loads the working states of the clients the batch touches in bulk (only the
per-client summary for most events; every entry only for events that need them -
consent and restriction changes, new relationships, corrections), folds the
events in log order, and writes the net changes once. Working states stay cached
between batches (bounded), so a steady stream of events costs no reads at all;
the cache is dropped whenever a batch is rolled back.

Directory and protocol events are folded into the projection's own copy of the
directory and protocol (``av_state``), in log order, so the views never depend on
another projection's progress. A change of a practitioner's roles or teams checks
the audiences of every client they are involved with; a new protocol version
re-decides every client.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from carerecord.db import Database, Tx
from carerecord.protocol import parse_protocol
from carerecord.sharing_protocol import SharingProtocol
from projections.audience.core import REGISTRY_LIMIT, Changes, ClientWork, Context
from projections.audience.fold import (
    CLIENT_PREFIX,
    NEEDS_FULL,
    REGISTERED,
    apply,
    apply_directory,
    ensure_audiences,
    recompute,
    regroup,
)
from projections.audience.store import AudienceStore, audience_store
from projections.engine.framework import Envelope
from projections.engine.rows import chunks

NAME = "audience_views"
MAX_CACHED_ENTRIES = 400_000


class AudienceViewsProjection:
    """Keeps the ``av_*`` tables: audience views, audiences and the audience feed."""

    name = NAME
    tables = (
        "av_feed",
        "av_visible",
        "av_entries",
        "av_relationships",
        "av_client_audiences",
        "av_clients",
        "av_audiences",
        "av_state",
    )

    def __init__(self, db: Database, *, cache_clients: int = 5000) -> None:
        self.store: AudienceStore = audience_store(db)
        self.cache_clients = cache_clients
        self._ctx: Context | None = None
        self._next_no = 1
        self._cache: OrderedDict[str, ClientWork] = OrderedDict()
        self._by_no: dict[int, ClientWork] = {}

    def forget(self) -> None:
        self._ctx = None
        self._cache.clear()
        self._by_no.clear()

    # --- a batch -----------------------------------------------------------------------

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        if self._ctx is None:
            self._ctx, self._next_no = self.store.load_context(tx)
        ctx = self._ctx
        client_ids = self._prefetch(tx, items)
        out = Changes()
        for item, client_id in zip(items, client_ids, strict=True):
            topic = item.topic
            if client_id is not None:
                if topic == REGISTERED:
                    work = ClientWork(self._next_no, client_id, 0, new=True)
                    self._next_no += 1
                    self._remember(work)
                else:
                    work = self._cache.get(client_id) or self._load(tx, client_id)
                    if topic in NEEDS_FULL and not work.full:
                        self._flush(tx, out)
                        self._load_full(tx, [work])
                apply(work, topic, item.event, item.position, ctx, out)
            elif isinstance(item.event, SharingProtocol.VersionAdopted):
                ctx.set_protocol(parse_protocol(item.event.document), item.event.document)
                self._protocol_changed(tx, item.position, out)
            else:
                affected = apply_directory(ctx, item.event)
                if affected is not None:
                    self._directory_changed(tx, affected, item.position, out)
        self._flush(tx, out, final=True)
        self._evict()

    def _prefetch(self, tx: Tx, items: Sequence[Envelope]) -> list[str | None]:
        """Load, in bulk, the working states the batch's client events will need; returns
        each item's client id (None for events of other streams)."""
        registered: set[str] = set()
        wanted: dict[str, bool] = {}
        client_ids: list[str | None] = []
        for item in items:
            topic = item.topic
            if not topic.startswith(CLIENT_PREFIX):
                client_ids.append(None)
                continue
            client_id = str(item.originator_id)
            client_ids.append(client_id)
            if topic == REGISTERED:
                registered.add(client_id)
            elif client_id not in registered:
                wanted[client_id] = wanted.get(client_id, False) or topic in NEEDS_FULL
        missing = [c for c in wanted if c not in self._cache]
        if missing:
            for work in self.store.load_clients(tx, "client_id", missing):
                self._remember(work)
            unknown = [c for c in missing if c not in self._cache]
            if unknown:
                raise LookupError(f"events for {len(unknown)} clients never registered")
        for client_id in wanted:
            self._cache.move_to_end(client_id)
        self._load_full(tx, [self._cache[c] for c, full in wanted.items() if full])
        return client_ids

    def _load(self, tx: Tx, client_id: str) -> ClientWork:
        """A client evicted mid-batch (after a flush, so the tables are current)."""
        for work in self.store.load_clients(tx, "client_id", [client_id]):
            self._remember(work)
        return self._cache[client_id]

    def _remember(self, work: ClientWork) -> None:
        self._cache[work.client_id] = work
        self._by_no[work.no] = work

    def _flush(self, tx: Tx, out: Changes, *, final: bool = False) -> None:
        assert self._ctx is not None
        written = [
            (c, s.labels.entry_id)
            for (c, _), s in (
                *out.new_entries.items(),
                *((k, v[0]) for k, v in out.updated_entries.items()),
            )
            if s.text
        ]
        self.store.write(tx, self._ctx, out, context=final)
        # Once written, an entry's text is never read back from the working state (see
        # audience_core): drop it, so the cache's size does not depend on how long
        # entries are (cached states loaded from the tables carry no text either).
        by_no = self._by_no
        for client_no, entry_id in written:
            work = by_no.get(client_no)
            if work is None:
                continue
            state = work.entries.get(entry_id)
            if state is not None and state.text:
                work.entries[entry_id] = replace(state, text="")

    def _evict(self) -> None:
        while len(self._cache) > self.cache_clients:
            _, work = self._cache.popitem(last=False)
            del self._by_no[work.no]
        if self._ctx is not None and self._ctx.registry_size() > REGISTRY_LIMIT:
            self._ctx.reset_registries()
            for work in self._cache.values():  # reloaded and regrouped when next needed
                work.full = False
                work.entries, work.entry_no = {}, {}
                work.sig, work.groups = {}, {}
                work.sharing_changed()
        cached = sum(len(w.entries) for w in self._cache.values())
        for work in self._cache.values():
            if cached <= MAX_CACHED_ENTRIES:
                break
            cached -= len(work.entries)
            work.full = False
            work.entries, work.entry_no = {}, {}
            work.sig, work.groups = {}, {}

    def _works(self, tx: Tx, client_nos: Sequence[int]) -> list[ClientWork]:
        """Full working states for these clients (cached ones first, the rest loaded)."""
        missing = [n for n in client_nos if n not in self._by_no]
        for part in chunks(missing):
            for work in self.store.load_clients(tx, "client_no", part):
                self._remember(work)
        works = [self._by_no[n] for n in client_nos]
        self._load_full(tx, works)
        return works

    def _load_full(self, tx: Tx, works: Sequence[ClientWork]) -> None:
        assert self._ctx is not None
        loading = [w for w in works if not w.full]
        self.store.load_full(tx, loading)
        for work in loading:
            regroup(work, self._ctx)

    # --- directory and protocol ----------------------------------------------------------

    def _directory_changed(
        self, tx: Tx, affected: tuple[str, str, frozenset[str]], position: int, out: Changes
    ) -> None:
        """Check the audiences of every client the practitioner (or their teams) is
        involved with (found in the projection's own relationship table)."""
        assert self._ctx is not None
        practitioner_id, agency_id, teams = affected
        self._flush(tx, out)  # so the tables hold every relationship (and entry) seen so far
        nos = self.store.involved_client_nos(tx, practitioner_id, agency_id, teams)
        for work in self._works(tx, nos):
            ensure_audiences(work, position, self._ctx, out)
            out.clients[work.no] = work

    def _protocol_changed(self, tx: Tx, position: int, out: Changes) -> None:
        assert self._ctx is not None
        self._flush(tx, out)
        for part in chunks(self.store.all_client_nos(tx), 1000):
            for work in self._works(tx, part):
                ensure_audiences(work, position, self._ctx, out)
                recompute(work, position, self._ctx, out)
                out.clients[work.no] = work
            self._flush(tx, out)
            self._evict()


def views_protocol_version(tx: Tx) -> int | None:
    """The protocol version the audience views were last decided with."""
    value: Any = tx.scalar("SELECT value FROM av_state WHERE name = 'protocol_version'")
    return None if value is None else int(bytes(value).decode())
