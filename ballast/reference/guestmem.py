"""Guest memory as the reference driver sees it: RAM reached through the bus, split into a
driver-private area (rings, request buffers) and the balloonable page pool.

The split matters because QEMU discards inflated pages: anything the driver must keep
(rings, PFN arrays, stats buffers) has to live outside the pages it may hand over.  All
accesses go through the :class:`~ballast.virtio.bus.Bus`, so on the in-process machine
they are attributed to the guest and watchers of guest memory see them, and on QEMU they
become qtest memory commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from ballast.reference.balloon import PFN_SHIFT
from ballast.virtio.bus import Bus
from ballast.virtio.memory import PAGE_SIZE

MiB = 1 << 20
PATTERN_TAG = b"ballast:"  # first half of what a guest application writes into a page
PATTERN_SIZE = 16
_PFN_LIMIT = 1 << 32  # PFNs travel as 32-bit values


class LayoutError(ValueError):
    """A memory layout the driver cannot use (overlap, misalignment, PFNs beyond 32 bits)."""


@dataclass(frozen=True)
class MemoryLayout:
    """Where the driver keeps its own structures and which pages it may balloon.

    The defaults fit QEMU's ``-m 256`` machine: the first MiB is left to firmware and
    legacy holes, the driver-private area follows, and the rest is the pool."""

    private_base: int = 1 * MiB
    private_size: int = 3 * MiB
    pool_base: int = 4 * MiB
    pool_pages: int = (256 - 4) * MiB // PAGE_SIZE

    def __post_init__(self) -> None:
        for name in ("private_base", "private_size", "pool_base"):
            if getattr(self, name) % PAGE_SIZE or getattr(self, name) < 0:
                raise LayoutError(f"{name} {getattr(self, name):#x} is not page-aligned")
        if self.private_size <= 0 or self.pool_pages < 0:
            raise LayoutError("the private area must be non-empty and the pool non-negative")
        private_end = self.private_base + self.private_size
        if self.pool_base < private_end and self.private_base < self.pool_end:
            raise LayoutError("the page pool overlaps the driver-private area")
        if self.pool_end >> PFN_SHIFT > _PFN_LIMIT:
            raise LayoutError(f"pool ends at {self.pool_end:#x}: PFNs exceed 32 bits")

    @property
    def first_pfn(self) -> int:
        return self.pool_base >> PFN_SHIFT

    @property
    def pool_end(self) -> int:
        return self.pool_base + self.pool_pages * PAGE_SIZE

    @classmethod
    def for_ram(cls, ram_bytes: int, private_size: int = 3 * MiB) -> MemoryLayout:
        """The default split for a guest with ``ram_bytes`` of RAM from address 0."""
        pool_base = MiB + private_size
        if ram_bytes <= pool_base:
            raise LayoutError(f"{ram_bytes:#x} bytes of RAM leave no room for a page pool")
        return cls(MiB, private_size, pool_base, (ram_bytes - pool_base) // PAGE_SIZE)


class Arena:
    """Bump allocator over the driver-private area; rebuilt at every (re)initialization, so
    a device sees the same addresses each time."""

    def __init__(self, base: int, size: int) -> None:
        self._next = base
        self._end = base + size

    def alloc(self, nbytes: int, align: int = 16) -> int:
        addr = -(-self._next // align) * align
        if addr + nbytes > self._end:
            raise LayoutError(
                f"driver-private area exhausted allocating {nbytes} bytes "
                f"(ends at {self._end:#x}); enlarge MemoryLayout.private_size"
            )
        self._next = addr + nbytes
        return addr


class BusMemory:
    """Guest RAM through a bus, in the shape ring code expects
    (:class:`~ballast.virtio.memory.MemoryAccess`)."""

    __slots__ = ("_bus",)

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    def read(self, addr: int, n: int) -> bytes:
        return self._bus.mem_read(addr, n)

    def write(self, addr: int, data: bytes) -> None:
        self._bus.mem_write(addr, data)


def page_pattern(pfn: int) -> bytes:
    """What a guest application writes at the start of page ``pfn``: recognisable in a
    memory dump and different for every page."""
    return PATTERN_TAG + pfn.to_bytes(PATTERN_SIZE - len(PATTERN_TAG), "little")


def poison_page(poison_val: int, big_endian: bool = False) -> bytes:
    """A whole page filled with ``poison_val`` stored as guest u32s (guest byte order)."""
    return poison_val.to_bytes(4, "big" if big_endian else "little") * (PAGE_SIZE // 4)
