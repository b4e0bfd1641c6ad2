"""PCI as a driver on a PC sees it: configuration mechanism #1, BARs and INTx, plus the
virtio-pci function (transport-pci.tex) in modern, legacy or transitional form.

Nothing is pre-assigned: the driver sizes and places BARs and enables decoding through
the command register, exactly as it must on QEMU without firmware.  The modern layout
mirrors QEMU's (one 16 KiB 64-bit BAR4: common cfg, ISR, device cfg, notify at 4 KiB
steps, notify_off_multiplier 4) but is only reachable through the capability list.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from ballast.machine.regs import (
    WIDTH_MASKS,
    AddressMap,
    Register,
    RegisterBank,
    RegisterBlock,
    attribute,
    constant,
    queue_address,
)
from ballast.monitors.events import Kind
from ballast.virtio.device import InterruptLine, VirtioDeviceModel
from ballast.virtio.layout import (
    BAR_IO,
    BAR_MEM_64,
    BAR_PREFETCH,
    CMD_BUS_MASTER,
    CMD_INTX_DISABLE,
    CMD_IO,
    CMD_MEMORY,
    LEGACY_PCI_QUEUE_ALIGN,
    MODERN_PCI_DEVICE_BASE,
    NO_VECTOR,
    NUM_BARS,
    PCI_CAP_ID_VNDR,
    STATUS_CAP_LIST,
    STATUS_INTERRUPT,
    TRANSITIONAL_PCI_DEVICE_IDS,
    VIRTIO_PCI_VENDOR,
    Cap,
    CapType,
    Common,
    Legacy,
    PciCfg,
)

CONFIG_ADDRESS_PORT = 0xCF8
CONFIG_SPACE_SIZE = 256
BarKind = Literal["io", "mem32", "mem64"]
_LIMITS = {"io": 1 << 16, "mem32": 1 << 32, "mem64": 1 << 64}

MODERN_BAR = 4
LEGACY_BAR = 0
EXTRA_IO_BAR = 2
MODERN_BAR_SIZE = 0x4000
_REGION = 0x1000  # each modern structure gets one 4 KiB region of BAR4 (as in QEMU)
_COMMON, _ISR, _DEVICE, _NOTIFY = 0, 1, 2, 3  # region numbers
_REGIONS = (
    (CapType.COMMON, _COMMON),
    (CapType.ISR, _ISR),
    (CapType.DEVICE, _DEVICE),
    (CapType.NOTIFY, _NOTIFY),
)
NOTIFY_MULTIPLIER = 4
ENVIRONMENT_SUBSYSTEM = (0x8086, 0x5A5A)  # an environment's own subsystem IDs (Intel's vendor)
QEMU_SUBSYSTEM_ID = 0x1100  # QEMU's modern subsystem ID; the spec asks for >= 0x40
RESERVED_CFG_TYPE = 0x2A  # no structure type has this value
RESERVED_BAR = 0x6  # the first BAR value that names no BAR


@dataclass(frozen=True)
class PciOptions:
    """What the function presents where the spec lets it vary and the driver must cope
    (pci.driver.discovery/caps); the defaults are QEMU's layout."""

    revision: int | None = None  # None: 0 when transitional, else 1
    reserved_cap: bool = False  # a vendor capability of a reserved cfg_type leads the list
    reserved_bar_cap: bool = False  # a common cfg capability naming a reserved BAR leads it
    cap_len_extra: int = 0  # bytes each virtio capability carries beyond its structure
    large_lengths: bool = False  # each structure's length runs to the end of BAR4
    extra_io_bar: bool = False  # a second I/O region (BAR2, no registers) after the legacy one
    second_instances: bool = False  # later caps: each structure again, in BAR4's upper half
    # Subsystem Vendor and Device ID of the environment (pci.device.discovery.03: a device
    # MAY present them); None: virtio's vendor and QEMU's subsystem ID
    subsystem: tuple[int, int] | None = None

    @property
    def quirks(self) -> tuple[str, ...]:
        """Names of the options that differ from the defaults."""
        default = PciOptions()
        return tuple(
            f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)
        )


@dataclass(eq=False, slots=True)
class Bar:
    """An implemented Base Address Register; ``block`` answers accesses to its window."""

    kind: BarKind
    size: int
    block: RegisterBlock
    prefetchable: bool = False

    @property
    def flags(self) -> int:
        if self.kind == "io":
            return BAR_IO
        return (BAR_MEM_64 if self.kind == "mem64" else 0) | (
            BAR_PREFETCH if self.prefetchable else 0
        )


