"""An in-process machine: guest RAM, port I/O, MMIO and interrupt lines behind the
:class:`~ballast.virtio.bus.Bus` interface, with virtio devices attached as register
models over a :class:`~ballast.virtio.device.VirtioDeviceModel`.

Device processing is synchronous - the backend's ``queue_notify`` runs inside the
driver's notify write - unless ``defer_notifications`` is set, in which case
notifications queue up until :meth:`InProcessMachine.poll`, so a test can hold the
device back.  Accesses QEMU's qtest would not carry (bad widths, misaligned MMIO) raise
:class:`~ballast.virtio.bus.BusError`, keeping driver code portable to the qtest bus.
Unassigned addresses behave as on QEMU: memory reads 0, ports read all-ones, writes are
dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ballast.machine.mmio import (
    MMIO_BLOCK_SIZE,
    DecoyKind,
    MmioDecoy,
    MmioVersion,
    VirtioMmioDevice,
)
from ballast.machine.pci import (
    PCI_MODES,
    PciHostBridge,
    PciMode,
    PciOptions,
    VirtioPciDevice,
    q35_host_bridge,
)
from ballast.machine.regs import WIDTH_MASKS, AddressMap
from ballast.monitors.events import EventLog
from ballast.virtio.bus import BusError
from ballast.virtio.device import DeviceBackend, Endian, VirtioDeviceModel
from ballast.virtio.memory import GuestMemory

_MMIO_WIDTHS = frozenset((1, 2, 4, 8))
_IO_WIDTHS = frozenset((1, 2, 4))


class IrqLine:
    """A level-triggered interrupt line shared by any number of sources (wired-OR)."""

    __slots__ = ("_asserted", "number")

    def __init__(self, number: int) -> None:
        self.number = number
        self._asserted = 0

    @property
    def level(self) -> bool:
        return self._asserted > 0

    def source(self) -> IrqSource:
        """A new input driving this line."""
        return IrqSource(self)


class IrqSource:
    """One device's connection to an :class:`IrqLine`."""

    __slots__ = ("_line", "level")

    def __init__(self, line: IrqLine) -> None:
        self._line = line
        self.level = False

    def set_level(self, level: bool) -> None:
        if level != self.level:
            self.level = level
            self._line._asserted += 1 if level else -1


