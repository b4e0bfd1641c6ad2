"""The bus-access interface every transport is written against.

A driver-side transport (PCI modern, PCI legacy, MMIO) only ever touches the machine
through this interface, so the same code runs over the in-process machine (reference
device) and over QEMU's qtest protocol.  Guest memory is part of the bus because rings
and buffers live there; the backdoor view used by monitors is the same memory.
"""

from __future__ import annotations

from typing import Protocol


class BusError(Exception):
    """An access the bus cannot carry out (bad width, unmapped port, dead peer)."""


class Bus(Protocol):
    """Guest-physical view of a machine, as a driver running in that machine sees it."""

    def mem_read(self, addr: int, size: int) -> bytes:
        """Read ``size`` bytes of guest RAM at guest-physical ``addr``."""

    def mem_write(self, addr: int, data: bytes) -> None:
        """Write ``data`` to guest RAM at guest-physical ``addr``."""

    def mmio_read(self, addr: int, width: int) -> int:
        """Read a 1, 2, 4 or 8 byte little-endian register at ``addr``."""

    def mmio_write(self, addr: int, width: int, value: int) -> None:
        """Write a 1, 2, 4 or 8 byte little-endian register at ``addr``."""

    def io_read(self, port: int, width: int) -> int:
        """Read a 1, 2 or 4 byte x86 I/O port."""

    def io_write(self, port: int, width: int, value: int) -> None:
        """Write a 1, 2 or 4 byte x86 I/O port."""

    def irq_level(self, line: int) -> bool:
        """Current level of interrupt ``line`` (after processing pending events)."""

    def poll(self, timeout: float = 0.0) -> None:
        """Let the machine make progress (device processing, async IRQ lines) for up to
        ``timeout`` seconds; returns early once something happened."""