class PciDevice:
    """Type-0 configuration space of one PCI function.

    Writes go through a per-byte write mask; BAR registers keep their size alignment and
    type bits, so writing all-ones and reading back yields the size mask."""

    def __init__(
        self,
        vendor_id: int,
        device_id: int,
        *,
        class_code: int,
        revision: int = 0,
        subsystem_vendor_id: int = 0,
        subsystem_id: int = 0,
    ) -> None:
        self.config = bytearray(CONFIG_SPACE_SIZE)
        self._wmask = bytearray(CONFIG_SPACE_SIZE)
        self.bars: list[Bar | None] = [None] * NUM_BARS
        self._cap_link = int(PciCfg.CAPABILITIES)
        self._cap_end = 0x40
        self._put(PciCfg.VENDOR_ID, 2, vendor_id)
        self._put(PciCfg.DEVICE_ID, 2, device_id)
        self._put(PciCfg.REVISION, 1, revision)
        self._put(PciCfg.CLASS_PROG, 3, class_code)
        self._put(PciCfg.SUBSYSTEM_VENDOR_ID, 2, subsystem_vendor_id)
        self._put(PciCfg.SUBSYSTEM_ID, 2, subsystem_id)
        self._writable(
            PciCfg.COMMAND,
            (CMD_IO | CMD_MEMORY | CMD_BUS_MASTER | CMD_INTX_DISABLE).to_bytes(2, "little"),
        )
        self._writable(PciCfg.INTERRUPT_LINE, b"\xff")

    def _put(self, offset: int, width: int, value: int) -> None:
        self.config[offset : offset + width] = value.to_bytes(width, "little")

    def _get(self, offset: int, width: int) -> int:
        return int.from_bytes(self.config[offset : offset + width], "little")

    def _writable(self, offset: int, mask: bytes) -> None:
        self._wmask[offset : offset + len(mask)] = mask

    @property
    def command(self) -> int:
        return self._get(PciCfg.COMMAND, 2)

    def set_bar(self, index: int, bar: Bar) -> None:
        """Implement BAR ``index`` (a 64-bit BAR also takes ``index + 1``)."""
        if bar.size & (bar.size - 1) or bar.size < (4 if bar.kind == "io" else 16):
            raise ValueError(f"BAR size {bar.size:#x} must be a power of 2 (>= 16 for memory)")
        dwords = 2 if bar.kind == "mem64" else 1
        self.bars[index] = bar
        offset = PciCfg.BAR0 + 4 * index
        self._writable(offset, b"\xff" * 4 * dwords)
        self._put(offset, 4, bar.flags)

    def add_capability(self, body: bytes, writable: bytes = b"") -> int:
        """Append a capability (``body`` starts with its ID; the next pointer is filled
        in here) and return its offset; ``writable`` is its write mask from the start."""
        offset = self._cap_end
        self.config[offset : offset + len(body)] = body
        self._writable(offset, writable)
        self.config[self._cap_link] = offset
        self._cap_link = offset + 1
        self._cap_end = (offset + len(body) + 3) & ~3
        self.config[PciCfg.STATUS] |= STATUS_CAP_LIST
        return offset

    def bar_address(self, index: int) -> int | None:
        """Where BAR ``index`` decodes, or None while it does not (decoding disabled in
        the command register, address 0, or a window that would run off the top)."""
        bar = self.bars[index]
        if bar is None:
            return None
        offset = PciCfg.BAR0 + 4 * index
        if bar.kind == "io":
            base = self._get(offset, 4) & ~0x3
            enabled = self.command & CMD_IO
        else:
            base = self._get(offset, 8 if bar.kind == "mem64" else 4) & ~0xF
            enabled = self.command & CMD_MEMORY
        if not enabled or base == 0 or base + bar.size >= _LIMITS[bar.kind]:
            return None
        return base

    def config_read(self, offset: int, width: int) -> int:
        return self._get(offset, width)

    def config_write(self, offset: int, width: int, value: int) -> None:
        config, wmask = self.config, self._wmask
        for i, byte in enumerate(value.to_bytes(width, "little")):
            mask = wmask[offset + i]
            config[offset + i] = config[offset + i] & ~mask | byte & mask
        if offset < PciCfg.BAR0 + 4 * NUM_BARS and offset + width > PciCfg.BAR0:
            self._align_bars()

    def _align_bars(self) -> None:
        """Force each BAR back to a size-aligned address with its type bits."""
        for index, bar in enumerate(self.bars):
            if bar is None:
                continue
            offset = PciCfg.BAR0 + 4 * index
            low_bits = 0x3 if bar.kind == "io" else 0xF
            self._put(offset, 4, self._get(offset, 4) & ~(bar.size - 1) & ~low_bits | bar.flags)
            if bar.kind == "mem64":
                high = self._get(offset + 4, 4) & ~((bar.size - 1) >> 32)
                self._put(offset + 4, 4, high)


