"""Register layouts and IDs of the PCI and MMIO transports (transport-pci.tex,
transport-mmio.tex).

Both sides of a link read the same table: the device-side register models in
``ballast.machine`` decode accesses with it and the driver-side transports in
``ballast.virtio.transport`` encode them with it, so a typo cannot make the two agree with
each other while disagreeing with QEMU.
"""

from __future__ import annotations

from enum import IntEnum

VIRTIO_PCI_VENDOR = 0x1AF4
MODERN_PCI_DEVICE_BASE = 0x1040
TRANSITIONAL_PCI_DEVICE_IDS = {
    1: 0x1000,
    2: 0x1001,
    5: 0x1002,
    3: 0x1003,
    8: 0x1004,
    4: 0x1005,
    9: 0x1009,
}
"""Virtio device type -> Transitional PCI Device ID ("PCI Device Discovery" table)."""

MMIO_MAGIC = 0x74726976  # "virt"
LEGACY_PCI_QUEUE_ALIGN = 4096  # legacy PCI rings: Queue Address is a 4096-byte PFN
ISR_VRING = 0x1
ISR_CONFIG = 0x2
NO_VECTOR = 0xFFFF


class PciCfg(IntEnum):
    """Offsets in the standard PCI configuration header (type 0)."""

    VENDOR_ID = 0x00
    DEVICE_ID = 0x02
    COMMAND = 0x04
    STATUS = 0x06
    REVISION = 0x08
    CLASS_PROG = 0x09
    HEADER_TYPE = 0x0E
    BAR0 = 0x10
    SUBSYSTEM_VENDOR_ID = 0x2C
    SUBSYSTEM_ID = 0x2E
    CAPABILITIES = 0x34
    INTERRUPT_LINE = 0x3C
    INTERRUPT_PIN = 0x3D


CMD_IO = 0x1
CMD_MEMORY = 0x2
CMD_BUS_MASTER = 0x4
CMD_INTX_DISABLE = 0x400
STATUS_INTERRUPT = 0x8
STATUS_CAP_LIST = 0x10
HEADER_MULTIFUNCTION = 0x80
BAR_IO = 0x1
BAR_MEM_64 = 0x4
BAR_PREFETCH = 0x8
PCI_CAP_ID_VNDR = 0x09
NUM_BARS = 6


class CapType(IntEnum):
    """``cfg_type`` of a virtio structure PCI capability."""

    COMMON = 1
    NOTIFY = 2
    ISR = 3
    DEVICE = 4
    PCI_CFG = 5
    SHARED_MEMORY = 8
    VENDOR = 9


class Cap(IntEnum):
    """Field offsets inside ``struct virtio_pci_cap`` and its extensions."""

    VNDR = 0
    NEXT = 1
    LEN = 2
    CFG_TYPE = 3
    BAR = 4
    ID = 5
    OFFSET = 8
    LENGTH = 12
    NOTIFY_MULTIPLIER = 16  # struct virtio_pci_notify_cap
    PCI_CFG_DATA = 16  # struct virtio_pci_cfg_cap


class Common(IntEnum):
    """Offsets in ``struct virtio_pci_common_cfg``."""

    DEVICE_FEATURE_SELECT = 0x00
    DEVICE_FEATURE = 0x04
    DRIVER_FEATURE_SELECT = 0x08
    DRIVER_FEATURE = 0x0C
    CONFIG_MSIX_VECTOR = 0x10
    NUM_QUEUES = 0x12
    DEVICE_STATUS = 0x14
    CONFIG_GENERATION = 0x15
    QUEUE_SELECT = 0x16
    QUEUE_SIZE = 0x18
    QUEUE_MSIX_VECTOR = 0x1A
    QUEUE_ENABLE = 0x1C
    QUEUE_NOTIFY_OFF = 0x1E
    QUEUE_DESC_LO = 0x20
    QUEUE_DESC_HI = 0x24
    QUEUE_DRIVER_LO = 0x28
    QUEUE_DRIVER_HI = 0x2C
    QUEUE_DEVICE_LO = 0x30
    QUEUE_DEVICE_HI = 0x34
    QUEUE_NOTIF_CONFIG_DATA = 0x38
    QUEUE_RESET = 0x3A
    ADMIN_QUEUE_INDEX = 0x3C
    ADMIN_QUEUE_NUM = 0x3E


class Legacy(IntEnum):
    """Offsets in the legacy PCI header in BAR0 (no MSI-X: device config at 0x14)."""

    DEVICE_FEATURES = 0x00
    DRIVER_FEATURES = 0x04
    QUEUE_ADDRESS = 0x08
    QUEUE_SIZE = 0x0C
    QUEUE_SELECT = 0x0E
    QUEUE_NOTIFY = 0x10
    DEVICE_STATUS = 0x12
    ISR_STATUS = 0x13
    CONFIG = 0x14


class Mmio(IntEnum):
    """Offsets in the virtio-mmio register block (versions 1 and 2)."""

    MAGIC_VALUE = 0x000
    VERSION = 0x004
    DEVICE_ID = 0x008
    VENDOR_ID = 0x00C
    DEVICE_FEATURES = 0x010
    DEVICE_FEATURES_SEL = 0x014
    DRIVER_FEATURES = 0x020
    DRIVER_FEATURES_SEL = 0x024
    GUEST_PAGE_SIZE = 0x028  # version 1 only
    QUEUE_SEL = 0x030
    QUEUE_SIZE_MAX = 0x034
    QUEUE_SIZE = 0x038
    QUEUE_ALIGN = 0x03C  # version 1 only
    QUEUE_PFN = 0x040  # version 1 only
    QUEUE_READY = 0x044
    QUEUE_NOTIFY = 0x050
    INTERRUPT_STATUS = 0x060
    INTERRUPT_ACK = 0x064
    STATUS = 0x070
    QUEUE_DESC_LOW = 0x080
    QUEUE_DESC_HIGH = 0x084
    QUEUE_DRIVER_LOW = 0x090
    QUEUE_DRIVER_HIGH = 0x094
    QUEUE_DEVICE_LOW = 0x0A0
    QUEUE_DEVICE_HIGH = 0x0A4
    SHM_SEL = 0x0AC
    SHM_LEN_LOW = 0x0B0
    SHM_LEN_HIGH = 0x0B4
    SHM_BASE_LOW = 0x0B8
    SHM_BASE_HIGH = 0x0BC
    QUEUE_RESET = 0x0C0
    CONFIG_GENERATION = 0x0FC
    CONFIG = 0x100


MMIO_QUEUE_LAYOUT = (
    Mmio.QUEUE_SIZE,
    Mmio.QUEUE_DESC_LOW,
    Mmio.QUEUE_DESC_HIGH,
    Mmio.QUEUE_DRIVER_LOW,
    Mmio.QUEUE_DRIVER_HIGH,
    Mmio.QUEUE_DEVICE_LOW,
    Mmio.QUEUE_DEVICE_HIGH,
)
"""The registers that place the selected queue (version 2)."""


def pci_device_ids(device_type: int) -> tuple[int, ...]:
    """PCI Device IDs a driver for ``device_type`` matches: the modern ID and, where the
    spec assigns one, the transitional ID."""
    transitional = TRANSITIONAL_PCI_DEVICE_IDS.get(device_type)
    modern = MODERN_PCI_DEVICE_BASE + device_type
    return (modern,) if transitional is None else (modern, transitional)
