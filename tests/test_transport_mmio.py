"""Driver-side virtio-mmio: probing, and what differs between versions 1 and 2."""

from __future__ import annotations

import pytest

from ballast.machine import InProcessMachine
from ballast.monitors.events import Kind
from ballast.virtio.splitq import layout, legacy_layout
from ballast.virtio.transport import TransportError, open_transport, probe
from ballast.virtio.transport.mmio import MmioDeviceInfo
from tests.fakes.virtio_backend import MMIO_BASE, MMIO_IRQ, FakeBackend, make_rig


def test_probe_finds_the_device_among_empty_and_foreign_slots() -> None:
    machine = InProcessMachine(1 << 20)
    machine.attach_mmio(FakeBackend(device_id=2), 0xFEB00000, 2, irq=5)
    machine.attach_mmio(FakeBackend(), MMIO_BASE, 1, irq=MMIO_IRQ)
    assert probe(machine) == [MmioDeviceInfo(MMIO_BASE, 1, 5)]
    assert probe(machine, device_type=2) == [MmioDeviceInfo(0xFEB00000, 2, 2)]


def test_open_reports_what_it_found() -> None:
    with pytest.raises(TransportError, match="found 0 virtio-mmio"):
        open_transport(InProcessMachine(1 << 20), "mmio")
    with pytest.raises(ValueError, match="unknown transport kind"):
        open_transport(InProcessMachine(1 << 20), "ccw")


def test_v1_places_the_ring_by_page_number_and_align() -> None:
    rig = make_rig("mmio-v1")
    lay = legacy_layout(64, 0x40000)
    rig.transport.setup_queue(0, 64, lay.desc, lay.avail, lay.used)
    assert not rig.model.queue(0).enabled  # QueuePFN is the enable
    rig.transport.enable_queue(0)
    queue = rig.model.queue(0)
    assert (queue.legacy_pfn, queue.legacy_align, queue.used) == (0x40, 4096, lay.used)
    fields = {e["field"]: e["value"] for e in rig.machine.events.of(Kind.QUEUE_FIELD_WRITTEN)}
    assert fields == {"size": 64, "legacy_align": 4096, "legacy_pfn": 0x40}


def test_v1_infers_a_smaller_queue_align() -> None:
    rig = make_rig("mmio-v1")
    lay = legacy_layout(64, 0x40000, align=64)
    rig.transport.setup_queue(0, 64, lay.desc, lay.avail, lay.used)
    rig.transport.enable_queue(0)
    queue = rig.model.queue(0)
    assert (queue.legacy_align, queue.avail, queue.used) == (64, lay.avail, lay.used)


def test_v1_rejects_rings_it_cannot_express() -> None:
    t = make_rig("mmio-v1").transport
    packed = layout(64, 0x40000)
    with pytest.raises(TransportError, match="legacy layout"):
        t.setup_queue(0, 64, packed.desc, packed.avail + 16, packed.used)
    with pytest.raises(TransportError, match="page"):
        t.setup_queue(0, 64, 0x40100, 0x40500, 0x41000)
    with pytest.raises(TransportError, match="no queue reset"):
        t.reset_queue(0)


def test_v2_queue_reset_and_addresses() -> None:
    rig = make_rig("mmio-v2")
    desc, avail, used = 0x1_2345_6780, 0x1_0000_0002, 0x1_0000_1004
    rig.transport.setup_queue(1, 32, desc, avail, used)
    rig.transport.enable_queue(1)
    queue = rig.model.queue(1)
    assert (queue.size, queue.desc, queue.avail, queue.used) == (32, desc, avail, used)
    rig.transport.reset_queue(1)
    assert not rig.model.queue(1).enabled
    assert [e["index"] for e in rig.machine.events.of(Kind.QUEUE_RESET)] == [1]


def test_interrupt_status_holds_until_acknowledged() -> None:
    rig = make_rig("mmio-v2")
    rig.model.raise_vring_interrupt(0)
    regs = rig.machine
    assert regs.mmio_read(MMIO_BASE + 0x60, 4) == 1
    assert regs.mmio_read(MMIO_BASE + 0x60, 4) == 1  # reading does not clear on MMIO
    assert rig.transport.ack_interrupt() == {"vring"}
    assert regs.mmio_read(MMIO_BASE + 0x60, 4) == 0
    assert not rig.line.level


def test_v1_offers_32_feature_bits() -> None:
    rig = make_rig("mmio-v1")
    assert rig.transport.device_features() >> 32 == 0
    rig.transport.set_driver_features(0x2)
    assert rig.model.driver_features == 0x2
    with pytest.raises(TransportError, match="bits 0-31"):
        rig.transport.set_driver_features(1 << 32)
    selects = [e["select"] for e in rig.machine.events.of(Kind.FEATURES_READ)]
    assert selects == [0]  # word 1 does not exist on a legacy link