class PciHostBridge:
    """Configuration mechanism #1 (ports 0xcf8 CONFIG_ADDRESS, 0xcfc-0xcff CONFIG_DATA)
    for bus 0; keeps each function's BARs mapped where its config space says."""

    def __init__(self, mmio: AddressMap, io: AddressMap) -> None:
        self._mmio = mmio
        self._io = io
        self._address = 0
        self._devices: dict[tuple[int, int], PciDevice] = {}
        io.map(self, CONFIG_ADDRESS_PORT, 8, self)

    def attach(self, slot: int, function: int, device: PciDevice) -> None:
        if not (0 <= slot < 32 and 0 <= function < 8):
            raise ValueError(f"no PCI slot {slot} function {function} on a bus")
        if (slot, function) in self._devices:
            raise ValueError(f"PCI slot {slot} function {function} is taken")
        self._devices[slot, function] = device

    def read(self, offset: int, width: int) -> int:
        if offset < 4:
            return self._address if offset == 0 and width == 4 else WIDTH_MASKS[width]
        target = self._target(offset, width)
        if target is None:
            return WIDTH_MASKS[width]
        device, register = target
        return device.config_read(register, width)

    def write(self, offset: int, width: int, value: int) -> None:
        if offset < 4:
            if offset == 0 and width == 4:  # byte accesses here are other PC registers
                self._address = value
            return
        target = self._target(offset, width)
        if target is None:
            return
        device, register = target
        device.config_write(register, width, value)
        self._remap(device)

    def _target(self, offset: int, width: int) -> tuple[PciDevice, int] | None:
        address = self._address
        if not address & 0x80000000 or address >> 16 & 0xFF:  # disabled, or not bus 0
            return None
        device = self._devices.get((address >> 11 & 0x1F, address >> 8 & 0x7))
        register = (address & 0xFC) + offset - 4
        if device is None or register + width > CONFIG_SPACE_SIZE:
            return None
        return device, register

    def _remap(self, device: PciDevice) -> None:
        for index, bar in enumerate(device.bars):
            if bar is None:
                continue
            space = self._io if bar.kind == "io" else self._mmio
            base = device.bar_address(index)
            if base is None:
                space.unmap(bar)
            else:
                space.map(bar, base, bar.size, bar.block)


def q35_host_bridge() -> PciDevice:
    """00:00.0 as on QEMU's q35, so a bus scan meets a non-virtio function first."""
    return PciDevice(0x8086, 0x29C0, class_code=0x060000)


