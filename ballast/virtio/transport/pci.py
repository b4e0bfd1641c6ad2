"""PCI from the driver's side: bus-0 scan through ports 0xcf8/0xcfc, BAR sizing and
assignment, and the virtio capability walk (transport-pci.tex).

Works the same on a machine without firmware (QEMU under qtest, the in-process
machine): the driver places BARs itself from a :class:`BarAllocator` and enables
decoding and bus mastering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ballast.virtio.bus import Bus
from ballast.virtio.layout import (
    BAR_IO,
    BAR_MEM_64,
    CMD_BUS_MASTER,
    CMD_IO,
    CMD_MEMORY,
    HEADER_MULTIFUNCTION,
    NUM_BARS,
    PCI_CAP_ID_VNDR,
    STATUS_CAP_LIST,
    VIRTIO_PCI_VENDOR,
    Cap,
    CapType,
    PciCfg,
    pci_device_ids,
)
from ballast.virtio.transport.base import TransportError, Window

CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC
MAX_CAPABILITIES = 48  # (256 - 64) / 4: more means the list loops
_KNOWN_CAP_TYPES = frozenset(CapType)


class BarAllocator:
    """Hands out naturally aligned BAR addresses from an MMIO window (below QEMU's
    IOAPIC on q35) and an I/O port window.  Share one per bus when opening several
    devices, so their BARs do not collide."""

    def __init__(
        self,
        mmio: tuple[int, int] = (0xE0000000, 0xFEC00000),
        io: tuple[int, int] = (0xC000, 0x10000),
    ) -> None:
        self._next = {False: mmio[0], True: io[0]}
        self._limit = {False: mmio[1], True: io[1]}

    def allocate(self, size: int, io: bool) -> int:
        address = -(-self._next[io] // size) * size
        if address + size > self._limit[io]:
            space = "I/O" if io else "MMIO"
            raise TransportError(f"{space} window exhausted allocating a {size:#x}-byte BAR")
        self._next[io] = address + size
        return address


@dataclass(frozen=True, slots=True)
class BarInfo:
    """Where an assigned BAR decodes."""

    index: int
    io: bool
    address: int
    size: int


@dataclass(frozen=True, slots=True)
class VirtioCap:
    """A virtio structure capability: ``length`` bytes at ``offset`` in BAR ``bar``."""

    cfg_type: int
    bar: int
    offset: int
    length: int
    multiplier: int = 0  # notify_off_multiplier (notify capability only)
    pointer: int = 0  # where the capability sits in configuration space


@dataclass(slots=True)
class PciFunction:
    """One function on bus 0, reached through configuration mechanism #1."""

    bus: Bus
    slot: int
    function: int
    vendor_id: int
    device_id: int
    bars: dict[int, BarInfo] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"00:{self.slot:02x}.{self.function} [{self.vendor_id:04x}:{self.device_id:04x}]"

    def cfg_read(self, offset: int, width: int) -> int:
        self.bus.io_write(CONFIG_ADDRESS, 4, _config_address(self.slot, self.function, offset))
        return self.bus.io_read(CONFIG_DATA + (offset & 3), width)

    def cfg_write(self, offset: int, width: int, value: int) -> None:
        self.bus.io_write(CONFIG_ADDRESS, 4, _config_address(self.slot, self.function, offset))
        self.bus.io_write(CONFIG_DATA + (offset & 3), width, value)

    @property
    def revision(self) -> int:
        return self.cfg_read(PciCfg.REVISION, 1)

    @property
    def subsystem_vendor_id(self) -> int:
        return self.cfg_read(PciCfg.SUBSYSTEM_VENDOR_ID, 2)

    @property
    def subsystem_id(self) -> int:
        return self.cfg_read(PciCfg.SUBSYSTEM_ID, 2)

    @property
    def irq_line(self) -> int | None:
        """The line firmware routed INTx to (Interrupt Line), None if nobody did."""
        if not self.cfg_read(PciCfg.INTERRUPT_PIN, 1):
            return None
        line = self.cfg_read(PciCfg.INTERRUPT_LINE, 1)
        return None if line in (0, 0xFF) else line

    def assign_bars(self, allocator: BarAllocator) -> dict[int, BarInfo]:
        """Size every BAR, place it (keeping addresses a previous owner assigned while
        decoding was on) and enable I/O, memory decoding and bus mastering."""
        command = self.cfg_read(PciCfg.COMMAND, 2)
        keep = bool(command & (CMD_IO | CMD_MEMORY))
        self.cfg_write(PciCfg.COMMAND, 2, command & ~(CMD_IO | CMD_MEMORY))
        self.bars.clear()
        index = 0
        while index < NUM_BARS:
            bar, dwords = self._place_bar(index, allocator, keep)
            if bar is not None:
                self.bars[index] = bar
            index += dwords
        decode = 0
        for bar in self.bars.values():
            decode |= CMD_IO if bar.io else CMD_MEMORY
        self.cfg_write(PciCfg.COMMAND, 2, command | decode | CMD_BUS_MASTER)
        return dict(self.bars)

    def _place_bar(
        self, index: int, allocator: BarAllocator, keep: bool
    ) -> tuple[BarInfo | None, int]:
        """Size BAR ``index`` by writing all-ones, then program its address; returns it
        and the number of BAR registers it takes (2 for a 64-bit BAR)."""
        offset = PciCfg.BAR0 + 4 * index
        original = self.cfg_read(offset, 4)
        self.cfg_write(offset, 4, 0xFFFFFFFF)
        mask = self.cfg_read(offset, 4)
        if mask == 0:
            return None, 1
        io = bool(mask & BAR_IO)
        wide = not io and bool(mask & BAR_MEM_64)
        if io:
            size = (~mask & 0xFFFC) + 4  # I/O decoders may implement 16 bits only
            address = original & 0xFFFC
        else:
            address, mask = original & ~0xF, mask & ~0xF
            if wide:
                address |= self.cfg_read(offset + 4, 4) << 32
                self.cfg_write(offset + 4, 4, 0xFFFFFFFF)
                mask |= self.cfg_read(offset + 4, 4) << 32
            size = (~mask & ((1 << (64 if wide else 32)) - 1)) + 1
        if not (keep and address):
            address = allocator.allocate(size, io)
        self.cfg_write(offset, 4, address & 0xFFFFFFFF)
        if wide:
            self.cfg_write(offset + 4, 4, address >> 32)
        return BarInfo(index, io, address, size), 2 if wide else 1

    def capabilities(self) -> list[tuple[int, int]]:
        """``(offset, id)`` of each capability, in list order."""
        if not self.cfg_read(PciCfg.STATUS, 2) & STATUS_CAP_LIST:
            return []
        found = []
        pointer = self.cfg_read(PciCfg.CAPABILITIES, 1) & 0xFC
        while pointer and len(found) < MAX_CAPABILITIES:
            header = self.cfg_read(pointer, 2)
            found.append((pointer, header & 0xFF))
            pointer = header >> 8 & 0xFC
        return found

    def virtio_caps(self, faults: frozenset[str] = frozenset()) -> dict[int, VirtioCap]:
        """The first usable virtio structure capability of each type (reserved types and
        BAR numbers are skipped, as the driver must; ``faults`` are seeded bugs)."""
        caps: dict[int, VirtioCap] = {}
        for pointer, cap_id in self.capabilities():
            if cap_id != PCI_CAP_ID_VNDR:
                continue
            cfg_type = self.cfg_read(pointer + Cap.CFG_TYPE, 1)
            bar = self.cfg_read(pointer + Cap.BAR, 1)
            if "pci_cap_write_back" in faults:
                self.cfg_write(pointer + Cap.CFG_TYPE, 1, cfg_type)  # fault: writes the cap
            if cfg_type not in _KNOWN_CAP_TYPES and "pci_cap_reject_reserved_type" in faults:
                raise TransportError(f"{self}: unknown cfg_type {cfg_type}")  # fault
            reserved_bar = bar >= NUM_BARS and "pci_cap_keep_reserved_bar" not in faults
            later = cfg_type in caps and "pci_cap_last_instance" not in faults
            if cfg_type not in _KNOWN_CAP_TYPES or reserved_bar or later:
                continue
            cap = VirtioCap(
                cfg_type,
                bar,
                self.cfg_read(pointer + Cap.OFFSET, 4),
                self.cfg_read(pointer + Cap.LENGTH, 4),
                self.cfg_read(pointer + Cap.NOTIFY_MULTIPLIER, 4)
                if cfg_type == CapType.NOTIFY
                else 0,
                pointer,
            )
            if not _intolerable(self, pointer, cap, faults):
                caps[cfg_type] = cap
        return caps

    def window(self, bar: int, offset: int = 0) -> Window:
        """Register window at ``offset`` into assigned BAR ``bar``."""
        info = self.bars.get(bar)
        if info is None:
            raise TransportError(f"{self}: BAR{bar} is not implemented or not assigned")
        return Window(self.bus, info.address + offset, info.io)


