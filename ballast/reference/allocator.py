"""The guest's page allocator, reduced to what the balloon needs: which pool page is in
which state, handed out as contiguous runs.

A balloon moves up to a million pages per target change, so per-page Python work is kept
out of the common paths: states live in one ``bytearray`` and runs are found with C-speed
scans (``bytearray.find`` and bounded regex searches), never page by page.  The pool holds
bookkeeping only; writing page contents is the driver's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import IntEnum


class PageState(IntEnum):
    """Where a pool page is."""

    FREE = 0  # in the guest's free lists; contents uninitialized
    IN_USE = 1  # a guest application wrote it
    IN_BALLOON = 2  # given to the device by an inflate request (sent or acknowledged)
    HINTED = 3  # hinted free to the device in the current hinting rounds
    REPORTED = 4  # in a free page report the device has not acknowledged yet


_SCANNERS = {
    state: (bytes([state]), re.compile(b"[^" + re.escape(bytes([state])) + b"]"))
    for state in PageState
}
_RUNS = {state: re.compile(re.escape(bytes([state])) + b"+") for state in PageState}


class PagePool:
    """``count`` pages from ``first_pfn``, all FREE at first.  Searches continue where the
    previous one stopped, except that pages just freed are found first.

    A separate poison mark (:meth:`mark_poison`) flags free pages that came back from the
    balloon while PAGE_POISON was negotiated: the guest fills them with ``poison_val`` when
    it reuses them."""

    def __init__(self, first_pfn: int, count: int) -> None:
        self.first_pfn = first_pfn
        self.size = count
        self._state = bytearray(count)
        self._poison = bytearray(count)
        self._counts = {state: 0 for state in PageState}
        self._counts[PageState.FREE] = count
        self._cursor = {state: 0 for state in PageState}

    def count(self, state: PageState) -> int:
        return self._counts[state]

    def state(self, pfn: int) -> PageState:
        return PageState(self._state[self._index(pfn)])

    def find(self, state: PageState, n: int, max_run: int | None = None) -> list[range]:
        """Up to ``n`` pages in ``state`` as PFN runs of at most ``max_run`` pages,
        searching on from where the previous search for ``state`` stopped (next fit)."""
        if n <= 0 or not self._counts[state]:
            return []
        code, other = _SCANNERS[state]
        cells = self._state
        cap = n if max_run is None else max_run
        origin = self._cursor[state]
        runs: list[range] = []
        need = n
        pos = origin
        for low, high in ((origin, self.size), (0, origin)):
            pos = low
            while need:
                start = cells.find(code, pos, high)
                if start < 0:
                    break
                limit = min(high, start + min(need, cap))
                stop = other.search(cells, start, limit)
                pos = limit if stop is None else stop.start()
                runs.append(range(self.first_pfn + start, self.first_pfn + pos))
                need -= pos - start
            if not need:
                break
        self._cursor[state] = pos % self.size
        return runs

    def find_largest(self, state: PageState, n: int, max_run: int) -> list[range]:
        """Up to ``n`` pages in ``state`` from the longest runs first, cut into pieces of at
        most ``max_run`` pages; returned in address order."""
        longest_first = sorted(self.runs(state), key=len, reverse=True)
        pieces = []
        for run in longest_first:
            for start in range(run.start, run.stop, max_run):
                if n <= 0:
                    break
                piece = range(start, min(start + max_run, run.stop, start + n))
                pieces.append(piece)
                n -= len(piece)
        return sorted(pieces, key=lambda piece: piece.start)

    def move(self, runs: Sequence[range], old: PageState, new: PageState) -> int:
        """Move every page of ``runs`` from ``old`` to ``new``; returns the page count.
        A page not in ``old`` is a bookkeeping bug and raises ``ValueError``."""
        cells = self._state
        code = bytes([old])
        fill = bytes([new])
        moved = 0
        for run in runs:
            if not run:
                continue
            start, end = self._index(run.start), self._index(run.stop - 1) + 1
            if cells.count(code, start, end) != end - start:
                raise ValueError(f"pages {run.start:#x}..{run.stop - 1:#x} are not all {old.name}")
            cells[start:end] = fill * (end - start)
            moved += end - start
        self._counts[old] -= moved
        self._counts[new] += moved
        if moved and new is PageState.FREE:  # freed pages are reused first (hot free list)
            self._cursor[new] = min(self._index(run.start) for run in runs if run)
        return moved

    def take(
        self, old: PageState, n: int, new: PageState, max_run: int | None = None
    ) -> list[range]:
        """:meth:`find` then :meth:`move`."""
        runs = self.find(old, n, max_run)
        self.move(runs, old, new)
        return runs

    def runs(self, state: PageState) -> list[range]:
        """Every page in ``state``, as maximal runs in address order."""
        base = self.first_pfn
        return [range(base + m.start(), base + m.end()) for m in _RUNS[state].finditer(self._state)]

    def pfns(self, state: PageState) -> set[int]:
        return {pfn for run in self.runs(state) for pfn in run}

    # -- poison bookkeeping ---------------------------------------------------------------

    def mark_poison(self, runs: Iterable[range], pending: bool) -> None:
        """Set or clear "fill with poison_val before reuse" for ``runs``."""
        flag = b"\x01" if pending else b"\x00"
        for run in runs:
            start = self._index(run.start)
            self._poison[start : start + len(run)] = flag * len(run)

    def poison_pending(self, pfn: int) -> bool:
        return bool(self._poison[self._index(pfn)])

    def _index(self, pfn: int) -> int:
        index = pfn - self.first_pfn
        if not 0 <= index < self.size:
            raise ValueError(f"PFN {pfn:#x} is outside the pool")
        return index