class VirtioPciDevice(PciDevice):
    """A virtio-pci function for ``model``: modern (caps + BAR4), legacy (BAR0 I/O
    header) or both (transitional), as the model's capabilities say.  No MSI-X: the
    device interrupts through INTx and ISR status."""

    def __init__(
        self,
        model: VirtioDeviceModel,
        line: InterruptLine,
        irq: int,
        options: PciOptions | None = None,
    ) -> None:
        self.options = options = options or PciOptions()
        device_type = model.device_id
        if model.legacy_capable and device_type not in TRANSITIONAL_PCI_DEVICE_IDS:
            raise ValueError(f"device type {device_type} has no transitional PCI ID")
        legacy = model.legacy_capable
        faults = model.faults
        vendor, device_id, revision, subsystem = _identity(device_type, legacy, faults)
        super().__init__(
            vendor,
            device_id,
            class_code=0xFF0000,
            revision=revision if options.revision is None else options.revision,
            subsystem_vendor_id=options.subsystem[0] if options.subsystem else VIRTIO_PCI_VENDOR,
            subsystem_id=options.subsystem[1] if options.subsystem else subsystem,
        )
        self.model = model
        self.irq = irq
        self._line = line
        self._level = False
        self._cfg_data: int | None = None
        self._caps: list[tuple[int, int, int]] = []  # (offset, end, cfg_type) per virtio cap
        self._structures: list[tuple[int, int, int]] = []  # (bar, offset, length) they name
        self._put(PciCfg.INTERRUPT_LINE, 1, irq)  # as firmware would have routed it
        self._put(PciCfg.INTERRUPT_PIN, 1, 1)  # INTA#
        if legacy:  # fault: the legacy header in memory space
            size = 1 << (Legacy.CONFIG + model.backend.config_size() - 1).bit_length()
            kind: BarKind = "mem32" if "legacy_header_in_memory" in faults else "io"
            self.set_bar(LEGACY_BAR, Bar(kind, size, _LegacyHeader(model)))
            if options.extra_io_bar:
                self.set_bar(
                    EXTRA_IO_BAR, Bar("io", 0x20, RegisterBank("pci-extra-io", {}, model.events))
                )
        if model.modern_capable:
            copies = 2 if options.second_instances else 1
            layout = _ModernLayout.for_faults(faults)
            block = _ModernBar(model, layout, copies)
            self.set_bar(
                MODERN_BAR, Bar("mem64", MODERN_BAR_SIZE * copies, block, prefetchable=True)
            )
            self._add_virtio_caps(layout, faults)
        model.connect_irq(self)

    def _add_virtio_caps(self, layout: _ModernLayout, faults: frozenset[str]) -> None:
        """Capabilities in QEMU's order; each structure's cap covers its whole region
        (or, with ``large_lengths``, the rest of the BAR); the options may put a cap the
        driver must ignore first, and the device's seeded bugs of its list are here."""
        options = self.options
        first = self._cap_end
        if options.reserved_cap:
            self._add_virtio_cap(RESERVED_CFG_TYPE, MODERN_BAR, 0, _REGION)
        if options.reserved_bar_cap:
            self._add_virtio_cap(CapType.COMMON, RESERVED_BAR, 0, _REGION)
        for copy in range(2 if options.second_instances else 1):
            self._add_structure_caps(copy * MODERN_BAR_SIZE, layout, faults)
        if "omit_pci_cfg_cap" not in faults:
            # bar, offset, length and pci_cfg_data are the driver's to write
            writable = bytes(4) + b"\xff" + bytes(3) + b"\xff" * 12
            offset = self._add_virtio_cap(CapType.PCI_CFG, 0, 0, 0, 0, writable)
            self._cfg_data = offset + Cap.PCI_CFG_DATA
        if "cap_list_loop" in faults:
            self.config[self._cap_link] = first  # the last next pointer leads back

    def _add_structure_caps(self, base: int, layout: _ModernLayout, faults: frozenset[str]) -> None:
        for cfg_type, region in _REGIONS:
            if f"omit_{cfg_type.name.lower()}_cap" in faults:
                continue
            extra = layout.multiplier if cfg_type == CapType.NOTIFY else None
            # fault notify_cap_len_short: the multiplier left out of cap_len
            short = extra is not None and "notify_cap_len_short" in faults
            at = base + layout.offset(region)
            length = self._length(region, layout)
            self._add_virtio_cap(cfg_type, MODERN_BAR, at, length, extra, short_cap_len=short)

    def _length(self, region: int, layout: _ModernLayout) -> int:
        if self.options.large_lengths:
            return MODERN_BAR_SIZE - region * _REGION
        return layout.length(region)

    def _add_virtio_cap(
        self,
        cfg_type: int,
        bar: int,
        offset: int,
        length: int,
        extra: int | None = None,
        writable: bytes = b"",
        short_cap_len: bool = False,
    ) -> int:
        body = _virtio_cap(cfg_type, bar, offset, length, extra, self.options.cap_len_extra)
        if short_cap_len:
            body = body[:2] + bytes([16]) + body[3:]
        at = self.add_capability(body, writable)
        self._caps.append((at, at + len(body), cfg_type))
        if cfg_type != CapType.PCI_CFG:
            self._structures.append((bar, offset, length))
        return at

    def _cap_at(self, offset: int) -> int | None:
        """cfg_type of the virtio capability holding config byte ``offset``, if any."""
        return next((t for start, end, t in self._caps if start <= offset < end), None)

    def _observed(self, offset: int, width: int, value: int, write: bool) -> None:
        """Record a driver access to configuration space (and, for a read of the IDs,
        what the function presents)."""
        events = self.model.events
        if offset < 4 and not write:
            events.emit(
                "device",
                Kind.PCI_ID_READ,
                vendor=self._get(PciCfg.VENDOR_ID, 2),
                device=self._get(PciCfg.DEVICE_ID, 2),
                revision=self._get(PciCfg.REVISION, 1),
                modern=bool(self._caps),
                quirks=self.options.quirks,
            )
        events.emit(
            "device",
            Kind.PCI_CONFIG_ACCESS,
            offset=offset,
            width=width,
            value=value,
            write=write,
            cap=self._cap_at(offset),
        )

    # -- INTx ------------------------------------------------------------------------

    def set_level(self, level: bool) -> None:
        """The device's interrupt output: mirrored in the Interrupt Status bit and
        driven onto the INTx line unless the command register disables INTx."""
        self._level = level
        if level and "status_interrupt_bit_clear" not in self.model.faults:
            self.config[PciCfg.STATUS] |= STATUS_INTERRUPT
        else:
            self.config[PciCfg.STATUS] &= ~STATUS_INTERRUPT
        self._line.set_level(level and not self.command & CMD_INTX_DISABLE)

    # -- config space with the VIRTIO_PCI_CAP_PCI_CFG window ---------------------------

    def config_read(self, offset: int, width: int) -> int:
        if self._touches_cfg_data(offset, width):
            self._cfg_window(write=False)
        value = super().config_read(offset, width)
        self._observed(offset, width, value, write=False)
        return value

    def config_write(self, offset: int, width: int, value: int) -> None:
        self._observed(offset, width, value, write=True)
        super().config_write(offset, width, value)
        if self._touches_cfg_data(offset, width):
            self._cfg_window(write=True)
        self.set_level(self._level)  # the command register may have masked INTx

    def _touches_cfg_data(self, offset: int, width: int) -> bool:
        data = self._cfg_data
        return data is not None and offset < data + 4 and data < offset + width

    def _cfg_window(self, write: bool) -> None:
        """Carry out the BAR access the PCI cfg capability describes (spec: on every
        driver read or write of pci_cfg_data)."""
        assert self._cfg_data is not None
        cap = self._cfg_data - Cap.PCI_CFG_DATA
        index = self.config[cap + Cap.BAR]
        offset = self._get(cap + Cap.OFFSET, 4)
        length = self._get(cap + Cap.LENGTH, 4)
        covered = any(
            index == b and start <= offset and offset + length <= start + size
            for b, start, size in self._structures
        )
        self.model.events.emit(
            "device",
            Kind.PCI_CFG_WINDOW,
            bar=index,
            offset=offset,
            length=length,
            write=write,
            covered=length > 0 and covered,
        )
        bar = self.bars[index] if index < NUM_BARS else None
        if bar is None or length not in (1, 2, 4) or offset + length > bar.size:
            return
        if f"pci_cfg_{'write' if write else 'read'}_ignored" in self.model.faults:
            return
        if write:
            bar.block.write(offset, length, self._get(self._cfg_data, length))
        else:
            self._put(self._cfg_data, length, bar.block.read(offset, length))


