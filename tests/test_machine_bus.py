"""The in-process machine as a Bus: access checks, unassigned space, RAM, interrupt
lines and how long a notify/interrupt round trip takes."""

from __future__ import annotations

import time

import pytest

from ballast.machine import InProcessMachine
from ballast.virtio.bus import BusError
from ballast.virtio.splitq import layout, legacy_layout
from tests.fakes.virtio_backend import make_rig


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("mmio_read", (0x1001, 2)),
        ("mmio_read", (0x1000, 3)),
        ("mmio_write", (0x1004, 8, 0)),
        ("io_read", (0x10, 8)),
        ("io_write", (0xFFFF, 2, 0)),
    ],
)
def test_accesses_qtest_would_not_carry_are_refused(call: str, args: tuple[int, ...]) -> None:
    with pytest.raises(BusError):
        getattr(InProcessMachine(1 << 16), call)(*args)


def test_unassigned_space_and_ram() -> None:
    m = InProcessMachine(1 << 16)
    assert m.mmio_read(0xF0000000, 4) == 0
    assert m.io_read(0x80, 2) == 0xFFFF
    m.io_write(0x80, 1, 0)
    m.mmio_write(0x100, 8, 0x1122334455667788)
    assert m.mem_read(0x100, 8) == bytes.fromhex("8877665544332211")
    m.mem_write(0x200, b"\x01\x02")
    assert m.mmio_read(0x200, 2) == 0x0201


def test_interrupt_lines_are_wired_or() -> None:
    m = InProcessMachine(1 << 16)
    line = m.irq(9)
    a, b = line.source(), line.source()
    a.set_level(True)
    b.set_level(True)
    a.set_level(False)
    assert m.irq_level(9)
    b.set_level(False)
    assert not m.irq_level(9)
    assert not m.irq_level(10)


@pytest.mark.parametrize("kind", ["pci-modern", "pci-legacy", "mmio-v2"])
def test_notify_round_trip_is_cheap(kind: str) -> None:
    """The reference pair pushes 8192 notify+ring cycles in well under 2 s; the
    transport's share of a cycle (notify, interrupt, acknowledge) must stay small."""
    rig = make_rig(kind)
    t = rig.transport
    size = t.queue_max_size(0)
    lay = (legacy_layout if t.legacy else layout)(size, 0x10000)
    t.setup_queue(0, size, lay.desc, lay.avail, lay.used)
    t.enable_queue(0)
    line = rig.line
    start = time.perf_counter()
    for _ in range(8192):
        t.notify(0)
        if line.level:
            t.ack_interrupt()
    assert time.perf_counter() - start < 1.0
    assert len(rig.backend.notified) == 8192
