"""Device-side PCI at register level: configuration mechanism #1, BAR decoding, INTx,
the PCI cfg access capability and the misuse the register models record."""

from __future__ import annotations

from ballast.machine import InProcessMachine
from ballast.machine.pci import PciMode, VirtioPciDevice
from ballast.monitors.events import Kind
from ballast.virtio.layout import (
    CMD_INTX_DISABLE,
    CMD_MEMORY,
    NO_VECTOR,
    STATUS_INTERRUPT,
    Cap,
    CapType,
    Common,
    Legacy,
    PciCfg,
)
from tests.fakes.virtio_backend import FakeBackend

SLOT = 3
BAR4 = 0xE0000000


def _cfg_address(offset: int, slot: int = SLOT, enable: bool = True) -> int:
    return (0x80000000 if enable else 0) | slot << 11 | offset & 0xFC


def cfg_read(m: InProcessMachine, offset: int, width: int, slot: int = SLOT) -> int:
    m.io_write(0xCF8, 4, _cfg_address(offset, slot))
    return m.io_read(0xCFC + (offset & 3), width)


def cfg_write(m: InProcessMachine, offset: int, width: int, value: int) -> None:
    m.io_write(0xCF8, 4, _cfg_address(offset))
    m.io_write(0xCFC + (offset & 3), width, value)


def _machine(mode: PciMode = "modern") -> tuple[InProcessMachine, VirtioPciDevice, FakeBackend]:
    machine = InProcessMachine(1 << 20)
    backend = FakeBackend()
    device = machine.attach_pci(backend, mode, SLOT)
    return machine, device, backend


def _map_bar4(m: InProcessMachine) -> None:
    cfg_write(m, PciCfg.BAR0 + 16, 4, BAR4)
    cfg_write(m, PciCfg.COMMAND, 2, CMD_MEMORY)


def test_config_mechanism_1() -> None:
    m, _, _ = _machine()
    assert cfg_read(m, 0, 4) == 0x10451AF4
    assert cfg_read(m, 0, 4, slot=9) == 0xFFFFFFFF  # absent function
    m.io_write(0xCF8, 4, _cfg_address(0, enable=False))
    assert m.io_read(0xCFC, 4) == 0xFFFFFFFF
    m.io_write(0xCF8, 4, _cfg_address(0))
    m.io_write(0xCF8, 1, 0)  # a byte write is not CONFIG_ADDRESS
    assert m.io_read(0xCF8, 4) == _cfg_address(0)
    assert m.io_read(0xCFE, 2) == 0x1045


def test_bar_sizing_and_decoding() -> None:
    m, _, _ = _machine()
    cfg_write(m, PciCfg.BAR0 + 16, 4, 0xFFFFFFFF)
    assert cfg_read(m, PciCfg.BAR0 + 16, 4) == 0xFFFFC00C  # 16 KiB, 64-bit, prefetchable
    assert cfg_read(m, PciCfg.BAR0, 4) == 0  # unimplemented
    cfg_write(m, PciCfg.BAR0 + 16, 4, BAR4 | 0x123)
    assert cfg_read(m, PciCfg.BAR0 + 16, 4) == BAR4 | 0xC
    assert m.mmio_read(BAR4 + Common.NUM_QUEUES, 2) == 0  # not decoding yet
    cfg_write(m, PciCfg.COMMAND, 2, CMD_MEMORY)
    assert m.mmio_read(BAR4 + Common.NUM_QUEUES, 2) == 2
    cfg_write(m, PciCfg.COMMAND, 2, 0)
    assert m.mmio_read(BAR4 + Common.NUM_QUEUES, 2) == 0