def _identity(device_type: int, legacy: bool, faults: frozenset[str]) -> tuple[int, ...]:
    """Vendor ID, Device ID, Revision ID and Subsystem Device ID of a virtio function:
    QEMU's, unless a seeded bug gets one wrong."""
    kind = "transitional" if legacy else "modern"  # the seeded bugs name the kind they hit
    swapped = f"{kind}_{'modern' if legacy else 'transitional'}_id" in faults
    device_id = (
        TRANSITIONAL_PCI_DEVICE_IDS[device_type]
        if legacy != swapped
        else MODERN_PCI_DEVICE_BASE + device_type + ("device_id_of_another_type" in faults)
    )
    revision = 0 if legacy else 1
    subsystem = device_type if legacy else QEMU_SUBSYSTEM_ID
    if f"{kind}_revision_{1 - revision}" in faults:
        revision = 1 - revision
    if f"{kind}_subsystem_{'modern' if legacy else 'type'}" in faults:
        subsystem = QEMU_SUBSYSTEM_ID if legacy else device_type
    vendor = 0x1B36 if "wrong_vendor_id" in faults else VIRTIO_PCI_VENDOR  # Red Hat's other
    return vendor, device_id, revision, subsystem


def _virtio_cap(
    cfg_type: int, bar: int, offset: int, length: int, extra: int | None = None, pad: int = 0
) -> bytes:
    """struct virtio_pci_cap (+ one le32 of extra data: notify multiplier or cfg data),
    then ``pad`` zero bytes that cap_len counts."""
    cap_len = (16 if extra is None else 20) + pad
    body = bytes((PCI_CAP_ID_VNDR, 0, cap_len, cfg_type, bar, 0, 0, 0))
    body += offset.to_bytes(4, "little") + length.to_bytes(4, "little")
    body = body if extra is None else body + extra.to_bytes(4, "little")
    return body + bytes(pad)


def _ignore(value: int) -> None:
    """Writes to the MSI-X vector fields: with no MSI-X the mapping always fails, so
    they keep reading NO_VECTOR."""


