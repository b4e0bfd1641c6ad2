"""The driver-side transport interface and the parts the PCI and MMIO transports share.

A transport only moves values between the driver and the device's registers over a
:class:`~ballast.virtio.bus.Bus`; it carries bytes, never interprets device config (on
legacy links of a big-endian guest the driver swaps what :meth:`Transport.config_read`
returns).  Every access it makes is one QEMU's qtest carries: aligned 1/2/4/8-byte MMIO,
1/2/4-byte port I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

from ballast.virtio.bus import Bus
from ballast.virtio.layout import ISR_CONFIG, ISR_VRING
from ballast.virtio.splitq import avail_ring_bytes, legacy_layout

RESET_POLLS = 1000
"""Reads of a reset register before giving up (with a 1 ms bus poll between reads)."""
PROBE_QUEUE_LIMIT = 1024  # QEMU's VIRTIO_QUEUE_MAX: no transport counts beyond it


class TransportError(Exception):
    """The device cannot be driven as asked: not found, the wrong kind, a ring layout
    the interface cannot express, or a reset that never completes."""


class Transport(Protocol):
    """What a driver needs from a transport, independent of PCI or MMIO."""

    name: str
    """"pci-modern", "pci-legacy", "mmio-v1" or "mmio-v2"."""
    legacy: bool
    irq_line: int | None
    """Interrupt line the device raises, or None where the machine does not say."""

    def reset(self) -> None:
        """Write status 0; on modern links also wait until it reads back 0."""

    def get_status(self) -> int: ...

    def set_status(self, value: int) -> None: ...

    def device_features(self) -> int:
        """Offered features: 64 bits on modern links, 32 on legacy ones."""

    def set_driver_features(self, features: int) -> None: ...

    def config_generation(self) -> int:
        """Config atomicity value (always 0 on legacy links, which have none)."""

    def config_read(self, offset: int, size: int) -> int:
        """Read a 1/2/4/8-byte device config field (8 as two 32-bit halves, low first)."""

    def config_write(self, offset: int, size: int, value: int) -> None: ...

    def num_queues(self) -> int: ...

    def queue_max_size(self, index: int) -> int:
        """Maximum size of queue ``index``; 0 if the queue does not exist."""

    def setup_queue(self, index: int, size: int, desc: int, avail: int, used: int) -> None:
        """Tell the device where queue ``index`` lives (it is not live yet)."""

    def enable_queue(self, index: int) -> None:
        """Make queue ``index`` live."""

    def reset_queue(self, index: int, check: bool = True) -> None:
        """Reset one queue (VIRTIO_F_RING_RESET; PCI modern and MMIO v2 only) and, unless
        ``check`` is False, read the register back until the device shows it done."""

    def notify(self, index: int) -> None:
        """Available buffer notification for queue ``index``."""

    def ack_interrupt(self) -> set[str]:
        """Read and acknowledge the interrupt reasons: subset of {"vring", "config"}."""


class Window:
    """A register block on the bus: ``base`` in MMIO space or in I/O port space."""

    __slots__ = ("_read", "_write", "base")

    def __init__(self, bus: Bus, base: int, io: bool) -> None:
        self.base = base
        self._read = bus.io_read if io else bus.mmio_read
        self._write = bus.io_write if io else bus.mmio_write

    def read(self, offset: int, width: int) -> int:
        return self._read(self.base + offset, width)

    def write(self, offset: int, width: int, value: int) -> None:
        self._write(self.base + offset, width, value)


def interrupt_reasons(isr: int) -> set[str]:
    """Decode ISR status / InterruptStatus (undefined bits are ignored)."""
    reasons = set()
    if isr & ISR_VRING:
        reasons.add("vring")
    if isr & ISR_CONFIG:
        reasons.add("config")
    return reasons


def feature_words(legacy: bool) -> tuple[int, ...]:
    """Feature words a link carries: legacy links have bits 0-31 only."""
    return (0,) if legacy else (0, 1)


def check_legacy_features(features: int) -> None:
    if features >> 32:
        raise TransportError(f"the legacy interface carries bits 0-31 only: {features:#x}")


def read_features(window: Window, select: int, value: int, words: tuple[int, ...]) -> int:
    """Feature bits through a select/value register pair, one 32-bit word at a time."""
    features = 0
    for word in words:
        window.write(select, 4, word)
        features |= window.read(value, 4) << (32 * word)
    return features


def write_features(
    window: Window, select: int, value: int, features: int, words: tuple[int, ...]
) -> None:
    """Write feature bits through a select/value register pair."""
    for word in words:
        window.write(select, 4, word)
        window.write(value, 4, features >> (32 * word) & 0xFFFFFFFF)


def write_address(window: Window, low: int, address: int, high_first: bool = False) -> None:
    """A 64-bit queue address as two 32-bit registers, low then high (or, as the spec
    lets a PCI driver, high then low)."""
    halves = [(low, address & 0xFFFFFFFF), (low + 4, address >> 32)]
    for offset, value in reversed(halves) if high_first else halves:
        window.write(offset, 4, value)


def legacy_placement(
    size: int, desc: int, avail: int, used: int, page_size: int, align: int | None = None
) -> tuple[int, int]:
    """Check that a ring is in the legacy layout (one contiguous block from a page
    boundary, used ring at the next Queue Align boundary) and return its 32-bit page
    number and Queue Align.

    With ``align`` None it is inferred: the page size if that places the used ring where
    it is (the usual choice), else the smallest power of two >= 4 that does; otherwise
    the layout must match ``align``."""
    avail_end = avail + avail_ring_bytes(size)
    if align is None:
        fits_page = -(-avail_end // page_size) * page_size == used
        align = page_size if fits_page else max(4, 1 << max(used - avail_end, 0).bit_length())
    pfn, misplaced = divmod(desc, page_size)
    if misplaced or not 0 < pfn <= 0xFFFFFFFF:
        raise TransportError(
            f"legacy rings start on a {page_size}-byte page with a non-zero 32-bit number: "
            f"desc {desc:#x}"
        )
    try:
        expected = legacy_layout(size, desc, align)
    except ValueError as error:
        raise TransportError(f"ring cannot be expressed in the legacy layout: {error}") from None
    if (expected.avail, expected.used) != (avail, used):
        raise TransportError(
            f"legacy layout of a {size}-entry ring at {desc:#x} (Queue Align {align}) puts "
            f"avail at {expected.avail:#x} and used at {expected.used:#x}, "
            f"not {avail:#x} and {used:#x}"
        )
    return pfn, align


def wait_for_zero(bus: Bus, read: Callable[[], int], what: str) -> None:
    """Poll ``read`` until it returns 0 (bounded), letting the machine progress."""
    for _ in range(RESET_POLLS):
        if read() == 0:
            return
        bus.poll(0.001)
    raise TransportError(f"{what} did not complete after {RESET_POLLS} reads")


def _check_field(offset: int, size: int, aligned: bool) -> None:
    if size not in (1, 2, 4, 8):
        raise ValueError(f"config fields are 1, 2, 4 or 8 bytes wide, not {size}")
    if aligned and offset % min(size, 4):
        raise ValueError(f"{size}-byte config field at {offset:#x} is not aligned")


class BaseTransport(ABC):
    """Behaviour the transports share; subclasses supply the register accesses.

    ``config`` is the device-specific configuration window (None when the device has
    none); ``config_aligned`` is False only for the legacy PCI header, where any width
    at any offset is allowed."""

    name: str
    legacy: bool

    def __init__(
        self, bus: Bus, config: Window | None, irq_line: int | None, config_aligned: bool = True
    ) -> None:
        self.bus = bus
        self.irq_line = irq_line
        self._config = config
        self._config_aligned = config_aligned

    @abstractmethod
    def get_status(self) -> int: ...

    @abstractmethod
    def set_status(self, value: int) -> None: ...

    @abstractmethod
    def queue_max_size(self, index: int) -> int: ...

    def reset(self) -> None:
        self.set_status(0)
        if not self.legacy:
            wait_for_zero(self.bus, self.get_status, f"{self.name} device reset")

    def config_generation(self) -> int:
        return 0

    def num_queues(self) -> int:
        """Queues counted up to the first absent one (transports without a register
        for the count; queues are numbered densely)."""
        count = 0
        while count < PROBE_QUEUE_LIMIT and self.queue_max_size(count):
            count += 1
        return count

    def reset_queue(self, index: int, check: bool = True) -> None:
        raise TransportError(f"{self.name} has no queue reset")

    def config_read(self, offset: int, size: int) -> int:
        window = self._config_window(offset, size)
        if size == 8:
            return window.read(offset, 4) | window.read(offset + 4, 4) << 32
        return window.read(offset, size)

    def config_write(self, offset: int, size: int, value: int) -> None:
        window = self._config_window(offset, size)
        if not 0 <= value < 1 << (8 * size):
            raise ValueError(f"{value:#x} does not fit a {size}-byte config field")
        if size == 8:
            window.write(offset, 4, value & 0xFFFFFFFF)
            window.write(offset + 4, 4, value >> 32)
        else:
            window.write(offset, size, value)

    def _config_window(self, offset: int, size: int) -> Window:
        _check_field(offset, size, self._config_aligned)
        if self._config is None:
            raise TransportError(f"{self.name} device has no device-specific configuration")
        return self._config
