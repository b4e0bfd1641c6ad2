"""virtio-mmio from the driver's side: probing a row of transports and driving one,
version 2 or legacy version 1 (transport-mmio.tex).  Every control register access is
32 bits wide, as the spec requires."""

from __future__ import annotations

from dataclasses import dataclass

from ballast.virtio.bus import Bus
from ballast.virtio.layout import ISR_VRING, MMIO_MAGIC, Mmio
from ballast.virtio.status import Status
from ballast.virtio.transport.base import (
    BaseTransport,
    TransportError,
    Window,
    check_legacy_features,
    feature_words,
    interrupt_reasons,
    legacy_placement,
    read_features,
    wait_for_zero,
    write_address,
    write_features,
)

QEMU_MICROVM_BASE = 0xFEB00000  # first of QEMU microvm's 24 transports, 0x200 apart
QEMU_MICROVM_COUNT = 24
MMIO_STRIDE = 0x200
_INTERRUPT_BITS = 0x3  # InterruptACK must not carry undefined bits
_UNDEFINED_OFFSET = 0x0F8  # no register there in either version


@dataclass(frozen=True, slots=True)
class MmioDeviceInfo:
    """A transport that answered the probe."""

    base: int
    version: int
    device_id: int


def probe(
    bus: Bus,
    base: int = QEMU_MICROVM_BASE,
    count: int = QEMU_MICROVM_COUNT,
    stride: int = MMIO_STRIDE,
    device_type: int = 5,
    faults: frozenset[str] = frozenset(),
) -> list[MmioDeviceInfo]:
    """Transports among ``count`` slots from ``base`` that carry ``device_type``.

    Reads MagicValue, Version and DeviceID in that order and nothing else, so empty
    placeholder transports (DeviceID 0) are left alone as the spec demands.  ``faults``:
    the reference driver's seeded bugs (ballast.reference.faults_mmio)."""
    found = []
    for slot_base in range(base, base + count * stride, stride):
        magic = bus.mmio_read(slot_base + Mmio.MAGIC_VALUE, 4)
        if magic != MMIO_MAGIC and "mmio_skip_magic_check" not in faults:
            continue
        if "mmio_assume_version_2" in faults:
            version = 2  # fault: Version never read
        else:
            version = bus.mmio_read(slot_base + Mmio.VERSION, 4)
        if version not in (1, 2):
            if "mmio_skip_version_check" not in faults:
                continue
            version = 2  # fault: an unknown version is driven as version 2
        if "mmio_skip_device_id" in faults:  # fault: the first valid slot, unidentified
            found.append(MmioDeviceInfo(slot_base, version, device_type))
            continue
        device_id = bus.mmio_read(slot_base + Mmio.DEVICE_ID, 4)
        if device_id == 0:
            _touch_placeholder(bus, slot_base, faults)
        if device_id and device_id == device_type:
            found.append(MmioDeviceInfo(slot_base, version, device_id))
    return found


def _touch_placeholder(bus: Bus, base: int, faults: frozenset[str]) -> None:
    """What the seeded bugs do to a placeholder (DeviceID 0) they should leave alone."""
    if "mmio_placeholder_vendor_read" in faults:
        bus.mmio_read(base + Mmio.VENDOR_ID, 4)  # fault: reads VendorID to log it
    if "mmio_reset_placeholder" in faults:
        bus.mmio_write(base + Mmio.STATUS, 4, 0)  # fault: resets it "to be safe"
    if "mmio_ack_placeholder" in faults:
        bus.mmio_write(base + Mmio.INTERRUPT_ACK, 4, _INTERRUPT_BITS)  # fault: clears it


