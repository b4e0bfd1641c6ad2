"""Device-side virtio-mmio at register level: identification, the version 1 legacy
registers, and the misuse the register model records."""

from __future__ import annotations

from ballast.machine import InProcessMachine
from ballast.machine.mmio import MmioVersion, VirtioMmioDevice
from ballast.monitors.events import Kind
from ballast.virtio.layout import Mmio
from ballast.virtio.status import Status
from tests.fakes.virtio_backend import FakeBackend

BASE = 0xFEB00000


def _machine(version: MmioVersion) -> tuple[InProcessMachine, VirtioMmioDevice]:
    machine = InProcessMachine(1 << 20)
    device = machine.attach_mmio(FakeBackend(), BASE, version, irq=5)
    return machine, device


def read(m: InProcessMachine, reg: int) -> int:
    return m.mmio_read(BASE + reg, 4)


def write(m: InProcessMachine, reg: int, value: int) -> None:
    m.mmio_write(BASE + reg, 4, value)


def test_identification_registers() -> None:
    m, _ = _machine(2)
    ids = [read(m, r) for r in (Mmio.MAGIC_VALUE, Mmio.VERSION, Mmio.DEVICE_ID, Mmio.VENDOR_ID)]
    assert ids == [0x74726976, 2, 5, 0x554D4551]
    assert read(m, Mmio.CONFIG) == 0x04030201


def test_v1_queue_pfn_uses_guest_page_size_and_queue_align() -> None:
    m, device = _machine(1)
    write(m, Mmio.GUEST_PAGE_SIZE, 0x1000)
    write(m, Mmio.QUEUE_SEL, 1)
    write(m, Mmio.QUEUE_SIZE, 16)
    write(m, Mmio.QUEUE_ALIGN, 0x100)
    write(m, Mmio.QUEUE_PFN, 0x20)
    queue = device.model.queue(1)
    assert (queue.desc, queue.avail, queue.used, queue.enabled) == (0x20000, 0x20100, 0x20200, True)
    assert read(m, Mmio.QUEUE_PFN) == 0x20
    write(m, Mmio.STATUS, 0)
    assert read(m, Mmio.QUEUE_PFN) == 0
    assert device.guest_page_size == 0x1000  # survives reset, as on QEMU


def test_v2_has_no_shared_memory_and_a_generation() -> None:
    m, device = _machine(2)
    assert [read(m, Mmio.SHM_LEN_LOW + 4 * i) for i in range(4)] == [0xFFFFFFFF] * 4
    device.model.config_changed()
    assert read(m, Mmio.CONFIG_GENERATION) == 1


def test_queue_ready_can_be_cleared_on_mmio() -> None:
    m, device = _machine(2)
    write(m, Mmio.STATUS, Status.ACKNOWLEDGE)
    write(m, Mmio.QUEUE_READY, 1)
    assert read(m, Mmio.QUEUE_READY) == 1
    write(m, Mmio.QUEUE_READY, 0)
    assert read(m, Mmio.QUEUE_READY) == 0
    enabled = [e["enabled"] for e in m.events.of(Kind.QUEUE_ENABLED)]
    assert enabled == [True, False]
    assert not device.model.queue(0).enabled


def test_misuse_is_recorded() -> None:
    m, _ = _machine(1)
    read(m, Mmio.QUEUE_SEL)  # write-only
    write(m, Mmio.MAGIC_VALUE, 0)  # read-only
    m.mmio_write(BASE + Mmio.STATUS, 1, 1)  # control registers are 32 bits
    read(m, Mmio.QUEUE_READY)  # version 2 only
    problems = [(e["register"], e["problem"]) for e in m.events.of(Kind.REGISTER_MISUSE)]
    assert problems == [
        ("QueueSel", "read-of-write-only"),
        ("MagicValue", "write-to-read-only"),
        ("Status", "width"),
        (None, "undefined"),
    ]
