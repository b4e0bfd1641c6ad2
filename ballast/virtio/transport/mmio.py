"""virtio-mmio from the driver's side: probing a row of transports and driving one,
version 2 or legacy version 1 (transport-mmio.tex).  Every control register access is
32 bits wide, as the spec requires."""

from __future__ import annotations

from dataclasses import dataclass

from ballast.virtio.bus import Bus
from ballast.virtio.layout import MMIO_MAGIC, Mmio
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
) -> list[MmioDeviceInfo]:
    """Transports among ``count`` slots from ``base`` that carry ``device_type``.

    Reads MagicValue, Version and DeviceID in that order and nothing else, so empty
    placeholder transports (DeviceID 0) are left alone as the spec demands."""
    found = []
    for slot_base in range(base, base + count * stride, stride):
        if bus.mmio_read(slot_base + Mmio.MAGIC_VALUE, 4) != MMIO_MAGIC:
            continue
        version = bus.mmio_read(slot_base + Mmio.VERSION, 4)
        if version not in (1, 2):
            continue
        device_id = bus.mmio_read(slot_base + Mmio.DEVICE_ID, 4)
        if device_id and device_id == device_type:
            found.append(MmioDeviceInfo(slot_base, version, device_id))
    return found


class MmioTransport(BaseTransport):
    """Driver side of one virtio-mmio transport.

    Version 1 places each ring by page number: :meth:`setup_queue` checks the layout,
    derives QueueAlign from it and writes GuestPageSize (``page_size``) before it;
    :meth:`enable_queue` writes QueuePFN."""

    def __init__(
        self, bus: Bus, base: int, version: int, irq_line: int | None, page_size: int = 4096
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

    def get_status(self) -> int:
        return self._regs.read(Mmio.STATUS, 4)

    def set_status(self, value: int) -> None:
        self._regs.write(Mmio.STATUS, 4, value)

    def device_features(self) -> int:
        words = feature_words(self.legacy)
        return read_features(self._regs, Mmio.DEVICE_FEATURES_SEL, Mmio.DEVICE_FEATURES, words)

    def set_driver_features(self, features: int) -> None:
        if self.legacy:
            check_legacy_features(features)
        words = feature_words(self.legacy)
        write_features(self._regs, Mmio.DRIVER_FEATURES_SEL, Mmio.DRIVER_FEATURES, features, words)

    def config_generation(self) -> int:
        return 0 if self.legacy else self._regs.read(Mmio.CONFIG_GENERATION, 4)

    def _select(self, index: int) -> None:
        self._regs.write(Mmio.QUEUE_SEL, 4, index)

    def queue_max_size(self, index: int) -> int:
        self._select(index)
        return self._regs.read(Mmio.QUEUE_SIZE_MAX, 4)

    def setup_queue(self, index: int, size: int, desc: int, avail: int, used: int) -> None:
        regs = self._regs
        if self.legacy:  # validate before touching the device
            pfn, align = legacy_placement(size, desc, avail, used, self.page_size)
            regs.write(Mmio.GUEST_PAGE_SIZE, 4, self.page_size)
        self._select(index)
        regs.write(Mmio.QUEUE_SIZE, 4, size)
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
        if check:
            wait_for_zero(
                self.bus, lambda: self._regs.read(Mmio.QUEUE_RESET, 4), f"reset of queue {index}"
            )

    def notify(self, index: int) -> None:
        self._regs.write(Mmio.QUEUE_NOTIFY, 4, index)

    def ack_interrupt(self) -> set[str]:
        status = self._regs.read(Mmio.INTERRUPT_STATUS, 4)
        if status & _INTERRUPT_BITS:
            self._regs.write(Mmio.INTERRUPT_ACK, 4, status & _INTERRUPT_BITS)
        return interrupt_reasons(status)


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
) -> MmioTransport:
    """Probe and open the ``index``-th matching transport.  MMIO has no interrupt
    discovery: pass ``irq_line`` if the caller knows it."""
    found = probe(bus, base, count, stride, device_type)
    if index >= len(found):
        raise TransportError(
            f"found {len(found)} virtio-mmio device(s) of type {device_type} in {count} "
            f"slot(s) from {base:#x}; wanted #{index}"
        )
    info = found[index]
    return MmioTransport(bus, info.base, info.version, irq_line, page_size)
