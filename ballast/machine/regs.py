"""How bus accesses reach device registers: address decoding and register tables.

A register model is a :class:`RegisterBlock` mapped into an :class:`AddressMap` (guest
physical memory or I/O ports).  Blocks made of fixed registers describe them in a
:class:`RegisterBank`, which performs every access the way the device would and records
what the spec forbids the driver (wrong width, writing a read-only register, reading a
write-only one, touching an undefined offset) as ``REGISTER_MISUSE`` events with
``problem`` one of "width", "write-to-read-only", "read-of-write-only", "undefined".
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ballast.monitors.events import EventLog, Kind

if TYPE_CHECKING:
    from ballast.virtio.device import VirtioDeviceModel

WIDTH_MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF, 8: 0xFFFFFFFFFFFFFFFF}


class RegisterBlock(Protocol):
    """A device's register window; offsets are relative to where it is mapped."""

    def read(self, offset: int, width: int) -> int: ...

    def write(self, offset: int, width: int, value: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Register:
    """One register: ``read``/``write`` are None where the spec makes it write-/read-only."""

    name: str
    width: int
    read: Callable[[], int] | None = None
    write: Callable[[int], None] | None = None


def attribute(name: str, width: int, obj: object, attr: str, *, readable: bool = True) -> Register:
    """A plain register that stores its value in ``obj.attr`` (MMIO selectors are
    write-only, their PCI counterparts read-write)."""
    return Register(
        name,
        width,
        read=(lambda: getattr(obj, attr)) if readable else None,
        write=lambda v: setattr(obj, attr, v),
    )


def constant(name: str, width: int, value: int) -> Register:
    """A read-only register with a fixed value."""
    return Register(name, width, read=lambda: value)


def queue_address(
    model: VirtioDeviceModel, field: str, names: tuple[str, str], readable: bool
) -> tuple[Register, Register]:
    """The low/high 32-bit register pair of a 64-bit queue address (``field`` of the
    selected queue); PCI lets the driver read them back, MMIO does not."""

    def register(name: str, high: bool) -> Register:
        shift = 32 if high else 0
        return Register(
            name,
            4,
            read=(lambda: model.read_queue(field) >> shift) if readable else None,
            write=lambda v: model.write_queue_half(field, high, v),
        )

    return register(names[0], False), register(names[1], True)


class RegisterBank:
    """Offset-indexed register table of one block (``block`` names it in events)."""

    def __init__(self, block: str, registers: Mapping[int, Register], events: EventLog) -> None:
        self.block = block
        self._registers = dict(registers)
        self._events = events

    def read(self, offset: int, width: int) -> int:
        register = self._registers.get(offset)
        if register is None or register.read is None:
            self._misuse(register, offset, width, "read-of-write-only")
            return 0
        if register.width != width:
            self._misuse(register, offset, width, "width")
        return register.read() & WIDTH_MASKS[width]

    def write(self, offset: int, width: int, value: int) -> None:
        register = self._registers.get(offset)
        if register is None or register.write is None:
            self._misuse(register, offset, width, "write-to-read-only")
            return
        if register.width != width:
            self._misuse(register, offset, width, "width")
        register.write(value)

    def _misuse(self, register: Register | None, offset: int, width: int, problem: str) -> None:
        self._events.emit(
            "device",
            Kind.REGISTER_MISUSE,
            block=self.block,
            register=None if register is None else register.name,
            offset=offset,
            width=width,
            problem="undefined" if register is None else problem,
        )


class AddressMap:
    """Non-overlapping ``[base, base + size)`` windows onto register blocks, looked up by
    bisection with a one-entry cache (the hot path hits the same block repeatedly)."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._windows: dict[int, tuple[int, int, RegisterBlock]] = {}
        self._keys: dict[object, int] = {}
        self._last: tuple[int, int, RegisterBlock] | None = None

    def map(self, key: object, base: int, size: int, block: RegisterBlock) -> None:
        """Map ``block`` at ``base`` under ``key`` (replacing what ``key`` mapped before)."""
        self.unmap(key)
        if base in self._windows:
            raise ValueError(f"{base:#x} is already mapped")
        insort(self._bases, base)
        self._windows[base] = (base, size, block)
        self._keys[key] = base

    def unmap(self, key: object) -> None:
        base = self._keys.pop(key, None)
        if base is None:
            return
        self._bases.remove(base)
        del self._windows[base]
        self._last = None

    def find(self, addr: int) -> tuple[int, int, RegisterBlock] | None:
        """The ``(base, size, block)`` window containing ``addr``, if any."""
        last = self._last
        if last is not None and 0 <= addr - last[0] < last[1]:
            return last
        i = bisect_right(self._bases, addr) - 1
        if i < 0:
            return None
        window = self._windows[self._bases[i]]
        if addr - window[0] < window[1]:
            self._last = window
            return window
        return None
