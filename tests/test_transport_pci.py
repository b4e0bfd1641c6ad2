"""Driver-side PCI: bus scan, virtio matching, BAR assignment, capability walk, and what
is particular to the modern and legacy transports."""

from __future__ import annotations

import dataclasses

import pytest

from ballast.machine import InProcessMachine
from ballast.machine.pci import PciMode
from ballast.monitors.events import Kind
from ballast.virtio.layout import CMD_BUS_MASTER, CMD_IO, CMD_MEMORY, CapType, PciCfg
from ballast.virtio.splitq import layout, legacy_layout
from ballast.virtio.transport import (
    BarAllocator,
    PciLegacyTransport,
    PciModernTransport,
    TransportError,
    find_virtio,
    open_transport,
    scan,
)
from ballast.virtio.transport.pci import VirtioCap
from tests.fakes.virtio_backend import FakeBackend, make_rig


class CountingMachine(InProcessMachine):
    """Counts port accesses, to keep discovery cheap over qtest (one round trip each)."""

    accesses = 0

    def io_read(self, port: int, width: int) -> int:
        self.accesses += 1
        return super().io_read(port, width)

    def io_write(self, port: int, width: int, value: int) -> None:
        self.accesses += 1
        super().io_write(port, width, value)


def _machine(*modes: PciMode) -> CountingMachine:
    machine = CountingMachine(1 << 22)
    for slot, mode in enumerate(modes, start=3):
        machine.attach_pci(FakeBackend(), mode, slot)
    return machine


def test_scan_finds_every_function_with_few_accesses() -> None:
    bus = _machine("modern")
    functions = scan(bus)
    assert [(f.slot, f.vendor_id, f.device_id) for f in functions] == [
        (0, 0x8086, 0x29C0),
        (3, 0x1AF4, 0x1045),
    ]
    # one ID read per slot, plus a header-type read per present function
    assert bus.accesses == 2 * (32 + 2)


@pytest.mark.parametrize(
    ("mode", "device_id", "revision", "subsystem_id"),
    [("modern", 0x1045, 1, 0x1100), ("transitional", 0x1002, 0, 5), ("legacy", 0x1002, 0, 5)],
)
def test_find_virtio_matches_modern_and_transitional_ids(
    mode: PciMode, device_id: int, revision: int, subsystem_id: int
) -> None:
    (function,) = find_virtio(_machine(mode))
    assert function.device_id == device_id
    assert function.revision == revision
    assert function.subsystem_id == subsystem_id


def test_find_virtio_ignores_other_device_types() -> None:
    machine = _machine("modern")
    machine.attach_pci(FakeBackend(device_id=1), "modern", slot=7)
    assert [f.slot for f in find_virtio(machine)] == [3]
    assert [f.device_id for f in find_virtio(machine, device_type=1)] == [0x1041]


def test_bar_assignment_sizes_places_and_enables() -> None:
    (function,) = find_virtio(_machine("transitional"))
    bars = function.assign_bars(BarAllocator())
    assert {i: (b.io, b.address, b.size) for i, b in bars.items()} == {
        0: (True, 0xC000, 0x20),
        4: (False, 0xE0000000, 0x4000),
    }
    command = function.cfg_read(PciCfg.COMMAND, 2)
    assert command & (CMD_IO | CMD_MEMORY | CMD_BUS_MASTER) == CMD_IO | CMD_MEMORY | CMD_BUS_MASTER
    assert function.cfg_read(PciCfg.BAR0 + 16, 4) == 0xE000000C  # 64-bit prefetchable
    assert function.cfg_read(PciCfg.BAR0 + 20, 4) == 0


def test_a_shared_allocator_keeps_devices_apart_and_reopening_keeps_bars() -> None:
    machine = _machine("modern", "modern")
    allocator = BarAllocator()
    first, second = find_virtio(machine)
    first.assign_bars(allocator)
    second.assign_bars(allocator)
    assert first.bars[4].address != second.bars[4].address
    again = find_virtio(machine)[0]
    again.assign_bars(BarAllocator())
    assert again.bars[4].address == first.bars[4].address


