"""The virtio-mmio register block (transport-mmio.tex), version 2 or legacy version 1.

Version 1 adds GuestPageSize, QueueAlign and QueuePFN and lacks QueueReady, the 64-bit
queue address pairs, shared memory, QueueReset and ConfigGeneration; registers of the
other version read as undefined.  Control registers are 32 bits wide; device config
starts at 0x100.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from ballast.machine.regs import Register, RegisterBank, attribute, constant, queue_address
from ballast.monitors.events import EventLog, Kind
from ballast.virtio.device import VirtioDeviceModel
from ballast.virtio.layout import ISR_CONFIG, ISR_VRING, MMIO_MAGIC, MMIO_QUEUE_LAYOUT, Mmio
from ballast.virtio.status import Status

MMIO_BLOCK_SIZE = 0x200
QEMU_VENDOR_ID = 0x554D4551  # "QEMU", what QEMU's virtio-mmio reports
_NO_REGION = 0xFFFFFFFF  # SHMLen/SHMBase halves of a region that does not exist

_DEFINED_INTERRUPTS = ISR_VRING | ISR_CONFIG
_UNDEFINED_INTERRUPT_BIT = 0x4  # what fault mmio_interrupt_undefined_bits sets
_DRIVER_OK = int(Status.DRIVER_OK)

MmioVersion = Literal[1, 2]
DecoyKind = Literal["bad-magic", "bad-version", "no-device"]


class VirtioMmioDevice:
    """One virtio-mmio transport for ``model`` (a legacy-only model for version 1, a
    modern-only one for version 2) mapped at ``base``.

    Every control register access is reported as ``MMIO_ACCESS`` (the order of the
    driver's accesses is what the mmio.driver clauses are about), but for the hot paths:
    QueueNotify (the model reports QUEUE_NOTIFIED) and InterruptStatus reads, which the
    next InterruptACK carries unless they stand out (see ``Kind.MMIO_ACCESS``).
    ``interrupt_noise`` is ORed into InterruptStatus while an interrupt is pending:
    undefined bits a driver must ignore (a test's deliberate device misbehaviour)."""

    def __init__(
        self,
        model: VirtioDeviceModel,
        version: MmioVersion,
        base: int = 0,
        interrupt_noise: int = 0,
    ) -> None:
        if version not in (1, 2):
            raise ValueError(f"virtio-mmio version must be 1 or 2, got {version}")
        self.model = model
        self.version = version
        self.base = base
        self.guest_page_size = 0
        """As last written; like QEMU, not cleared by reset (Linux writes it once, at
        probe, before resetting the device)."""
        if "mmio_interrupt_undefined_bits" in model.faults:
            interrupt_noise |= _UNDEFINED_INTERRUPT_BIT
        self.interrupt_noise = interrupt_noise
        self._ready_written: dict[int, int] = {}  # fault mmio_ready_survives_reset
        self._unused: set[int] = set()  # queues not enabled since the device reset
        self._reset: set[int] = set()  # queues reset (QueueReset) and not re-enabled since
        registers = _common_registers(model, version)
        registers.update(_legacy_registers(self) if version == 1 else _modern_registers(self))
        registers.update(_faulty_registers(self))
        if version == 2:  # what a queue reset does is tracked here
            for offset in MMIO_QUEUE_LAYOUT:
                write = registers[offset].write
                registers[offset] = replace(registers[offset], write=self._layout_writer(write))
            status = registers[Mmio.STATUS]
            registers[Mmio.STATUS] = replace(status, write=self._status_writer(status.write))
        self._bank = RegisterBank(f"mmio-v{version}", registers, model.events)
        self._names = {offset: r.name for offset, r in registers.items()}
        self._emit = model.events.emit
        self._status_read: int | None = None  # the last InterruptStatus read since an ACK
        self._status_seen = 0  # the event bits of every such read

    def _interrupt_status(self) -> int:
        m = self.model
        status = m.isr
        if status and "mmio_status_clear_on_read" in m.faults:
            m.ack_interrupt(status)  # fault: reading clears the bits, as PCI's ISR does
        return status | self.interrupt_noise if status else 0

    def _queue_ready(self) -> int:
        m = self.model
        if {"mmio_ready_survives_reset", "mmio_serves_stopped_queue"} & m.faults:
            return self._ready_written.get(m.queue_select, 0)  # fault: the last value written
        if "mmio_queue_reset_keeps_ready" in m.faults and m.queue_select in self._reset:
            return 1  # fault: a queue reset leaves QueueReady set
        return m.read_queue("enabled")

    def _write_queue_ready(self, value: int) -> None:
        m = self.model
        index = m.queue_select
        self._ready_written[index] = value
        if value and index in self._reset and "mmio_queue_reset_refuses_ready" in m.faults:
            return  # fault: a reset queue cannot be enabled again
        queue = m.selected_queue
        stale = queue is not None and index in self._reset
        if not value and "mmio_serves_stopped_queue" in m.faults:
            return  # fault: only the register reads 0; the queue stays live
        m.write_queue_enable(value)
        if value:
            self._unused.discard(index)
            self._reset.discard(index)
            if stale and "mmio_queue_reset_keeps_ring" in m.faults:
                queue.epoch -= 1  # type: ignore[union-attr]  # fault: the old ring state

    def _queue_reset(self) -> int:
        m = self.model
        index = m.queue_select
        value = m.read_queue_reset()
        if "mmio_queue_reset_1_after_reset" in m.faults and index in self._unused:
            return 1  # fault: 1 until the queue is first enabled
        if "mmio_queue_reset_1_while_ready" in m.faults and m.read_queue("enabled"):
            return 1  # fault: 1 while the queue is live
        return value

    def _write_queue_reset(self, value: int) -> None:
        m = self.model
        queue = m.selected_queue
        if value == 1 and queue is not None:
            self._reset.add(queue.index)
            if "mmio_queue_reset_keeps_layout" in m.faults:
                kept = (queue.size, queue.desc, queue.avail, queue.used)
                m.write_queue_reset(value)
                queue.size, queue.desc, queue.avail, queue.used = kept
                return  # fault: the reset leaves the layout, later writes are dropped
        m.write_queue_reset(value)

    def _status_writer(self, write: Callable[[int], None] | None) -> Callable[[int], None]:
        def status_write(value: int) -> None:
            assert write is not None
            write(value)
            if value == 0:
                self._unused = set(range(self.model.num_queues))
                self._reset.clear()

        return status_write

    def _layout_writer(self, write: Callable[[int], None] | None) -> Callable[[int], None]:
        """A queue layout register write (fault mmio_queue_reset_keeps_layout drops it)."""

        def layout_write(value: int) -> None:
            assert write is not None
            m = self.model
            if m.queue_select in self._reset and "mmio_queue_reset_keeps_layout" in m.faults:
                return
            write(value)

        return layout_write

    @property
    def page_size(self) -> int:
        """Bytes per QueuePFN page: the lowest bit of GuestPageSize, 1 while unset (QEMU
        uses the bit's position as a shift, defaulting to 0)."""
        size = self.guest_page_size
        return size & -size or 1

    def read(self, offset: int, width: int) -> int:
        if offset >= Mmio.CONFIG:
            self._check_config(offset, width)
            data = self.model.config_read(offset - Mmio.CONFIG, width)
            return int.from_bytes(data, "little")
        queue = self.model.queue_select
        value = self._bank.read(offset, width)
        extra = {}
        if offset == Mmio.INTERRUPT_STATUS:
            last = self._status_read
            repeat = last is not None and bool(last & _DEFINED_INTERRUPTS)
            self._status_read = value
            self._status_seen |= value & _DEFINED_INTERRUPTS
            if not repeat and not value & ~_DEFINED_INTERRUPTS:
                return value  # the next InterruptACK carries it
            extra["repeat"] = repeat
        self._access(offset, False, value, queue, extra)
        return value

    def write(self, offset: int, width: int, value: int) -> None:
        if offset >= Mmio.CONFIG:
            self._check_config(offset, width)
            self.model.config_write(offset - Mmio.CONFIG, value.to_bytes(width, "little"))
            return
        queue = self.model.queue_select
        self._bank.write(offset, width, value)
        if offset == Mmio.QUEUE_NOTIFY:
            return
        extra = {}
        if offset == Mmio.INTERRUPT_ACK:
            extra = {"status": self._status_read, "seen": self._status_seen}
        if offset == Mmio.INTERRUPT_ACK or (offset == Mmio.STATUS and value == 0):
            self._status_read, self._status_seen = None, 0
        self._access(offset, True, value, queue, extra)

    def _access(
        self, offset: int, write: bool, value: int, queue: int, extra: dict[str, Any]
    ) -> None:
        register = self._names.get(offset)
        _report_access(self._emit, self.base, register, offset, write, value, queue, extra)

    def _check_config(self, offset: int, width: int) -> None:
        """Device config beyond what the device defines is no register either."""
        if offset - Mmio.CONFIG + width > self.model.backend.config_size():
            self.model.events.emit(
                "device",
                Kind.REGISTER_MISUSE,
                block=self._bank.block,
                register=None,
                offset=offset,
                width=width,
                problem="undefined",
            )


def _common_registers(m: VirtioDeviceModel, version: int) -> dict[int, Register]:
    """Registers both versions share (legacy names in comments where they differ)."""
    return {
        Mmio.MAGIC_VALUE: constant("MagicValue", 4, MMIO_MAGIC),
        Mmio.VERSION: constant("Version", 4, version),
        Mmio.DEVICE_ID: constant("DeviceID", 4, m.device_id),
        Mmio.VENDOR_ID: constant("VendorID", 4, QEMU_VENDOR_ID),
        Mmio.DEVICE_FEATURES: Register(  # HostFeatures
            "DeviceFeatures", 4, read=lambda: m.read_device_features(m.device_feature_select)
        ),
        Mmio.DEVICE_FEATURES_SEL: attribute(
            "DeviceFeaturesSel", 4, m, "device_feature_select", readable=False
        ),
        Mmio.DRIVER_FEATURES: Register(  # GuestFeatures
            "DriverFeatures",
            4,
            write=lambda v: m.write_driver_features(
                m.driver_feature_select, v, legacy=version == 1
            ),
        ),
        Mmio.DRIVER_FEATURES_SEL: attribute(
            "DriverFeaturesSel", 4, m, "driver_feature_select", readable=False
        ),
        Mmio.QUEUE_SEL: attribute("QueueSel", 4, m, "queue_select", readable=False),
        Mmio.QUEUE_SIZE_MAX: Register("QueueSizeMax", 4, read=lambda: m.read_queue("max_size")),
        Mmio.QUEUE_SIZE: Register("QueueSize", 4, write=lambda v: m.write_queue("size", v)),
        Mmio.QUEUE_NOTIFY: Register("QueueNotify", 4, write=lambda v: m.notify(v & 0xFFFF, v)),
        Mmio.INTERRUPT_STATUS: Register("InterruptStatus", 4),  # see _faulty_registers
        Mmio.INTERRUPT_ACK: Register("InterruptACK", 4, write=m.ack_interrupt),
        Mmio.STATUS: Register("Status", 4, read=m.read_status, write=m.write_status),
    }


def _legacy_registers(device: VirtioMmioDevice) -> dict[int, Register]:
    m = device.model
    return {
        Mmio.GUEST_PAGE_SIZE: attribute(
            "GuestPageSize", 4, device, "guest_page_size", readable=False
        ),
        Mmio.QUEUE_ALIGN: Register(
            "QueueAlign", 4, write=lambda v: m.write_queue("legacy_align", v)
        ),
        Mmio.QUEUE_PFN: Register(
            "QueuePFN",
            4,
            read=lambda: m.read_queue("legacy_pfn"),
            write=lambda v: m.write_queue_pfn(v, device.page_size),
        ),
    }


def _modern_registers(device: VirtioMmioDevice) -> dict[int, Register]:
    m = device.model
    registers = {
        Mmio.QUEUE_READY: Register(
            "QueueReady", 4, read=device._queue_ready, write=device._write_queue_ready
        ),
        Mmio.SHM_SEL: Register("SHMSel", 4, write=lambda v: None),
        Mmio.SHM_LEN_LOW: constant("SHMLenLow", 4, _NO_REGION),
        Mmio.SHM_LEN_HIGH: constant("SHMLenHigh", 4, _NO_REGION),
        Mmio.SHM_BASE_LOW: constant("SHMBaseLow", 4, _NO_REGION),
        Mmio.SHM_BASE_HIGH: constant("SHMBaseHigh", 4, _NO_REGION),
        Mmio.QUEUE_RESET: Register(
            "QueueReset", 4, read=device._queue_reset, write=device._write_queue_reset
        ),
        Mmio.CONFIG_GENERATION: Register("ConfigGeneration", 4, read=_generation(m)),
    }
    pairs = (
        ("desc", Mmio.QUEUE_DESC_LOW, ("QueueDescLow", "QueueDescHigh")),
        ("avail", Mmio.QUEUE_DRIVER_LOW, ("QueueDriverLow", "QueueDriverHigh")),
        ("used", Mmio.QUEUE_DEVICE_LOW, ("QueueDeviceLow", "QueueDeviceHigh")),
    )
    for field, offset, names in pairs:
        registers[offset], registers[offset + 4] = queue_address(m, field, names, readable=False)
    return registers


def _generation(m: VirtioDeviceModel) -> Callable[[], int]:
    if "mmio_generation_stuck" in m.faults:
        return lambda: 0  # fault: the generation never moves
    return m.read_generation


def _faulty_registers(device: VirtioMmioDevice) -> dict[int, Register]:
    """Registers the mmio seeded bugs of the device change: the identity turns wrong once
    the device is live (faults mmio_bad_magic_live, mmio_version_1_live)."""
    m = device.model

    def live_fault(name: str) -> bool:
        return name in m.faults and bool(m.status & _DRIVER_OK)

    def magic() -> int:
        swapped = int.from_bytes(MMIO_MAGIC.to_bytes(4, "little"), "big")
        return swapped if live_fault("mmio_bad_magic_live") else MMIO_MAGIC

    def version() -> int:
        return 1 if live_fault("mmio_version_1_live") else device.version

    return {
        Mmio.MAGIC_VALUE: Register("MagicValue", 4, read=magic),
        Mmio.VERSION: Register("Version", 4, read=version),
        Mmio.INTERRUPT_STATUS: Register("InterruptStatus", 4, read=device._interrupt_status),
    }


_DECOY_IDENTITY: dict[str, tuple[int, int, int]] = {
    "bad-magic": (int.from_bytes(MMIO_MAGIC.to_bytes(4, "little"), "big"), 2, 5),
    "bad-version": (MMIO_MAGIC, 3, 5),
    "no-device": (MMIO_MAGIC, 2, 0),
}


class MmioDecoy:
    """A virtio-mmio slot a driver must leave alone: a wrong MagicValue, a Version that
    is neither 1 nor 2 (both claiming a balloon, so a driver that skips the check takes
    it), or a placeholder with DeviceID 0.  Every other register reads 0 and ignores
    writes; every access is reported as ``MMIO_ACCESS``."""

    def __init__(self, kind: DecoyKind, base: int, events: EventLog) -> None:
        self.kind = kind
        self.base = base
        self._events = events
        magic, version, device_id = _DECOY_IDENTITY[kind]
        self._identity = {
            Mmio.MAGIC_VALUE: magic,
            Mmio.VERSION: version,
            Mmio.DEVICE_ID: device_id,
        }

    def read(self, offset: int, width: int) -> int:
        value = self._identity.get(offset, 0)
        self._report(offset, False, value)
        return value

    def write(self, offset: int, width: int, value: int) -> None:
        self._report(offset, True, value)

    def _report(self, offset: int, write: bool, value: int) -> None:
        _report_access(self._events.emit, self.base, _register_name(offset), offset, write, value)


def _report_access(
    emit: Callable[..., Any],
    base: int,
    register: str | None,
    offset: int,
    write: bool,
    value: int,
    queue: int = 0,
    extra: dict[str, Any] | None = None,
) -> None:
    """Report a driver access to a control register of the block at ``base``
    (MMIO_ACCESS): the balloon's block and the decoy before it say it the same way."""
    emit(
        "device",
        Kind.MMIO_ACCESS,
        base=base,
        register=register,
        offset=offset,
        write=write,
        value=value,
        queue=queue,
        **(extra or {}),
    )


def _register_name(offset: int) -> str | None:
    """The layout's name of the register at ``offset`` (the decoy has no table)."""
    try:
        return Mmio(offset).name
    except ValueError:
        return None