class InProcessMachine:
    """A PC-like machine (bus 0 PCI behind 0xcf8/0xcfc, plus MMIO transports) whose
    devices run in this process; implements the Bus protocol."""

    def __init__(
        self, memory_size: int, endian: Endian = "little", events: EventLog | None = None
    ) -> None:
        self.memory = GuestMemory(memory_size)
        self.endian: Endian = endian
        self.events = EventLog() if events is None else events
        self.defer_notifications = False
        self.hold_completions = False
        """While set, devices see requests at once but their used-ring updates (the
        acknowledgements) wait for :meth:`poll`: the window in which a driver must not
        touch what it handed over."""
        self._pending: deque[tuple[VirtioDeviceModel, int]] = deque()
        self._pollers: list[Callable[[], None]] = []
        self._completions: deque[Callable[[], None]] = deque()
        self._mmio = AddressMap()
        self._io = AddressMap()
        self._lines: dict[int, IrqLine] = {}
        self._pci = PciHostBridge(self._mmio, self._io)
        self._pci.attach(0, 0, q35_host_bridge())

    # -- building the machine -----------------------------------------------------------

    def irq(self, number: int) -> IrqLine:
        """Interrupt line ``number`` (created on first use)."""
        line = self._lines.get(number)
        if line is None:
            line = self._lines[number] = IrqLine(number)
        return line

    def attach_pci(
        self,
        backend: DeviceBackend,
        mode: PciMode = "modern",
        slot: int = 3,
        irq: int | None = None,
        options: PciOptions | None = None,
    ) -> VirtioPciDevice:
        """Plug a virtio-pci function into bus 0 ``slot`` (function 0); its INTA# goes to
        ``irq`` (default 16 + slot % 8), which is also what Interrupt Line reads;
        ``options`` vary what the function presents."""
        legacy_capable, modern_capable = PCI_MODES[mode]
        model = self._model(backend, legacy_capable, modern_capable)
        line = 16 + slot % 8 if irq is None else irq
        device = VirtioPciDevice(model, self.irq(line).source(), line, options)
        self._pci.attach(slot, 0, device)
        return device

    def attach_mmio(
        self,
        backend: DeviceBackend,
        base: int,
        version: MmioVersion,
        irq: int,
        interrupt_noise: int = 0,
    ) -> VirtioMmioDevice:
        """Map a virtio-mmio transport (0x200 bytes) at ``base`` raising ``irq``
        (``interrupt_noise``: see :class:`VirtioMmioDevice`)."""
        model = self._model(backend, version == 1, version == 2)
        device = VirtioMmioDevice(model, version, base, interrupt_noise)
        self._mmio.map(device, base, MMIO_BLOCK_SIZE, device)
        model.connect_irq(self.irq(irq).source())
        return device

    def attach_mmio_decoy(self, kind: DecoyKind, base: int) -> MmioDecoy:
        """Map a virtio-mmio slot a driver must ignore (see :class:`MmioDecoy`)."""
        decoy = MmioDecoy(kind, base, self.events)
        self._mmio.map(decoy, base, MMIO_BLOCK_SIZE, decoy)
        return decoy

    def _model(
        self, backend: DeviceBackend, legacy_capable: bool, modern_capable: bool
    ) -> VirtioDeviceModel:
        self._pollers.append(backend.poll)
        return VirtioDeviceModel(
            backend,
            self.events,
            legacy_capable=legacy_capable,
            modern_capable=modern_capable,
            endian=self.endian,
            deliver=self._deliver,
            complete=self._complete,
        )

    def _complete(self, completion: Callable[[], None]) -> None:
        if self.hold_completions:
            self._completions.append(completion)
        else:
            completion()

    def _deliver(self, model: VirtioDeviceModel, index: int) -> None:
        if self.defer_notifications:
            self._pending.append((model, index))
        else:
            model.backend.queue_notify(index)

    # -- Bus ---------------------------------------------------------------------------

    def mem_read(self, addr: int, size: int) -> bytes:
        return self.memory.read(addr, size)

    def mem_write(self, addr: int, data: bytes) -> None:
        self.memory.write(addr, data)

    def mmio_read(self, addr: int, width: int) -> int:
        _check_mmio(addr, width)
        window = self._mmio.find(addr)
        if window is None:
            if addr + width <= self.memory.size:
                return int.from_bytes(self.memory.read(addr, width), "little")
            return 0
        base, _, block = window
        offset = addr - base
        if width == 8:  # register blocks are at most 32 bits wide: split, low half first
            return block.read(offset, 4) | block.read(offset + 4, 4) << 32
        return block.read(offset, width)

    def mmio_write(self, addr: int, width: int, value: int) -> None:
        _check_mmio(addr, width)
        value &= WIDTH_MASKS[width]
        window = self._mmio.find(addr)
        if window is None:
            if addr + width <= self.memory.size:
                self.memory.write(addr, value.to_bytes(width, "little"))
            return
        base, _, block = window
        offset = addr - base
        if width == 8:
            block.write(offset, 4, value & 0xFFFFFFFF)
            block.write(offset + 4, 4, value >> 32)
        else:
            block.write(offset, width, value)

    def io_read(self, port: int, width: int) -> int:
        _check_io(port, width)
        window = self._io.find(port)
        if window is None:
            return WIDTH_MASKS[width]
        return window[2].read(port - window[0], width)

    def io_write(self, port: int, width: int, value: int) -> None:
        _check_io(port, width)
        window = self._io.find(port)
        if window is not None:
            window[2].write(port - window[0], width, value & WIDTH_MASKS[width])

    def irq_level(self, line: int) -> bool:
        irq = self._lines.get(line)
        return irq is not None and irq.level

    def poll(self, timeout: float = 0.0) -> None:
        """Run the notifications held back by ``defer_notifications``, then the held
        completions (in order), then give every device time (``DeviceBackend.poll``).  The
        machine has nothing else asynchronous, so ``timeout`` is never waited for."""
        pending, completions = self._pending, self._completions
        while pending or completions:
            while pending:
                model, index = pending.popleft()
                model.backend.queue_notify(index)
            while completions:
                completions.popleft()()
        for poll in self._pollers:
            poll()

    @property
    def pending_notifications(self) -> int:
        """Notifications waiting for :meth:`poll`."""
        return len(self._pending)


def _check_mmio(addr: int, width: int) -> None:
    if width not in _MMIO_WIDTHS or addr % width or addr < 0:
        raise BusError(f"MMIO access of width {width} at {addr:#x}: must be aligned 1/2/4/8")


def _check_io(port: int, width: int) -> None:
    if width not in _IO_WIDTHS or not 0 <= port <= 0xFFFF - width + 1:
        raise BusError(f"port access of width {width} at {port:#x}: must be 1/2/4 in 0-0xffff")
