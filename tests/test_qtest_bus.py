"""QtestBus against a scripted peer: which qtest command each Bus call becomes, and how
irq_level/poll consume asynchronous IRQ lines."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import pytest

from ballast.targets.qemu.bus import HEX_TRANSFER_MAX, QtestBus
from ballast.targets.qemu.qtest import QtestClient
from ballast.virtio.bus import Bus, BusError
from tests.fakes.qtest_peer import FakeQtestPeer


@pytest.fixture
def peer() -> Iterator[FakeQtestPeer]:
    fake = FakeQtestPeer()
    yield fake
    fake.close()


@pytest.fixture
def bus(peer: FakeQtestPeer) -> Iterator[QtestBus]:
    client = QtestClient(peer.client_sock, timeout=0.5)
    yield QtestBus(client)
    client.close()


def test_is_a_bus(bus: QtestBus) -> None:
    typed: Bus = bus
    assert typed is bus


def test_intercepts_the_given_controller(peer: FakeQtestPeer) -> None:
    peer.queue("OK")
    client = QtestClient(peer.client_sock, timeout=0.5)
    QtestBus(client, irq_controller="ioapic")
    assert peer.received() == ["irq_intercept_in ioapic"]
    client.close()


def test_small_transfers_use_hex_and_large_ones_base64(peer: FakeQtestPeer, bus: QtestBus) -> None:
    small, large = bytes(HEX_TRANSFER_MAX), bytes(HEX_TRANSFER_MAX + 1)
    peer.queue("OK 0x" + small.hex(), "OK " + base64.b64encode(large).decode(), "OK", "OK")
    assert bus.mem_read(0x1000, len(small)) == small
    assert bus.mem_read(0x1000, len(large)) == large
    bus.mem_write(0x1000, small)
    bus.mem_write(0x1000, large)
    verbs = [line.split()[0] for line in peer.received()]
    assert verbs == ["read", "b64read", "write", "b64write"]


def test_empty_transfers_send_nothing(peer: FakeQtestPeer, bus: QtestBus) -> None:
    assert bus.mem_read(0x1000, 0) == b""
    bus.mem_write(0x1000, b"")
    assert peer.received() == []


def test_widths_map_to_commands(peer: FakeQtestPeer, bus: QtestBus) -> None:
    peer.queue(*["OK 0x0000000000000001"] * 4, *["OK"] * 4, *["OK 0x0001"] * 3, *["OK"] * 3)
    for width in (1, 2, 4, 8):
        assert bus.mmio_read(0x10, width) == 1
    for width in (1, 2, 4, 8):
        bus.mmio_write(0x10, width, 2)
    for width in (1, 2, 4):
        assert bus.io_read(0x80, width) == 1
    for width in (1, 2, 4):
        bus.io_write(0x80, width, 3)
    assert [line.split()[0] for line in peer.received()] == [
        "readb",
        "readw",
        "readl",
        "readq",
        "writeb",
        "writew",
        "writel",
        "writeq",
        "inb",
        "inw",
        "inl",
        "outb",
        "outw",
        "outl",
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.mmio_read(0, 3),
        lambda b: b.mmio_write(0, 16, 0),
        lambda b: b.io_read(0, 8),
        lambda b: b.io_write(0, 0, 0),
    ],
)
def test_bad_widths_are_bus_errors(peer: FakeQtestPeer, bus: QtestBus, call) -> None:
    with pytest.raises(BusError, match="width"):
        call(bus)
    assert peer.received() == []


def test_irq_level_reads_pending_lines(peer: FakeQtestPeer, bus: QtestBus) -> None:
    assert not bus.irq_level(23)
    peer.queue("IRQ raise 23")
    assert bus.irq_level(23)
    peer.queue("IRQ lower 23")
    assert not bus.irq_level(23)


def test_poll_returns_early_on_an_irq_line(peer: FakeQtestPeer, bus: QtestBus) -> None:
    threading.Timer(0.05, peer.queue, args=("IRQ raise 5",)).start()
    began = time.monotonic()
    bus.poll(3.0)
    assert time.monotonic() - began < 1.0
    assert bus.irq_level(5)
    began = time.monotonic()
    bus.poll(0.05)
    assert time.monotonic() - began >= 0.04
    bus.poll()  # zero timeout: never waits
