"""The qtest client, QMP facade and QtestBus against QEMU's balloon device (q35 and
microvm): identification, memory, interrupts after a QMP balloon request, and the
parked-CPU firmware."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from ballast.targets.qemu.bus import HEX_TRANSFER_MAX, QtestBus
from ballast.targets.qemu.errors import QmpCommandError, QtestArgumentError, QtestError
from ballast.targets.qemu.machines import (
    microvm_irq_route,
    microvm_transport_base,
    q35_intx_route,
)
from ballast.targets.qemu.process import QemuProcess
from ballast.targets.qemu.qtest import QtestClient
from ballast.virtio.bus import BusError
from tests.fakes.qemu_guard import qemu_children, requires_qemu

pytestmark = requires_qemu

SLOT = 3
PCI_BALLOON = f"virtio-balloon-pci,id=balloon0,addr={SLOT:#x}"
MMIO_BALLOON = "virtio-balloon-device,id=balloon0"
BALLOON_PATH = "/machine/peripheral/balloon0"
LAST_TRANSPORT = 23
VIRTIO_MMIO_MAGIC = 0x74726976  # "virt"
VIRTIO_ID_BALLOON = 5
STATUS_DRIVER_OK_LEGACY = 0x7  # ACKNOWLEDGE | DRIVER | DRIVER_OK
LEGACY_IO_BASE = 0xC000
RAM_SCRATCH = 0x100000


@pytest.fixture(autouse=True, scope="module")
def _no_qemu_left() -> Iterator[None]:
    yield
    assert qemu_children() == []


@pytest.fixture
def start() -> Iterator[Callable[..., QemuProcess]]:
    started: list[QemuProcess] = []

    def _start(*devices: str, machine: str = "q35") -> QemuProcess:
        qemu = QemuProcess(machine=machine, devices=devices)
        started.append(qemu)
        return qemu

    yield _start
    for qemu in started:
        qemu.close()


def cfg_read(qtest: QtestClient, slot: int, offset: int) -> int:
    """A 32-bit PCI configuration read on bus 0 through ports 0xcf8/0xcfc."""
    qtest.outl(0xCF8, 0x8000_0000 | slot << 11 | offset)
    return qtest.inl(0xCFC)


def cfg_write(qtest: QtestClient, slot: int, offset: int, value: int) -> None:
    qtest.outl(0xCF8, 0x8000_0000 | slot << 11 | offset)
    qtest.outl(0xCFC, value)


def wait_for_line(bus: QtestBus, line: int, level: bool, timeout: float = 5.0) -> float:
    """Poll until ``line`` has ``level``; returns the seconds it took."""
    began = time.monotonic()
    while bus.irq_level(line) != level:
        assert time.monotonic() - began < timeout, f"IRQ {line} never became {level}"
        bus.poll(0.1)
    return time.monotonic() - began


def test_q35_default_balloon_is_transitional(start: Callable[..., QemuProcess]) -> None:
    qtest = start(PCI_BALLOON).qtest
    assert cfg_read(qtest, SLOT, 0x00) == 0x1002 << 16 | 0x1AF4
    assert cfg_read(qtest, SLOT, 0x2C) >> 16 == VIRTIO_ID_BALLOON  # legacy subsystem ID


def test_q35_modern_only_balloon_id(start: Callable[..., QemuProcess]) -> None:
    qtest = start(PCI_BALLOON + ",disable-legacy=on").qtest
    assert cfg_read(qtest, SLOT, 0x00) == 0x1045 << 16 | 0x1AF4


def test_microvm_balloon_is_on_the_last_mmio_transport(
    start: Callable[..., QemuProcess],
) -> None:
    qtest = start(MMIO_BALLOON, machine="microvm").qtest
    base = microvm_transport_base(LAST_TRANSPORT)
    assert qtest.readl(base) == VIRTIO_MMIO_MAGIC
    assert qtest.readl(base + 0x4) == 1  # legacy transport unless force-legacy=false
    assert qtest.readl(base + 0x8) == VIRTIO_ID_BALLOON
    assert qtest.readl(microvm_transport_base(0) + 0x8) == 0


def test_memory_round_trips(start: Callable[..., QemuProcess]) -> None:
    qtest = start(PCI_BALLOON).qtest
    data = os.urandom(64 * 1024)
    qtest.b64write(RAM_SCRATCH, data)
    assert qtest.b64read(RAM_SCRATCH, len(data)) == data
    qtest.write(RAM_SCRATCH + 3, b"\x00\x01\xfe")
    assert qtest.read(RAM_SCRATCH, 8) == data[:3] + b"\x00\x01\xfe" + data[6:8]
    qtest.memset(RAM_SCRATCH, 16, 0x5A)
    assert qtest.readq(RAM_SCRATCH + 8) == 0x5A5A5A5A5A5A5A5A
    qtest.writew(RAM_SCRATCH + 1, 0xBEEF)
    assert qtest.read(RAM_SCRATCH, 4) == b"\x5a\xef\xbe\x5a"


def test_refused_commands_never_reach_qemu(start: Callable[..., QemuProcess]) -> None:
    qemu = start(PCI_BALLOON)
    for bad in (lambda: qemu.qtest.read(0, 0), lambda: qemu.qtest.inl(0x10000)):
        with pytest.raises(QtestArgumentError):
            bad()
    assert qemu.qtest.readl(0) == 0  # ``read 0x0 0x0`` would have aborted QEMU
    assert qemu.returncode is None


def test_clock_step_needs_the_qtest_accelerator(start: Callable[..., QemuProcess]) -> None:
    qtest = start(PCI_BALLOON).qtest
    with pytest.raises(QtestError, match="Unknown command 'clock_step'"):
        qtest.clock_step()
    assert qtest.readl(0) == 0


@pytest.mark.parametrize(("machine", "device"), [("q35", PCI_BALLOON), ("microvm", MMIO_BALLOON)])
def test_parked_cpu_firmware_halts_the_vcpu(
    start: Callable[..., QemuProcess], machine: str, device: str
) -> None:
    qmp = start(device, machine=machine).qmp
    deadline = time.monotonic() + 2.0
    while True:  # the vCPU may reach the hlt just after QMP is up
        registers = qmp.command("human-monitor-command", **{"command-line": "info registers"})
        if "HLT=1" in registers or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert "EIP=0000fff2" in registers
    assert "HLT=1" in registers
    assert qmp.command("query-status")["status"] == "running"


def test_virtual_clock_runs_under_the_parked_cpu(start: Callable[..., QemuProcess]) -> None:
    qtest = start(PCI_BALLOON).qtest
    hpet = 0xFED0_0000
    qtest.writel(hpet + 0x10, 1)  # ENABLE_CNF: the main counter follows the virtual clock
    first = qtest.readq(hpet + 0xF0)
    time.sleep(0.05)
    assert qtest.readq(hpet + 0xF0) > first


@pytest.mark.parametrize(("slot", "line"), [(SLOT, 23), (6, 22)])
def test_q35_balloon_request_raises_intx(
    start: Callable[..., QemuProcess], slot: int, line: int
) -> None:
    qemu = start(f"virtio-balloon-pci,id=balloon0,addr={slot:#x}")
    route = q35_intx_route(slot)
    assert route.line == line
    bus = QtestBus(qemu.qtest, irq_controller=route.controller)
    cfg_write(qemu.qtest, slot, 0x10, LEGACY_IO_BASE)  # BAR0: legacy I/O registers
    cfg_write(qemu.qtest, slot, 0x04, 0x5)  # I/O space + bus master (else no INTx)
    bus.io_write(LEGACY_IO_BASE + 0x12, 1, STATUS_DRIVER_OK_LEGACY)
    assert not bus.irq_level(route.line)
    qemu.qmp.balloon(128 << 20)
    wait_for_line(bus, route.line, True)
    assert bus.io_read(LEGACY_IO_BASE + 0x14, 4) == (128 << 20) // 4096  # num_pages
    assert bus.io_read(LEGACY_IO_BASE + 0x13, 1) == 0x3  # ISR: config change; read clears
    wait_for_line(bus, route.line, False)


def test_microvm_balloon_request_raises_its_line(start: Callable[..., QemuProcess]) -> None:
    qemu = start(MMIO_BALLOON, machine="microvm")
    route = microvm_irq_route(qemu.qmp, LAST_TRANSPORT)
    bus = QtestBus(qemu.qtest, irq_controller=route.controller)
    base = microvm_transport_base(LAST_TRANSPORT)
    bus.mmio_write(base + 0x70, 4, STATUS_DRIVER_OK_LEGACY)
    qemu.qmp.balloon(128 << 20)
    wait_for_line(bus, route.line, True)
    assert bus.mmio_read(base + 0x60, 4) == 0x3  # InterruptStatus
    bus.mmio_write(base + 0x64, 4, 0x3)  # InterruptACK
    wait_for_line(bus, route.line, False)
    assert route.line == LAST_TRANSPORT
    assert route.controller.startswith("/machine/unattached/device[")


def test_microvm_without_second_ioapic_routes_to_the_first(
    start: Callable[..., QemuProcess],
) -> None:
    qemu = start(MMIO_BALLOON, machine="microvm,ioapic2=off")
    last = 7  # 8 transports without ioapic2
    assert qemu.qtest.readl(microvm_transport_base(last) + 0x8) == VIRTIO_ID_BALLOON
    route = microvm_irq_route(qemu.qmp, last)
    assert route == ("ioapic", 23)
    bus = QtestBus(qemu.qtest, irq_controller=route.controller)
    bus.mmio_write(microvm_transport_base(last) + 0x70, 4, STATUS_DRIVER_OK_LEGACY)
    qemu.qmp.balloon(64 << 20)
    wait_for_line(bus, route.line, True)


def test_qmp_facade(start: Callable[..., QemuProcess]) -> None:
    qmp = start(PCI_BALLOON).qmp
    assert qmp.version["qemu"]["major"] >= 7
    qmp.balloon(128 << 20)
    assert qmp.query_balloon() == 256 << 20  # no driver: nothing was inflated
    assert qmp.qom_get(BALLOON_PATH, "guest-stats-polling-interval") == 0
    qmp.qom_set(BALLOON_PATH, "guest-stats-polling-interval", 2)
    assert qmp.qom_get(BALLOON_PATH, "guest-stats-polling-interval") == 2
    with pytest.raises(QmpCommandError) as info:
        qmp.qom_get("/machine/peripheral/nothing", "type")
    assert info.value.error_class == "DeviceNotFound"


def test_bus_protocol_over_qtest(start: Callable[..., QemuProcess]) -> None:
    qemu = start(PCI_BALLOON)
    bus = QtestBus(qemu.qtest)
    for size in (1, HEX_TRANSFER_MAX, HEX_TRANSFER_MAX + 1, 5000):
        data = os.urandom(size)
        bus.mem_write(RAM_SCRATCH, data)
        assert bus.mem_read(RAM_SCRATCH, size) == data
    assert bus.mem_read(RAM_SCRATCH, 0) == b""
    bus.mem_write(RAM_SCRATCH, b"")
    for width in (1, 2, 4, 8):
        value = (1 << (8 * width)) - 2
        bus.mmio_write(RAM_SCRATCH, width, value)
        assert bus.mmio_read(RAM_SCRATCH, width) == value
    bus.io_write(0xCF8, 4, 0x8000_0000 | SLOT << 11)
    assert bus.io_read(0xCFC, 2) == 0x1AF4
    assert bus.io_read(0xCFE, 2) == 0x1002
    for bad in (lambda: bus.mmio_read(0, 3), lambda: bus.io_read(0xCFC, 8)):
        with pytest.raises(BusError):
            bad()
    began = time.monotonic()
    bus.poll(0.05)  # nothing intercepted: waits the full time
    assert time.monotonic() - began >= 0.04
    assert [e.kind for e in qemu.qtest.history()].count("!") == 0