class CfgWindow:
    """A structure reached through the VIRTIO_PCI_CAP_PCI_CFG capability rather than its
    BAR: each access aims the capability's window (bar, offset, length) at the bytes,
    then moves them through pci_cfg_data.  Quacks like a :class:`Window`."""

    def __init__(
        self, function: PciFunction, pointer: int, target: VirtioCap, faults: frozenset[str]
    ) -> None:
        self._function = function
        self._pointer = pointer
        self._target = target
        self._faults = faults

    def _aim(self, offset: int, width: int, bar: int | None = None) -> int:
        f, at = self._function, self._pointer
        f.cfg_write(at + Cap.BAR, 1, self._target.bar if bar is None else bar)
        f.cfg_write(at + Cap.LENGTH, 4, width)
        f.cfg_write(at + Cap.OFFSET, 4, self._target.offset + offset)
        return at + Cap.PCI_CFG_DATA

    def read(self, offset: int, width: int) -> int:
        f = self._function
        if "pci_cfg_wrong_bar" in self._faults:
            f.cfg_read(self._aim(offset, width, bar=0), width)  # fault: BAR0, no structure's
        if "pci_cfg_misaligned_peek" in self._faults and width == 4:
            f.cfg_read(self._aim(offset + 2, 4), 4)  # fault: a peek across two fields
        return f.cfg_read(self._aim(offset, width), width)

    def write(self, offset: int, width: int, value: int) -> None:
        self._function.cfg_write(self._aim(offset, width), width, value)


