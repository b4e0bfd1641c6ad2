"""Sparse, page-granular guest RAM with per-page access tracking.

The balloon moves pages between guest and host, so the memory model is organised by page
frame: unpopulated pages read as zero (that is what a guest sees after the host reclaimed
a page), and any page can be watched so a monitor learns when the driver touches a page
it has handed to the device.  Every access carries an ``actor`` ("guest" or "host") so
such a monitor can tell the driver from the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, Protocol

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
_PAGE_MASK = PAGE_SIZE - 1

Access = Literal["read", "write"]
WatchCallback = Callable[[int, Access, str], None]
"""Called as ``callback(pfn, access, actor)`` for each watched page an access touches."""


class GuestMemoryError(Exception):
    """An access outside guest RAM; carries the offending range so reports can name it."""

    def __init__(self, addr: int, size: int, limit: int) -> None:
        super().__init__(f"guest memory access [{addr:#x}, +{size:#x}) outside [0, {limit:#x})")
        self.addr = addr
        self.size = size


class MemoryAccess(Protocol):
    """The raw read/write API shared by :class:`GuestMemory` and its actor-bound views, so
    queue code can be handed either."""

    def read(self, addr: int, n: int) -> bytes: ...

    def write(self, addr: int, data: bytes) -> None: ...


class GuestMemory:
    """Guest-physical RAM of ``size`` bytes, populated lazily one page at a time."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError(f"guest memory size must be positive, got {size}")
        self.size = size
        self.num_pages = (size + _PAGE_MASK) >> PAGE_SHIFT
        self._pages: dict[int, bytearray] = {}
        self._watch: dict[int, tuple[WatchCallback, ...]] = {}

    # -- raw access -------------------------------------------------------------------

    def read(self, addr: int, n: int, actor: str = "guest") -> bytes:
        """Read ``n`` bytes at ``addr``; unpopulated pages contribute zeros."""
        if addr < 0 or n < 0 or addr + n > self.size:
            raise GuestMemoryError(addr, n, self.size)
        pfn = addr >> PAGE_SHIFT
        off = addr & _PAGE_MASK
        if off + n <= PAGE_SIZE:  # fast path: the access stays within one page
            if self._watch and pfn in self._watch:
                self._notify(pfn, "read", actor)
            page = self._pages.get(pfn)
            return bytes(n) if page is None else bytes(page[off : off + n])
        out = bytearray()
        while n:
            chunk = min(n, PAGE_SIZE - off)
            if self._watch and pfn in self._watch:
                self._notify(pfn, "read", actor)
            page = self._pages.get(pfn)
            out += bytes(chunk) if page is None else page[off : off + chunk]
            n -= chunk
            pfn += 1
            off = 0
        return bytes(out)

    def write(self, addr: int, data: bytes | bytearray | memoryview, actor: str = "guest") -> None:
        """Write ``data`` at ``addr``, populating the pages it lands on."""
        n = len(data)
        if addr < 0 or addr + n > self.size:
            raise GuestMemoryError(addr, n, self.size)
        pfn = addr >> PAGE_SHIFT
        off = addr & _PAGE_MASK
        pages = self._pages
        if off + n <= PAGE_SIZE:  # fast path: the access stays within one page
            if self._watch and pfn in self._watch:
                self._notify(pfn, "write", actor)
            page = pages.get(pfn)
            if page is None:
                page = pages[pfn] = bytearray(PAGE_SIZE)
            page[off : off + n] = data
            return
        view = memoryview(data).cast("B")
        pos = 0
        while pos < n:
            chunk = min(n - pos, PAGE_SIZE - off)
            if self._watch and pfn in self._watch:
                self._notify(pfn, "write", actor)
            page = pages.get(pfn)
            if page is None:
                page = pages[pfn] = bytearray(PAGE_SIZE)
            page[off : off + chunk] = view[pos : pos + chunk]
            pos += chunk
            pfn += 1
            off = 0

    # -- integer helpers (little-endian unless told otherwise) --------------------------

    def read_u8(self, addr: int, actor: str = "guest", big_endian: bool = False) -> int:
        """Read one byte (``big_endian`` only keeps the helpers' signatures uniform)."""
        return self.read(addr, 1, actor)[0]

    def read_u16(self, addr: int, actor: str = "guest", big_endian: bool = False) -> int:
        """Read a 16-bit unsigned integer."""
        return int.from_bytes(self.read(addr, 2, actor), "big" if big_endian else "little")

    def read_u32(self, addr: int, actor: str = "guest", big_endian: bool = False) -> int:
        """Read a 32-bit unsigned integer."""
        return int.from_bytes(self.read(addr, 4, actor), "big" if big_endian else "little")

    def read_u64(self, addr: int, actor: str = "guest", big_endian: bool = False) -> int:
        """Read a 64-bit unsigned integer."""
        return int.from_bytes(self.read(addr, 8, actor), "big" if big_endian else "little")

    def write_u8(
        self, addr: int, value: int, actor: str = "guest", big_endian: bool = False
    ) -> None:
        """Write one byte; values outside 0..255 raise ``OverflowError`` (``big_endian``
        only keeps the helpers' signatures uniform)."""
        self.write(addr, value.to_bytes(1, "little"), actor)

    def write_u16(
        self, addr: int, value: int, actor: str = "guest", big_endian: bool = False
    ) -> None:
        """Write a 16-bit unsigned integer; out-of-range values raise ``OverflowError``."""
        self.write(addr, value.to_bytes(2, "big" if big_endian else "little"), actor)

    def write_u32(
        self, addr: int, value: int, actor: str = "guest", big_endian: bool = False
    ) -> None:
        """Write a 32-bit unsigned integer; out-of-range values raise ``OverflowError``."""
        self.write(addr, value.to_bytes(4, "big" if big_endian else "little"), actor)

    def write_u64(
        self, addr: int, value: int, actor: str = "guest", big_endian: bool = False
    ) -> None:
        """Write a 64-bit unsigned integer; out-of-range values raise ``OverflowError``."""
        self.write(addr, value.to_bytes(8, "big" if big_endian else "little"), actor)

    # -- page state -------------------------------------------------------------------

    def discard(self, pfn: int) -> None:
        """Host reclaims page ``pfn``: its contents are lost and it reads as zero again.

        Not an access, so watchers are not told."""
        self._check_pfn(pfn)
        self._pages.pop(pfn, None)

    def is_populated(self, pfn: int) -> bool:
        """Whether page ``pfn`` is backed (has been written since the last discard)."""
        self._check_pfn(pfn)
        return pfn in self._pages

    def populated_pfns(self) -> frozenset[int]:
        """Snapshot of the backed page frames."""
        return frozenset(self._pages)

    # -- watching ---------------------------------------------------------------------

    def watch(self, pfns: Iterable[int], callback: WatchCallback) -> None:
        """Call ``callback(pfn, access, actor)`` whenever an access touches one of ``pfns``.

        Several callbacks may watch the same page; each is called once per touched page."""
        watch = self._watch
        for pfn in pfns:
            self._check_pfn(pfn)
            watch[pfn] = (*watch.get(pfn, ()), callback)

    def unwatch(self, pfns: Iterable[int], callback: WatchCallback | None = None) -> None:
        """Stop watching ``pfns``: only for ``callback`` if given, otherwise for everyone."""
        watch = self._watch
        for pfn in pfns:
            if callback is None:
                watch.pop(pfn, None)
                continue
            remaining = tuple(cb for cb in watch.get(pfn, ()) if cb != callback)
            if remaining:
                watch[pfn] = remaining
            else:
                watch.pop(pfn, None)

    def watched_pfns(self) -> frozenset[int]:
        """Snapshot of the page frames that currently have at least one watcher."""
        return frozenset(self._watch)

    def view(self, actor: str) -> MemoryView:
        """The same memory with every access attributed to ``actor``."""
        return MemoryView(self, actor)

    def _notify(self, pfn: int, access: Access, actor: str) -> None:
        for callback in self._watch[pfn]:
            callback(pfn, access, actor)

    def _check_pfn(self, pfn: int) -> None:
        if not 0 <= pfn < self.num_pages:
            raise GuestMemoryError(pfn << PAGE_SHIFT, PAGE_SIZE, self.size)


