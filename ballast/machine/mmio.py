"""The virtio-mmio register block (transport-mmio.tex), version 2 or legacy version 1.

Version 1 adds GuestPageSize, QueueAlign and QueuePFN and lacks QueueReady, the 64-bit
queue address pairs, shared memory, QueueReset and ConfigGeneration; registers of the
other version read as undefined.  Control registers are 32 bits wide; device config
starts at 0x100.
"""

from __future__ import annotations

from typing import Literal

from ballast.machine.regs import Register, RegisterBank, attribute, constant, queue_address
from ballast.virtio.device import VirtioDeviceModel
from ballast.virtio.layout import MMIO_MAGIC, Mmio

MMIO_BLOCK_SIZE = 0x200
QEMU_VENDOR_ID = 0x554D4551  # "QEMU", what QEMU's virtio-mmio reports
_NO_REGION = 0xFFFFFFFF  # SHMLen/SHMBase halves of a region that does not exist

MmioVersion = Literal[1, 2]


class VirtioMmioDevice:
    """One virtio-mmio transport for ``model`` (a legacy-only model for version 1, a
    modern-only one for version 2)."""

    def __init__(self, model: VirtioDeviceModel, version: MmioVersion) -> None:
        if version not in (1, 2):
            raise ValueError(f"virtio-mmio version must be 1 or 2, got {version}")
        self.model = model
        self.version = version
        self.guest_page_size = 0
        """As last written; like QEMU, not cleared by reset (Linux writes it once, at
        probe, before resetting the device)."""
        registers = _common_registers(model, version)
        registers.update(_legacy_registers(self) if version == 1 else _modern_registers(model))
        self._bank = RegisterBank(f"mmio-v{version}", registers, model.events)

    @property
    def page_size(self) -> int:
        """Bytes per QueuePFN page: the lowest bit of GuestPageSize, 1 while unset (QEMU
        uses the bit's position as a shift, defaulting to 0)."""
        size = self.guest_page_size
        return size & -size or 1

    def read(self, offset: int, width: int) -> int:
        if offset >= Mmio.CONFIG:
            data = self.model.config_read(offset - Mmio.CONFIG, width)
            return int.from_bytes(data, "little")
        return self._bank.read(offset, width)

    def write(self, offset: int, width: int, value: int) -> None:
        if offset >= Mmio.CONFIG:
            self.model.config_write(offset - Mmio.CONFIG, value.to_bytes(width, "little"))
        else:
            self._bank.write(offset, width, value)


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
        Mmio.INTERRUPT_STATUS: Register("InterruptStatus", 4, read=lambda: m.isr),
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


def _modern_registers(m: VirtioDeviceModel) -> dict[int, Register]:
    registers = {
        Mmio.QUEUE_READY: Register(
            "QueueReady", 4, read=lambda: m.read_queue("enabled"), write=m.write_queue_enable
        ),
        Mmio.SHM_SEL: Register("SHMSel", 4, write=lambda v: None),
        Mmio.SHM_LEN_LOW: constant("SHMLenLow", 4, _NO_REGION),
        Mmio.SHM_LEN_HIGH: constant("SHMLenHigh", 4, _NO_REGION),
        Mmio.SHM_BASE_LOW: constant("SHMBaseLow", 4, _NO_REGION),
        Mmio.SHM_BASE_HIGH: constant("SHMBaseHigh", 4, _NO_REGION),
        Mmio.QUEUE_RESET: Register(
            "QueueReset", 4, read=m.read_queue_reset, write=m.write_queue_reset
        ),
        Mmio.CONFIG_GENERATION: Register("ConfigGeneration", 4, read=m.read_generation),
    }
    pairs = (
        ("desc", Mmio.QUEUE_DESC_LOW, ("QueueDescLow", "QueueDescHigh")),
        ("avail", Mmio.QUEUE_DRIVER_LOW, ("QueueDriverLow", "QueueDriverHigh")),
        ("used", Mmio.QUEUE_DEVICE_LOW, ("QueueDeviceLow", "QueueDeviceHigh")),
    )
    for field, offset, names in pairs:
        registers[offset], registers[offset + 4] = queue_address(m, field, names, readable=False)
    return registers