def test_capability_walk_follows_qemu_layout() -> None:
    (function,) = find_virtio(_machine("modern"))
    caps = {t: dataclasses.replace(c, pointer=0) for t, c in function.virtio_caps().items()}
    assert caps[CapType.COMMON] == VirtioCap(CapType.COMMON, 4, 0x0000, 0x1000)
    assert caps[CapType.ISR] == VirtioCap(CapType.ISR, 4, 0x1000, 0x1000)
    assert caps[CapType.DEVICE] == VirtioCap(CapType.DEVICE, 4, 0x2000, 0x1000)
    assert caps[CapType.NOTIFY] == VirtioCap(CapType.NOTIFY, 4, 0x3000, 0x1000, 4)
    assert CapType.PCI_CFG in caps


def test_interrupt_line_comes_from_config_space_or_the_caller() -> None:
    assert open_transport(_machine("modern"), "pci-modern").irq_line == 19
    assert open_transport(_machine("modern"), "pci-modern", irq_line=23).irq_line == 23


def test_the_right_interface_or_a_clear_error() -> None:
    with pytest.raises(TransportError, match="no legacy interface"):
        open_transport(_machine("modern"), "pci-legacy")
    with pytest.raises(TransportError, match="not a modern device"):
        open_transport(_machine("legacy"), "pci-modern")
    with pytest.raises(TransportError, match="found 0"):
        open_transport(InProcessMachine(1 << 20), "pci-modern")
    assert isinstance(open_transport(_machine("transitional"), "pci-legacy"), PciLegacyTransport)
    assert isinstance(open_transport(_machine("transitional"), "pci-modern"), PciModernTransport)


@pytest.mark.parametrize(("kind", "legacy"), [("pci-modern", False), ("pci-legacy", True)])
def test_transitional_device_follows_the_interface_used(kind: str, legacy: bool) -> None:
    machine = InProcessMachine(1 << 22)
    device = machine.attach_pci(FakeBackend(), "transitional")
    open_transport(machine, kind).get_status()
    assert device.model.is_legacy == legacy


def test_modern_queue_reset() -> None:
    rig = make_rig("pci-modern")
    t = rig.transport
    lay = layout(64, 0x10000)
    t.setup_queue(0, 64, lay.desc, lay.avail, lay.used)
    t.enable_queue(0)
    t.reset_queue(0)
    queue = rig.model.queue(0)
    assert (queue.enabled, queue.desc, queue.size) == (False, 0, 64)
    assert [e["index"] for e in rig.machine.events.of(Kind.QUEUE_RESET)] == [0]


def test_modern_queue_may_be_smaller_than_the_maximum() -> None:
    rig = make_rig("pci-modern")
    lay = layout(16, 0x10000)
    rig.transport.setup_queue(0, 16, lay.desc, lay.avail, lay.used)
    assert rig.model.queue(0).size == 16


def test_legacy_queue_must_be_full_size_and_page_aligned() -> None:
    t = make_rig("pci-legacy").transport
    small = legacy_layout(32, 0x10000)
    with pytest.raises(TransportError, match="fixed size 64"):
        t.setup_queue(0, 32, small.desc, small.avail, small.used)
    packed = layout(64, 0x10000)
    with pytest.raises(TransportError, match="legacy layout"):
        t.setup_queue(0, 64, packed.desc, packed.avail, packed.used)
    with pytest.raises(TransportError, match="page"):
        t.setup_queue(0, 64, 0x10010, 0x10410, 0x11000)
    with pytest.raises(TransportError, match="not set up"):
        t.enable_queue(1)


def test_legacy_queue_address_is_a_page_number() -> None:
    rig = make_rig("pci-legacy")
    lay = legacy_layout(64, 0x30000)
    rig.transport.setup_queue(0, 64, lay.desc, lay.avail, lay.used)
    rig.transport.enable_queue(0)
    assert rig.model.queue(0).legacy_pfn == 0x30


def test_legacy_limits() -> None:
    t = make_rig("pci-legacy").transport
    with pytest.raises(TransportError, match="bits 0-31"):
        t.set_driver_features(1 << 32)
    with pytest.raises(TransportError, match="no queue reset"):
        t.reset_queue(0)
    assert t.config_read(1, 4) == 0x05040302  # any offset, any width


def test_big_endian_guest_bytes_pass_through_unchanged() -> None:
    backend = FakeBackend(config=bytearray(b"\x00\x00\x01\x02" + bytes(8)))
    rig = make_rig("pci-legacy", backend, endian="big")
    assert rig.model.endian == "big"
    assert rig.model.is_legacy
    # the transport carries bytes: a big-endian driver swaps what it reads itself
    assert rig.transport.config_read(0, 4) == 0x02010000