class MemoryView:
    """A :class:`GuestMemory` bound to one actor, so code handed it cannot mislabel its
    accesses (the device gets ``mem.view("host")``, the driver ``mem.view("guest")``)."""

    __slots__ = ("actor", "memory")

    def __init__(self, memory: GuestMemory, actor: str) -> None:
        self.memory = memory
        self.actor = actor

    def read(self, addr: int, n: int) -> bytes:
        """Read ``n`` bytes at ``addr``."""
        return self.memory.read(addr, n, self.actor)

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``addr``."""
        self.memory.write(addr, data, self.actor)

    def read_u8(self, addr: int, big_endian: bool = False) -> int:
        """Read one byte."""
        return self.memory.read(addr, 1, self.actor)[0]

    def read_u16(self, addr: int, big_endian: bool = False) -> int:
        """Read a 16-bit unsigned integer."""
        return self.memory.read_u16(addr, self.actor, big_endian)

    def read_u32(self, addr: int, big_endian: bool = False) -> int:
        """Read a 32-bit unsigned integer."""
        return self.memory.read_u32(addr, self.actor, big_endian)

    def read_u64(self, addr: int, big_endian: bool = False) -> int:
        """Read a 64-bit unsigned integer."""
        return self.memory.read_u64(addr, self.actor, big_endian)

    def write_u8(self, addr: int, value: int, big_endian: bool = False) -> None:
        """Write one byte."""
        self.memory.write_u8(addr, value, self.actor)

    def write_u16(self, addr: int, value: int, big_endian: bool = False) -> None:
        """Write a 16-bit unsigned integer."""
        self.memory.write_u16(addr, value, self.actor, big_endian)

    def write_u32(self, addr: int, value: int, big_endian: bool = False) -> None:
        """Write a 32-bit unsigned integer."""
        self.memory.write_u32(addr, value, self.actor, big_endian)

    def write_u64(self, addr: int, value: int, big_endian: bool = False) -> None:
        """Write a 64-bit unsigned integer."""
        self.memory.write_u64(addr, value, self.actor, big_endian)
