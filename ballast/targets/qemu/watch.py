"""The monitors' page-access watch on QEMU: who touched a watched page, guest or host.

The in-process machine traps every access to a watched page.  QEMU cannot be asked to,
but both halves can still be seen:

* the guest is the reference driver, and it reaches guest RAM only through the link's
  bus, so ``WatchingBus`` sees every guest access exactly and reports it before it
  happens, as the in-process memory does;
* QEMU's own writes (discarding a page, or any bug that scribbles) are found by content:
  the watch keeps a fingerprint of each watched page (read through the memfd) and
  compares it before every guest access to that page, before every host action
  (``sweep``) and at the end of the test.  A change the guest did not make is reported
  as a host write.

A host write is therefore reported late: at the first of those points after it happened,
but never after a host action that followed it (the host interface sweeps first), so the
monitors still see it on the right side of, say, the host setting DONE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ballast.monitors.events import EventLog, Kind
from ballast.virtio.bus import Bus
from ballast.virtio.memory import PAGE_SHIFT, PAGE_SIZE

Reader = Callable[[int, int], bytes]


class PageWatch:
    """Fingerprints of watched pages; emits observer ``"backdoor"`` PAGE_ACCESS events."""

    def __init__(self, read: Reader, events: EventLog) -> None:
        self._read = read
        self._events = events
        self.pages: dict[int, int] = {}
        """Watched PFN -> fingerprint of its content as last seen."""

    def watch(self, pfns: Iterable[int]) -> None:
        for pfn in pfns:
            self.pages[pfn] = self._fingerprint(pfn)

    def unwatch(self, pfns: Iterable[int]) -> None:
        for pfn in pfns:
            self.pages.pop(pfn, None)

    def sweep(self) -> None:
        """Report every watched page the host changed since it was last seen."""
        for pfn in list(self.pages):
            self._catch_up(pfn)

    def before_guest(self, pfn: int, access: str) -> None:
        """The guest is about to access watched page ``pfn``."""
        self._catch_up(pfn)
        self._events.emit("backdoor", Kind.PAGE_ACCESS, pfn=pfn, access=access, actor="guest")

    def after_guest_write(self, pfn: int) -> None:
        """The guest's write landed: its content is the guest's doing, not the host's."""
        if pfn in self.pages:
            self.pages[pfn] = self._fingerprint(pfn)

    def _catch_up(self, pfn: int) -> None:
        now = self._fingerprint(pfn)
        if pfn in self.pages and now != self.pages[pfn]:
            self.pages[pfn] = now
            self._events.emit("backdoor", Kind.PAGE_ACCESS, pfn=pfn, access="write", actor="host")

    def _fingerprint(self, pfn: int) -> int:
        return hash(self._read(pfn << PAGE_SHIFT, PAGE_SIZE))


class WatchingBus:
    """A ``Bus`` that reports the guest's accesses to watched pages to a ``PageWatch``."""

    __slots__ = ("bus", "watch")

    def __init__(self, bus: Bus, watch: PageWatch) -> None:
        self.bus = bus
        self.watch = watch

    def mem_read(self, addr: int, size: int) -> bytes:
        for pfn in self._watched(addr, size):
            self.watch.before_guest(pfn, "read")
        return self.bus.mem_read(addr, size)

    def mem_write(self, addr: int, data: bytes) -> None:
        touched = self._watched(addr, len(data))
        for pfn in touched:
            self.watch.before_guest(pfn, "write")
        self.bus.mem_write(addr, data)
        for pfn in touched:
            self.watch.after_guest_write(pfn)

    def mmio_read(self, addr: int, width: int) -> int:
        return self.bus.mmio_read(addr, width)

    def mmio_write(self, addr: int, width: int, value: int) -> None:
        self.bus.mmio_write(addr, width, value)

    def io_read(self, port: int, width: int) -> int:
        return self.bus.io_read(port, width)

    def io_write(self, port: int, width: int, value: int) -> None:
        self.bus.io_write(port, width, value)

    def irq_level(self, line: int) -> bool:
        return self.bus.irq_level(line)

    def poll(self, timeout: float = 0.0) -> None:
        self.bus.poll(timeout)

    def _watched(self, addr: int, size: int) -> list[int]:
        pages = self.watch.pages
        if not pages or not size:
            return []
        first, last = addr >> PAGE_SHIFT, (addr + size - 1) >> PAGE_SHIFT
        return [pfn for pfn in range(first, last + 1) if pfn in pages]