def _common_registers(m: VirtioDeviceModel) -> dict[int, Register]:
    queue_field = m.read_queue
    registers = {
        Common.DEVICE_FEATURE_SELECT: attribute(
            "device_feature_select", 4, m, "device_feature_select"
        ),
        Common.DEVICE_FEATURE: Register(
            "device_feature", 4, read=lambda: m.read_device_features(m.device_feature_select)
        ),
        Common.DRIVER_FEATURE_SELECT: attribute(
            "driver_feature_select", 4, m, "driver_feature_select"
        ),
        Common.DRIVER_FEATURE: Register(
            "driver_feature",
            4,
            read=lambda: m.read_driver_features(m.driver_feature_select),
            write=lambda v: m.write_driver_features(m.driver_feature_select, v),
        ),
        Common.CONFIG_MSIX_VECTOR: Register(
            "config_msix_vector", 2, read=lambda: NO_VECTOR, write=_ignore
        ),
        Common.NUM_QUEUES: Register("num_queues", 2, read=lambda: m.num_queues),
        Common.DEVICE_STATUS: Register(
            "device_status", 1, read=m.read_status, write=m.write_status
        ),
        Common.CONFIG_GENERATION: Register("config_generation", 1, read=m.read_generation),
        Common.QUEUE_SELECT: attribute("queue_select", 2, m, "queue_select"),
        Common.QUEUE_SIZE: Register(
            "queue_size",
            2,
            read=lambda: queue_field("size"),
            write=lambda v: m.write_queue("size", v),
        ),
        Common.QUEUE_MSIX_VECTOR: Register(
            "queue_msix_vector", 2, read=lambda: NO_VECTOR, write=_ignore
        ),
        Common.QUEUE_ENABLE: Register(
            "queue_enable", 2, read=lambda: queue_field("enabled"), write=m.write_queue_enable
        ),
        # queue_notify_off and queue_notif_config_data are simply the queue index
        Common.QUEUE_NOTIFY_OFF: Register("queue_notify_off", 2, read=lambda: queue_field("index")),
        Common.QUEUE_NOTIF_CONFIG_DATA: Register(
            "queue_notif_config_data", 2, read=lambda: queue_field("index")
        ),
        Common.QUEUE_RESET: Register(
            "queue_reset", 2, read=m.read_queue_reset, write=m.write_queue_reset
        ),
        Common.ADMIN_QUEUE_INDEX: constant("admin_queue_index", 2, 0),
        Common.ADMIN_QUEUE_NUM: constant("admin_queue_num", 2, 0),
    }
    pairs = (
        ("desc", Common.QUEUE_DESC_LO, ("queue_desc_lo", "queue_desc_hi")),
        ("avail", Common.QUEUE_DRIVER_LO, ("queue_driver_lo", "queue_driver_hi")),
        ("used", Common.QUEUE_DEVICE_LO, ("queue_device_lo", "queue_device_hi")),
    )
    for field, offset, names in pairs:
        registers[offset], registers[offset + 4] = queue_address(m, field, names, readable=True)
    return registers


@dataclass(frozen=True, slots=True)
class _ModernLayout:
    """Where each structure starts in its region of BAR4 (``skew`` bytes in), the notify
    multiplier and the notify window's length: QEMU's layout unless a seeded bug moves
    something."""

    skew: dict[int, int]
    multiplier: int = NOTIFY_MULTIPLIER
    notify_length: int = _REGION

    @classmethod
    def for_faults(cls, faults: frozenset[str]) -> _ModernLayout:
        skews = {"common_cfg_misaligned": (_COMMON, 2), "device_cfg_misaligned": (_DEVICE, 2)}
        skews["notify_cfg_odd_offset"] = (_NOTIFY, 1)
        lengths = {"notify_length_1": 1, "notify_length_one_queue": 2}
        return cls(
            dict(skews[name] for name in faults if name in skews),
            6 if "notify_multiplier_6" in faults else NOTIFY_MULTIPLIER,
            min([lengths[name] for name in faults if name in lengths], default=_REGION),
        )

    def offset(self, region: int) -> int:
        return region * _REGION + self.skew.get(region, 0)

    def length(self, region: int) -> int:
        return self.notify_length if region == _NOTIFY else _REGION - self.skew.get(region, 0)

    def locate(self, offset: int) -> tuple[int, int]:
        """(region, offset into its structure) of an offset into BAR4."""
        region = offset >> 12
        return region, offset - self.offset(region)


