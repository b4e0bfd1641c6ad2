"""Holding the driver's queue notifications back from QEMU, as the in-process machine's
``defer_notifications`` does for the reference device.

Under TCG QEMU has no ioeventfd, so it handles a queue notification inside the register
write, before qtest answers it: the device can never lag behind the driver on its own.
Tests that need it to (a driver acting on a request the device has not seen yet) set
``defer_notifications``; ``DeferringBus`` then keeps writes to the device's notification
registers and delivers them, in order, at the next ``poll`` - exactly when the in-process
machine would run its deferred notifications.  QEMU sees the same write it would have
seen, only later.  The machine's other knob, ``hold_completions`` (the device takes a
request but its acknowledgement waits), has no QEMU equivalent and says so.

The one queue QEMU does *not* handle inside the write is the free page hint queue: its
handler schedules work on an iothread.  A harness that settles a link by polling until
nothing is left to do would race that thread, so ``poll`` hands the queues notified since
the last poll to ``drain`` (see ``asyncq``), which waits until QEMU has used what the
driver made available - as the in-process device always has by then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ballast.errors import NotObservable
from ballast.virtio.bus import Bus
from ballast.virtio.layout import CapType, Legacy, Mmio
from ballast.virtio.transport import (
    MmioTransport,
    PciLegacyTransport,
    PciModernTransport,
    Transport,
)

NOTIFY_INDEX_MASK = 0xFFFF
"""A notification carries the queue index in its low 16 bits (all of it without
VIRTIO_F_NOTIFICATION_DATA, which QEMU's balloon does not offer)."""


class Window(NamedTuple):
    """Addresses ``start`` <= a < ``end`` in I/O (``io``) or memory space."""

    io: bool
    start: int
    end: int

    def covers(self, io: bool, addr: int) -> bool:
        return io == self.io and self.start <= addr < self.end


def notify_window(transport: Transport) -> Window:
    """Where ``transport``'s driver writes queue notifications."""
    if isinstance(transport, PciModernTransport):
        cap = transport.function.virtio_caps()[CapType.NOTIFY]
        bar = transport.function.bars[cap.bar]
        start = bar.address + cap.offset
        return Window(bar.io, start, start + cap.length)
    if isinstance(transport, PciLegacyTransport):
        start = transport.function.bars[0].address + Legacy.QUEUE_NOTIFY
        return Window(True, start, start + 2)
    if isinstance(transport, MmioTransport):
        start = transport.base + Mmio.QUEUE_NOTIFY
        return Window(False, start, start + 4)
    raise TypeError(f"no notification register known for {type(transport).__name__}")


class DeferringBus:
    """A ``Bus`` that can hold notification writes to ``window`` until ``poll``, and
    lets ``drain`` wait for QEMU's asynchronous queues after delivering them.

    Slotted, so a test reaching for an in-process-machine knob QEMU cannot offer fails
    loudly instead of setting an attribute nobody reads."""

    __slots__ = ("_delivered", "_held", "bus", "defer_notifications", "drain", "window")

    def __init__(self, bus: Bus, drain: Callable[[set[int]], None] | None = None) -> None:
        """``drain(queues)`` is called from ``poll`` with the queues notified since the
        last one, to wait until QEMU has handled what it does off the notify path."""
        self.bus = bus
        self.drain = drain
        self.window: Window | None = None
        self.defer_notifications = False
        self._held: list[tuple[bool, int, int, int]] = []
        self._delivered: set[int] = set()

    @property
    def hold_completions(self) -> bool:
        """Always False: QEMU cannot hold acknowledgements back (see the setter)."""
        return False

    @hold_completions.setter
    def hold_completions(self, value: bool) -> None:
        if value:
            raise NotObservable(
                "QEMU takes a request and acknowledges it inside the same notification write "
                "(TCG has no ioeventfd), so there is no window between the two to test in"
            )

    @property
    def pending_notifications(self) -> int:
        """Notifications held back so far."""
        return len(self._held)

    def mem_read(self, addr: int, size: int) -> bytes:
        return self.bus.mem_read(addr, size)

    def mem_write(self, addr: int, data: bytes) -> None:
        self.bus.mem_write(addr, data)

    def mmio_read(self, addr: int, width: int) -> int:
        return self.bus.mmio_read(addr, width)

    def mmio_write(self, addr: int, width: int, value: int) -> None:
        if not self._held_back(False, addr, width, value):
            self.bus.mmio_write(addr, width, value)

    def io_read(self, port: int, width: int) -> int:
        return self.bus.io_read(port, width)

    def io_write(self, port: int, width: int, value: int) -> None:
        if not self._held_back(True, port, width, value):
            self.bus.io_write(port, width, value)

    def irq_level(self, line: int) -> bool:
        return self.bus.irq_level(line)

    def poll(self, timeout: float = 0.0) -> None:
        """Deliver the held notifications (QEMU handles each inside its write), wait for
        QEMU's asynchronous queues, then let interrupts show up for up to ``timeout``."""
        held, self._held = self._held, []
        for io, addr, width, value in held:
            (self.bus.io_write if io else self.bus.mmio_write)(addr, width, value)
            self._delivered.add(value & NOTIFY_INDEX_MASK)
        delivered, self._delivered = self._delivered, set()
        if delivered and self.drain is not None:
            self.drain(delivered)
        self.bus.poll(0.0 if held else timeout)

    def _held_back(self, io: bool, addr: int, width: int, value: int) -> bool:
        """Whether this write is a notification being held; remembers delivered ones."""
        if self.window is None or not self.window.covers(io, addr):
            return False
        if self.defer_notifications:
            self._held.append((io, addr, width, value))
            return True
        self._delivered.add(value & NOTIFY_INDEX_MASK)
        return False
