"""The reference driver's page pool: run finding, state moves, and the "freed pages first"
search order, checked against a plain per-page model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.reference.allocator import PagePool, PageState

FREE, IN_USE, IN_BALLOON = PageState.FREE, PageState.IN_USE, PageState.IN_BALLOON
BASE = 0x400


def pages(runs: list[range]) -> list[int]:
    return [pfn for run in runs for pfn in run]


def test_take_continues_where_the_last_search_stopped() -> None:
    pool = PagePool(BASE, 100)
    assert pool.take(FREE, 30, IN_BALLOON) == [range(BASE, BASE + 30)]
    assert pool.take(FREE, 30, IN_BALLOON) == [range(BASE + 30, BASE + 60)]
    assert pool.count(IN_BALLOON) == 60 and pool.count(FREE) == 40


def test_search_wraps_around_once() -> None:
    pool = PagePool(BASE, 10)
    pool.take(FREE, 8, IN_USE)
    pool.move([range(BASE + 2, BASE + 4)], IN_USE, FREE)  # freed: searched first
    pool.take(FREE, 1, IN_USE)
    assert pool.find(FREE, 10) == [range(BASE + 3, BASE + 4), range(BASE + 8, BASE + 10)]


def test_max_run_cuts_runs() -> None:
    pool = PagePool(BASE, 10)
    assert pool.find(FREE, 7, max_run=3) == [
        range(BASE, BASE + 3),
        range(BASE + 3, BASE + 6),
        range(BASE + 6, BASE + 7),
    ]


def test_freed_pages_are_found_first() -> None:
    pool = PagePool(BASE, 100)
    pool.take(FREE, 90, IN_BALLOON)
    pool.move([range(BASE + 10, BASE + 20)], IN_BALLOON, FREE)
    assert pool.find(FREE, 5) == [range(BASE + 10, BASE + 15)]


def test_find_largest_prefers_long_runs_and_keeps_address_order() -> None:
    pool = PagePool(BASE, 100)
    pool.take(FREE, 100, IN_USE)
    for start, length in ((5, 3), (20, 40), (70, 10)):
        pool.move([range(BASE + start, BASE + start + length)], IN_USE, FREE)
    assert pool.find_largest(FREE, 45, max_run=16) == [
        range(BASE + 20, BASE + 36),
        range(BASE + 36, BASE + 52),
        range(BASE + 52, BASE + 60),
        range(BASE + 70, BASE + 75),
    ]


def test_move_refuses_pages_in_another_state() -> None:
    pool = PagePool(BASE, 10)
    pool.take(FREE, 2, IN_USE)
    with pytest.raises(ValueError, match="not all IN_BALLOON"):
        pool.move([range(BASE, BASE + 3)], IN_BALLOON, FREE)
    with pytest.raises(ValueError, match="outside the pool"):
        pool.state(BASE + 10)


def test_poison_marks() -> None:
    pool = PagePool(BASE, 10)
    pool.mark_poison([range(BASE + 1, BASE + 3)], True)
    assert [pool.poison_pending(BASE + i) for i in range(4)] == [False, True, True, False]
    pool.mark_poison([range(BASE + 2, BASE + 3)], False)
    assert not pool.poison_pending(BASE + 2)


def test_empty_pool() -> None:
    pool = PagePool(BASE, 0)
    assert pool.find(FREE, 5) == [] and pool.runs(FREE) == []


operations = st.lists(
    st.tuples(
        st.sampled_from(list(PageState)),
        st.sampled_from(list(PageState)),
        st.integers(0, 40),
        st.one_of(st.none(), st.integers(1, 9)),
        st.booleans(),
    ),
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(operations)
def test_pool_matches_a_per_page_model(
    ops: list[tuple[PageState, PageState, int, int | None, bool]],
) -> None:
    pool = PagePool(BASE, 64)
    model = dict.fromkeys(range(BASE, BASE + 64), FREE)
    for old, new, n, max_run, largest in ops:
        runs = pool.find_largest(old, n, max_run or 64) if largest else pool.find(old, n, max_run)
        found = pages(runs)
        assert len(found) == len(set(found)) == min(n, pool.count(old))
        assert all(model[pfn] is old for pfn in found)
        assert all(len(run) <= (max_run or 64) for run in runs)
        assert pool.move(runs, old, new) == len(found)
        model.update(dict.fromkeys(found, new))
        for state in PageState:
            expected = {pfn for pfn, s in model.items() if s is state}
            assert pool.pfns(state) == expected and pool.count(state) == len(expected)