def _faulty_common_registers(m: VirtioDeviceModel) -> dict[int, Register]:
    """The common cfg registers a seeded bug replaces (each presents the wrong value)."""
    faults = m.faults
    registers: dict[int, Register] = {}
    if "status_stale_after_reset" in faults:
        previous = {"status": 0}  # what the status was when the driver wrote 0

        def write_status(value: int) -> None:
            previous["status"] = m.status if value == 0 else 0
            m.write_status(value)

        registers[Common.DEVICE_STATUS] = Register(
            "device_status", 1, read=lambda: previous["status"] or m.status, write=write_status
        )
    if "queue_enable_latched" in faults:  # through device resets, not queue resets
        enabled: dict[int, int] = {}  # queue -> last value written to queue_enable

        def write_enable(value: int) -> None:
            enabled[m.queue_select] = value
            m.write_queue_enable(value)

        def write_reset(value: int) -> None:
            enabled.pop(m.queue_select, None)
            m.write_queue_reset(value)

        registers[Common.QUEUE_ENABLE] = Register(
            "queue_enable", 2, read=lambda: enabled.get(m.queue_select, 0), write=write_enable
        )
        registers[Common.QUEUE_RESET] = Register(
            "queue_reset", 2, read=lambda: 0, write=write_reset
        )
    if "device_feature_select_wraps" in faults:
        registers[Common.DEVICE_FEATURE] = Register(
            "device_feature", 4, read=lambda: m.read_device_features(m.device_feature_select & 1)
        )
    if "driver_feature_select_ignored" in faults:
        registers[Common.DRIVER_FEATURE] = Register(
            "driver_feature",
            4,
            read=lambda: m.read_driver_features(0),
            write=lambda v: m.write_driver_features(m.driver_feature_select, v),
        )
    if {"absent_queue_size_256", "queue_size_odd"} & faults:

        def read_size() -> int:
            if m.selected_queue is None:
                return 256 if "absent_queue_size_256" in faults else 0
            value = m.read_queue("size")
            return value - 1 if "queue_size_odd" in faults else value

        registers[Common.QUEUE_SIZE] = Register(
            "queue_size", 2, read=read_size, write=lambda v: m.write_queue("size", v)
        )
    if "generation_frozen" in faults:
        registers[Common.CONFIG_GENERATION] = constant("config_generation", 1, 0)
    registers.update(_faulty_queue_reset(m))
    if "queue_address_low_clears_high" in faults:
        for field, low in (
            ("desc", Common.QUEUE_DESC_LO),
            ("avail", Common.QUEUE_DRIVER_LO),
            ("used", Common.QUEUE_DEVICE_LO),
        ):
            registers[low] = Register(
                Common(low).name.lower(),
                4,
                read=lambda f=field: m.read_queue(f) & 0xFFFFFFFF,
                write=lambda v, f=field: m.write_queue(f, v & 0xFFFFFFFF),
            )
    return registers


def _faulty_queue_reset(m: VirtioDeviceModel) -> dict[int, Register]:
    """queue_reset (and what a reset queue presents) as the seeded bugs get it wrong."""
    faults = m.faults & {
        "queue_reset_set_after_reset",
        "queue_reset_set_while_enabled",
        "queue_reset_keeps_size",
        "queue_reset_keeps_enable",
    }
    if not faults:
        return {}
    untouched: set[int] = set()  # queues not enabled since a device reset
    reset_shown_enabled: set[int] = set()

    def write_status(value: int) -> None:
        if value == 0:
            untouched.update(range(m.num_queues))
        m.write_status(value)

    def write_enable(value: int) -> None:
        untouched.discard(m.queue_select)
        reset_shown_enabled.discard(m.queue_select)
        m.write_queue_enable(value)

    def read_reset() -> int:
        queue = m.selected_queue
        if queue is None:
            return 0
        if "queue_reset_set_after_reset" in faults:
            return int(queue.index in untouched)
        return int("queue_reset_set_while_enabled" in faults and queue.enabled)

    def write_reset(value: int) -> None:
        queue = m.selected_queue
        if value != 1 or queue is None:
            return
        if "queue_reset_keeps_enable" in faults:
            reset_shown_enabled.add(queue.index)
        if "queue_reset_keeps_size" in faults:
            queue.enabled = False  # the rings stay where they were
        else:
            m.write_queue_reset(value)

    def read_enable() -> int:
        return int(m.queue_select in reset_shown_enabled) or m.read_queue("enabled")

    return {
        Common.DEVICE_STATUS: Register(
            "device_status", 1, read=lambda: m.status, write=write_status
        ),
        Common.QUEUE_ENABLE: Register("queue_enable", 2, read=read_enable, write=write_enable),
        Common.QUEUE_RESET: Register("queue_reset", 2, read=read_reset, write=write_reset),
    }