class MmioTransport(BaseTransport):
    """Driver side of one virtio-mmio transport.

    Version 1 places each ring by page number: :meth:`setup_queue` checks the layout,
    derives QueueAlign from it and writes GuestPageSize (``page_size``) before it;
    :meth:`enable_queue` writes QueuePFN."""

    def __init__(
        self,
        bus: Bus,
        base: int,
        version: int,
        irq_line: int | None,
        page_size: int = 4096,
        faults: frozenset[str] = frozenset(),
    ) -> None:
        if version not in (1, 2):
            raise TransportError(f"virtio-mmio version {version} is not 1 or 2")
        super().__init__(bus, Window(bus, base + Mmio.CONFIG, io=False), irq_line)
        self.name = f"mmio-v{version}"
        self.legacy = version == 1
        self.base = base
        self.page_size = page_size
        self._regs = Window(bus, base, io=False)
        self._pfns: dict[int, int] = {}
        self._sizes: dict[int, int] = {}
        self.faults = faults
        """The reference driver's seeded bugs at the register level (faults_mmio)."""

    def _fault(self, name: str) -> bool:
        return name in self.faults

    def reset(self) -> None:
        super().reset()
        if self._fault("mmio_read_undefined"):
            self._regs.read(_UNDEFINED_OFFSET, 4)  # fault: probes a register not in the table
        if self._fault("mmio_features_before_driver"):
            self.device_features()  # fault: reads the offer before ACKNOWLEDGE and DRIVER

    def get_status(self) -> int:
        return self._regs.read(Mmio.STATUS, 4)

    def set_status(self, value: int) -> None:
        self._regs.write(Mmio.STATUS, 4, value)

    def device_features(self) -> int:
        if self._fault("mmio_features_without_select"):
            self._regs.read(Mmio.DEVICE_FEATURES, 4)  # fault: trusts the select's reset value
        words = feature_words(self.legacy)
        return read_features(self._regs, Mmio.DEVICE_FEATURES_SEL, Mmio.DEVICE_FEATURES, words)

    def set_driver_features(self, features: int) -> None:
        if self.legacy:
            check_legacy_features(features)
        words = feature_words(self.legacy)
        if self._fault("mmio_driver_features_without_select"):
            self._regs.write(Mmio.DRIVER_FEATURES, 4, features & 0xFFFFFFFF)  # fault: unselected
        write_features(self._regs, Mmio.DRIVER_FEATURES_SEL, Mmio.DRIVER_FEATURES, features, words)

    def config_generation(self) -> int:
        return 0 if self.legacy else self._regs.read(Mmio.CONFIG_GENERATION, 4)

    def _select(self, index: int) -> None:
        self._regs.write(Mmio.QUEUE_SEL, 4, index)
        if self._fault("mmio_read_write_only"):
            self._regs.read(Mmio.QUEUE_SEL, 4)  # fault: reads the selector back

    def config_read(self, offset: int, size: int) -> int:
        if size == 4 and self._fault("mmio_config_bytewise"):  # fault: byte by byte
            window = self._config_window(offset, size)
            return sum(window.read(offset + i, 1) << 8 * i for i in range(4))
        return super().config_read(offset, size)

    def queue_max_size(self, index: int) -> int:
        self._select(index)
        if self._fault("mmio_write_read_only"):
            self._regs.write(Mmio.QUEUE_SIZE_MAX, 4, 0)  # fault: "clears" it before reading
        return self._regs.read(Mmio.QUEUE_SIZE_MAX, 4)

    def setup_queue(self, index: int, size: int, desc: int, avail: int, used: int) -> None:
        regs = self._regs
        if self.legacy:  # validate before touching the device
            pfn, align = legacy_placement(size, desc, avail, used, self.page_size)
            regs.write(Mmio.GUEST_PAGE_SIZE, 4, self.page_size)
        self._select(index)
        if self._fault("mmio_queue_size_over_max"):
            regs.write(Mmio.QUEUE_SIZE, 4, 2 * size)  # fault: tries a bigger ring first
        regs.write(Mmio.QUEUE_SIZE, 4, size)
        self._sizes[index] = size
        if self.legacy:
            regs.write(Mmio.QUEUE_ALIGN, 4, align)
            self._pfns[index] = pfn
        else:
            write_address(regs, Mmio.QUEUE_DESC_LOW, desc)
            write_address(regs, Mmio.QUEUE_DRIVER_LOW, avail)
            write_address(regs, Mmio.QUEUE_DEVICE_LOW, used)

    def enable_queue(self, index: int) -> None:
        """QueueReady on version 2; on version 1 writing QueuePFN makes the queue live."""
        if not self.legacy:
            self._select(index)
            self._regs.write(Mmio.QUEUE_READY, 4, 1)
            if self._fault("mmio_rewrite_live_queue"):
                self._regs.write(Mmio.QUEUE_SIZE, 4, self._sizes[index])  # fault: once live
            return
        pfn = self._pfns.get(index)
        if pfn is None:
            raise TransportError(f"queue {index} was not set up")
        self._select(index)
        self._regs.write(Mmio.QUEUE_PFN, 4, pfn)

    def reset_queue(self, index: int, check: bool = True) -> None:
        if self.legacy:
            super().reset_queue(index)
        self._select(index)
        self._regs.write(Mmio.QUEUE_RESET, 4, 1)
        if self._fault("mmio_queue_reset_no_wait") or not check:
            return  # fault (or the caller's wish): the reset taken as done at once
        wait_for_zero(self.bus, lambda: self.queue_reset_value(index), f"reset of queue {index}")

    def queue_reset_value(self, index: int) -> int:
        """QueueReset of queue ``index`` (version 2)."""
        self._select(index)
        return self._regs.read(Mmio.QUEUE_RESET, 4)

    def notify(self, index: int) -> None:
        self._regs.write(Mmio.QUEUE_NOTIFY, 4, index)

    def identity(self) -> tuple[int, int, int]:
        """MagicValue, Version and DeviceID as the device presents them now."""
        regs = self._regs
        return tuple(regs.read(r, 4) for r in (Mmio.MAGIC_VALUE, Mmio.VERSION, Mmio.DEVICE_ID))  # type: ignore[return-value]

    def stop_queue(self, index: int) -> None:
        """Write 0 to QueueReady and read it back until it reads 0 (version 2)."""
        if self.legacy:
            raise TransportError("virtio-mmio version 1 has no QueueReady")
        self._select(index)
        self._regs.write(Mmio.QUEUE_READY, 4, 0)
        if self._fault("mmio_stop_without_readback"):
            return  # fault: trusts the write
        wait_for_zero(self.bus, lambda: self.queue_ready(index), f"stop of queue {index}")

    def queue_ready(self, index: int) -> int:
        """QueueReady of queue ``index`` (version 2)."""
        self._select(index)
        return self._regs.read(Mmio.QUEUE_READY, 4)

    def interrupt_status(self) -> int:
        """InterruptStatus as read (reading does not acknowledge)."""
        return self._regs.read(Mmio.INTERRUPT_STATUS, 4)

    def write_interrupt_ack(self, mask: int) -> None:
        self._regs.write(Mmio.INTERRUPT_ACK, 4, mask)

    def ack_interrupt(self) -> set[str]:
        if self.faults:
            return self._faulty_ack_interrupt()
        status = self._regs.read(Mmio.INTERRUPT_STATUS, 4)  # the hot path: kept lean
        if status & _INTERRUPT_BITS:
            self._regs.write(Mmio.INTERRUPT_ACK, 4, status & _INTERRUPT_BITS)
        return interrupt_reasons(status)

    def _faulty_ack_interrupt(self) -> set[str]:
        """:meth:`ack_interrupt` as the seeded bugs get it wrong."""
        if self._fault("mmio_ack_unread"):  # fault: acknowledges blindly on the line's level
            if self.irq_line is None or not self.bus.irq_level(self.irq_line):
                return set()
            self.write_interrupt_ack(_INTERRUPT_BITS)
            return interrupt_reasons(_INTERRUPT_BITS)
        status = self.interrupt_status()
        if status & _INTERRUPT_BITS and not self._fault("mmio_never_ack"):
            self.write_interrupt_ack(self._ack_mask(status))
        if status & ~_INTERRUPT_BITS and self._fault("mmio_reject_unknown_interrupt"):
            self.set_status(self.get_status() | Status.FAILED)  # fault: gives the device up
            raise TransportError(f"InterruptStatus {status:#x} has undefined bits")
        return interrupt_reasons(status)

    def _ack_mask(self, status: int) -> int:
        if self._fault("mmio_ack_vring_only"):
            return status & ISR_VRING  # fault: a handled configuration change stays unacked
        if self._fault("mmio_ack_echo_status"):
            return status  # fault: undefined bits written back as read
        return status & _INTERRUPT_BITS


def open_mmio(
    bus: Bus,
    *,
    base: int = QEMU_MICROVM_BASE,
    count: int = QEMU_MICROVM_COUNT,
    stride: int = MMIO_STRIDE,
    device_type: int = 5,
    index: int = 0,
    irq_line: int | None = None,
    page_size: int = 4096,
    faults: frozenset[str] = frozenset(),
) -> MmioTransport:
    """Probe and open the ``index``-th matching transport.  MMIO has no interrupt
    discovery: pass ``irq_line`` if the caller knows it."""
    found = probe(bus, base, count, stride, device_type, faults)
    if index >= len(found):
        raise TransportError(
            f"found {len(found)} virtio-mmio device(s) of type {device_type} in {count} "
            f"slot(s) from {base:#x}; wanted #{index}"
        )
    info = found[index]
    return MmioTransport(bus, info.base, info.version, irq_line, page_size, faults)
