"""The runner folds each page with Python's cyclic garbage collector paused, and puts it
back exactly as it found it (nested, concurrent, failing or already disabled)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence

import pytest
from views_world import GP, SOCIAL_WORKER, World

from carerecord.db import Tx
from projections.engine.framework import Envelope
from projections.engine.runner import EventLogSource, ProjectionRunner, collector_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


class Watcher:
    """A real projection that notes whether the collector ran while it folded a page."""

    name = "watcher"
    tables: tuple[str, ...] = ()

    def __init__(self, *, fail: bool = False) -> None:
        self.seen: list[bool] = []
        self.fail = fail

    def process(self, tx: Tx, items: Sequence[Envelope]) -> None:
        self.seen.append(gc.isenabled())
        if self.fail:
            raise RuntimeError("cannot fold this page")

    def forget(self) -> None:
        pass


@pytest.mark.usefixtures("collector_on")
def test_a_pause_turns_the_collector_off_and_back_on() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_nested_pauses_end_with_the_outermost() -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_a_pause_ended_by_an_error_still_turns_the_collector_back_on() -> None:
    with pytest.raises(ZeroDivisionError), collector_paused():
        _ = 1 / 0
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_overlapping_pauses_in_two_threads_end_with_the_last() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collector_paused():
            second_in.set()
            first_out.wait(5)
            seen["after the first ended"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"after the first ended": False}
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_the_runner_folds_pages_with_the_collector_paused(world: World) -> None:
    client = world.register(GP)
    world.relate(client, SOCIAL_WORKER)
    watcher = Watcher()
    runner = ProjectionRunner(EventLogSource(world.app), world.databases.views, [watcher])
    runner.catch_up()
    assert watcher.seen
    assert not any(watcher.seen)
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_a_failing_page_leaves_the_collector_on(world: World) -> None:
    world.register(GP)
    watcher = Watcher(fail=True)
    runner = ProjectionRunner(EventLogSource(world.app), world.databases.views, [watcher])
    runner.run_once()
    assert watcher.seen == [False]
    assert "watcher" in runner.failures()
    assert gc.isenabled()