def _intolerable(
    function: PciFunction, pointer: int, cap: VirtioCap, faults: frozenset[str]
) -> bool:
    """Seeded bugs: a capability an intolerant driver refuses (cap_len other than its
    structure's size, a length beyond the 4 KiB it expects)."""
    if "pci_cap_exact_len" in faults:
        size = 20 if cap.cfg_type in (CapType.NOTIFY, CapType.PCI_CFG) else 16
        if function.cfg_read(pointer + Cap.LEN, 1) != size:
            return True
    return "pci_cap_reject_large_length" in faults and cap.length > 0x1000


def _config_address(slot: int, function: int, offset: int) -> int:
    return 0x80000000 | slot << 11 | function << 8 | offset & 0xFC


def _probe(bus: Bus, slot: int, function: int) -> PciFunction | None:
    bus.io_write(CONFIG_ADDRESS, 4, _config_address(slot, function, 0))
    ids = bus.io_read(CONFIG_DATA, 4)
    vendor = ids & 0xFFFF
    if vendor in (0xFFFF, 0):
        return None
    return PciFunction(bus, slot, function, vendor, ids >> 16)


def scan(bus: Bus) -> list[PciFunction]:
    """Every function on bus 0: one ID read per slot, more only for multi-function
    devices."""
    found = []
    for slot in range(32):
        first = _probe(bus, slot, 0)
        if first is None:
            continue
        found.append(first)
        if first.cfg_read(PciCfg.HEADER_TYPE, 1) & HEADER_MULTIFUNCTION:
            found.extend(f for f in (_probe(bus, slot, fn) for fn in range(1, 8)) if f)
    return found


def find_virtio(
    bus: Bus, device_type: int = 5, faults: frozenset[str] = frozenset()
) -> list[PciFunction]:
    """Virtio functions of ``device_type``: modern ID (0x1040 + type) or the
    transitional ID, which QEMU's default q35 devices carry, whatever their revision
    (``faults``: seeded bugs that match less)."""
    modern, *transitional = pci_device_ids(device_type)
    ids = {modern, *transitional}
    if "pci_match_transitional_only" in faults:
        ids.discard(modern)
    if "pci_match_modern_only" in faults:
        ids.difference_update(transitional)
    found = [f for f in scan(bus) if f.vendor_id == VIRTIO_PCI_VENDOR and f.device_id in ids]
    if "pci_match_known_revision" in faults:
        found = [f for f in found if f.revision in (0, 1)]  # fault: only revisions it knows
    if "pci_match_virtio_subsystem" in faults:  # fault: only virtio's subsystem vendor
        found = [f for f in found if f.subsystem_vendor_id == VIRTIO_PCI_VENDOR]
    return found