class _ModernBar:
    """BAR4 of a modern device: four 4 KiB regions, decoded by region number (``copies``
    2: the same four again above them, which later capabilities name)."""

    def __init__(self, model: VirtioDeviceModel, layout: _ModernLayout, copies: int = 1) -> None:
        self._model = model
        self._layout = layout
        registers = _common_registers(model)
        registers.update(_faulty_common_registers(model))
        self._common = RegisterBank("pci-common", registers, model.events)
        self._copies = copies

    def _first(self, offset: int) -> int:
        """The offset in the first copy (recording a use of a later one)."""
        if offset < MODERN_BAR_SIZE:
            return offset
        offset %= MODERN_BAR_SIZE
        region = (CapType.COMMON, CapType.ISR, CapType.DEVICE, CapType.NOTIFY)[offset >> 12]
        self._model.events.emit(
            "device", Kind.PCI_LATER_INSTANCE_USED, cfg_type=region, offset=offset
        )
        return offset

    def read(self, offset: int, width: int) -> int:
        model = self._model
        region, offset = self._layout.locate(self._first(offset))
        if region == _ISR:
            return model.read_isr()  # any read of the ISR region clears it, as in QEMU
        if region == _COMMON:
            model.use_interface(False)
            return self._common.read(offset, width)
        if region == _DEVICE:
            model.use_interface(False)
            return int.from_bytes(model.config_read(offset, width), "little")
        return 0

    def write(self, offset: int, width: int, value: int) -> None:
        model = self._model
        region, offset = self._layout.locate(self._first(offset))
        if region == _NOTIFY:
            model.notify(offset // self._layout.multiplier, value, width)
        elif region == _COMMON:
            model.use_interface(False)
            self._common.write(offset, width, value)
        elif region == _DEVICE:
            model.use_interface(False)
            model.config_write(offset, value.to_bytes(width, "little"))


def _legacy_registers(m: VirtioDeviceModel) -> dict[int, Register]:
    return {
        Legacy.DEVICE_FEATURES: Register(
            "device_features", 4, read=lambda: m.read_device_features(0)
        ),
        Legacy.DRIVER_FEATURES: Register(
            "driver_features",
            4,
            read=lambda: m.read_driver_features(0),
            write=lambda v: m.write_driver_features(0, v, legacy=True),
        ),
        Legacy.QUEUE_ADDRESS: Register(
            "queue_address",
            4,
            read=lambda: m.read_queue("legacy_pfn"),
            write=lambda v: m.write_queue_pfn(v, LEGACY_PCI_QUEUE_ALIGN),
        ),
        Legacy.QUEUE_SIZE: Register("queue_size", 2, read=lambda: m.read_queue("size")),
        Legacy.QUEUE_SELECT: attribute("queue_select", 2, m, "queue_select"),
        Legacy.QUEUE_NOTIFY: Register(
            "queue_notify", 2, read=lambda: 0, write=lambda v: m.notify(v, v)
        ),
        Legacy.DEVICE_STATUS: Register(
            "device_status", 1, read=m.read_status, write=m.write_status
        ),
        Legacy.ISR_STATUS: Register("isr_status", 1, read=m.read_isr),
    }


class _LegacyHeader:
    """BAR0 I/O window of a legacy/transitional device: the legacy header, then the
    device config at 0x14 accessed at any width (MSI-X absent)."""

    def __init__(self, model: VirtioDeviceModel) -> None:
        self._model = model
        registers = _legacy_registers(model)
        faults = model.faults
        if "legacy_status_at_isr" in faults:  # fault: status and ISR swap places
            registers[Legacy.DEVICE_STATUS], registers[Legacy.ISR_STATUS] = (
                registers[Legacy.ISR_STATUS],
                registers[Legacy.DEVICE_STATUS],
            )
        self._bank = RegisterBank("pci-legacy", registers, model.events)
        # fault: device config where it would follow the MSI-X vector fields
        self._config = Legacy.CONFIG + (4 if "legacy_config_after_msix" in faults else 0)
        self._narrow_aligned = "legacy_config_narrow_aligned" in faults

    def read(self, offset: int, width: int) -> int:
        self._model.use_interface(True)
        if offset >= self._config:
            offset -= self._config
            if width < 4 and "legacy_config_whole_only" in self._model.faults:
                return WIDTH_MASKS[width]  # fault: narrow config reads find nothing
            if self._narrow_aligned and width < 4:  # fault: narrow reads ignore offset & 3
                offset &= ~3
            return int.from_bytes(self._model.config_read(offset, width), "little")
        return self._bank.read(offset, width)

    def write(self, offset: int, width: int, value: int) -> None:
        self._model.use_interface(True)
        if offset >= self._config:
            self._model.config_write(offset - self._config, value.to_bytes(width, "little"))
        else:
            self._bank.write(offset, width, value)


PciMode = Literal["modern", "legacy", "transitional"]
PCI_MODES: dict[PciMode, tuple[bool, bool]] = {
    "modern": (False, True),
    "legacy": (True, False),
    "transitional": (True, True),
}
"""Mode -> (legacy_capable, modern_capable) of the device model."""
