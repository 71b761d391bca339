"""Bounded caches and giving memory back (``carerecord.memory``)."""

from __future__ import annotations

import ctypes.util

import pytest

from carerecord.memory import BoundedCache, MemoryTrimmer, events_bytes, release_memory


def sized(max_items: int, max_bytes: int) -> BoundedCache[str, str]:
    return BoundedCache(max_items=max_items, max_bytes=max_bytes, weigh=len)


def test_the_least_recently_used_values_go_first_when_over_the_count() -> None:
    cache = sized(2, 1_000)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"  # now the most recent
    cache.put("c", "3")
    assert "b" not in cache
    assert cache.get("a") == "1"
    assert cache.get("c") == "3"


def test_a_few_large_values_cannot_grow_it_past_its_bytes() -> None:
    cache = sized(1_000, 100)
    for n in range(10):
        cache.put(str(n), "x" * 40)
    assert len(cache) == 2
    assert cache.bytes == 80
    assert list(map(cache.get, ("8", "9"))) == ["x" * 40] * 2


def test_a_value_grown_in_place_is_weighed_again_when_put_back() -> None:
    cache: BoundedCache[str, list[str]] = BoundedCache(
        max_items=10, max_bytes=10, weigh=lambda v: len(v)
    )
    cache.put("old", ["a"] * 4)
    stream = ["a"]
    cache.put("new", stream)
    assert cache.bytes == 5
    stream.extend(["a"] * 6)
    cache.put("new", stream)
    assert "old" not in cache
    assert cache.bytes == 7


def test_the_newest_value_is_kept_even_alone_over_budget() -> None:
    cache = sized(10, 5)
    cache.put("a", "12")
    cache.put("big", "x" * 50)
    assert len(cache) == 1
    assert cache.get("big") == "x" * 50
    assert cache.pop("big") == "x" * 50
    assert cache.bytes == 0


def test_a_cache_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="room for one value"):
        sized(0, 10)


def test_the_estimate_of_decoded_events_counts_their_text() -> None:
    class Event:
        def __init__(self, text: str | None) -> None:
            self.text = text

    assert events_bytes([Event("x" * 1_000)]) - events_bytes([Event(None)]) == 1_000


@pytest.mark.skipif(ctypes.util.find_library("c") is None, reason="no C library found")
def test_freed_memory_is_given_back_where_the_c_library_is_glibc() -> None:
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim  # noqa: B018
    except AttributeError:
        assert release_memory() is False  # not glibc: a no-op
    else:
        assert release_memory() is True
    trimmer = MemoryTrimmer(every=0.01).start()
    trimmer.stop()  # joins its thread