def test_legacy_bar_is_io_and_sized_to_the_header_plus_config() -> None:
    m, _, _ = _machine("legacy")
    cfg_write(m, PciCfg.BAR0, 4, 0xFFFFFFFF)
    assert cfg_read(m, PciCfg.BAR0, 4) == 0xFFFFFFE1  # 32 ports: 0x14 + 12 config bytes
    assert cfg_read(m, PciCfg.STATUS, 2) & 0x10 == 0  # no capabilities at all
    cfg_write(m, PciCfg.BAR0, 4, 0xC000)
    cfg_write(m, PciCfg.COMMAND, 2, 0x1)
    assert m.io_read(0xC000 + Legacy.QUEUE_SIZE, 2) == 64
    assert m.io_read(0xC000 + Legacy.CONFIG + 1, 2) == 0x0302  # any width, any offset
    m.io_write(0xC000 + Legacy.CONFIG + 4, 4, 0x11223344)
    assert cfg_read(m, PciCfg.SUBSYSTEM_ID, 2) == 5


def test_intx_follows_isr_and_the_disable_bit() -> None:
    m, device, _ = _machine()
    _map_bar4(m)
    device.model.raise_vring_interrupt(0)
    assert m.irq_level(19)
    assert cfg_read(m, PciCfg.STATUS, 2) & STATUS_INTERRUPT
    cfg_write(m, PciCfg.COMMAND, 2, CMD_MEMORY | CMD_INTX_DISABLE)
    assert not m.irq_level(19)
    assert cfg_read(m, PciCfg.STATUS, 2) & STATUS_INTERRUPT  # still pending
    assert m.mmio_read(BAR4 + 0x1000, 1) == 1  # ISR read clears
    assert not cfg_read(m, PciCfg.STATUS, 2) & STATUS_INTERRUPT


def test_pci_cfg_capability_window() -> None:
    m, device, _ = _machine()
    (cap,) = [
        offset
        for offset in range(0x40, 0x100, 4)
        if device.config[offset] == 0x09 and device.config[offset + Cap.CFG_TYPE] == CapType.PCI_CFG
    ]
    cfg_write(m, cap + Cap.BAR, 1, 4)
    cfg_write(m, cap + Cap.LENGTH, 4, 2)
    cfg_write(m, cap + Cap.OFFSET, 4, Common.NUM_QUEUES)
    assert cfg_read(m, cap + Cap.PCI_CFG_DATA, 4) & 0xFFFF == 2  # BAR not even mapped
    cfg_write(m, cap + Cap.LENGTH, 4, 1)
    cfg_write(m, cap + Cap.OFFSET, 4, Common.DEVICE_STATUS)
    cfg_write(m, cap + Cap.PCI_CFG_DATA, 1, 1)
    assert device.model.status == 1


def test_msix_vectors_always_read_no_vector() -> None:
    m, _, _ = _machine()
    _map_bar4(m)
    m.mmio_write(BAR4 + Common.CONFIG_MSIX_VECTOR, 2, 0)
    assert m.mmio_read(BAR4 + Common.CONFIG_MSIX_VECTOR, 2) == NO_VECTOR
    assert m.mmio_read(BAR4 + Common.QUEUE_MSIX_VECTOR, 2) == NO_VECTOR


def test_misuse_is_recorded_and_tolerated() -> None:
    m, device, _ = _machine()
    _map_bar4(m)
    m.mmio_write(BAR4 + Common.NUM_QUEUES, 2, 7)
    m.mmio_write(BAR4 + Common.QUEUE_SELECT, 1, 1)
    assert device.model.queue_select == 1  # done anyway, as QEMU does
    m.mmio_read(BAR4 + 0x40, 4)
    problems = [(e["register"], e["problem"]) for e in m.events.of(Kind.REGISTER_MISUSE, "device")]
    assert problems == [
        ("num_queues", "write-to-read-only"),
        ("queue_select", "width"),
        (None, "undefined"),
    ]


def test_64_bit_accesses_are_split_into_halves() -> None:
    m, device, _ = _machine()
    _map_bar4(m)
    m.mmio_write(BAR4 + Common.QUEUE_DESC_LO, 8, 0x1_0000_2000)
    assert device.model.queue(0).desc == 0x1_0000_2000
    assert m.mmio_read(BAR4 + Common.QUEUE_DESC_LO, 8) == 0x1_0000_2000
