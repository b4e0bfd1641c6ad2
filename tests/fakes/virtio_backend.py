"""A trivial device backend and machine builders for the machine and transport tests.

The backend records what the model asked of it and, by default, answers every
notification with a used buffer notification, which is all the transport tests need
from a device."""

from __future__ import annotations

from dataclasses import dataclass, field

from ballast.machine import InProcessMachine
from ballast.machine.machine import IrqLine
from ballast.machine.mmio import MmioVersion, VirtioMmioDevice
from ballast.machine.pci import PciMode, VirtioPciDevice
from ballast.virtio.device import Endian, VirtioDeviceModel
from ballast.virtio.features import Feature, mask
from ballast.virtio.transport import BarAllocator, Transport, open_transport

MODERN_FEATURES = mask(
    Feature.VIRTIO_BALLOON_F_STATS_VQ,
    Feature.VIRTIO_F_VERSION_1,
    Feature.VIRTIO_F_RING_RESET,
)
MMIO_BASE = 0xFEB00000 + 23 * 0x200  # where QEMU's microvm puts the first device
MMIO_IRQ = 12


@dataclass
class FakeBackend:
    """Device type 5 with two 64-entry queues (then an absent one) and 12 config bytes."""

    device_id: int = 5
    features: int = MODERN_FEATURES
    queues: tuple[int, ...] = (64, 64, 0)
    config: bytearray = field(default_factory=lambda: bytearray(range(1, 13)))
    accept: bool = True
    interrupt_on_notify: bool = True
    model: VirtioDeviceModel | None = None
    notified: list[int] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    resets: int = 0
    driver_oks: int = 0

    def attach(self, model: VirtioDeviceModel) -> None:
        self.model = model

    def host_features(self) -> int:
        return self.features

    def queue_max_sizes(self) -> list[int]:
        return list(self.queues)

    def config_size(self) -> int:
        return len(self.config)

    def config_read(self, offset: int, size: int) -> bytes:
        return bytes(self.config[offset : offset + size])

    def config_write(self, offset: int, data: bytes) -> None:
        self.config[offset : offset + len(data)] = data

    def accept_features(self, features: int) -> bool:
        self.accepted.append(features)
        return self.accept

    def queue_notify(self, index: int) -> None:
        self.notified.append(index)
        if self.interrupt_on_notify:
            assert self.model is not None
            self.model.raise_vring_interrupt(index)

    def driver_ok(self) -> None:
        self.driver_oks += 1

    def reset(self) -> None:
        self.resets += 1

    def poll(self) -> None:
        """Nothing to look at: the fake serves notifications only."""

    def host_changes_config(self, offset: int, data: bytes) -> None:
        """What a host-side action (QMP ``balloon``) does: new config, then tell."""
        self.config[offset : offset + len(data)] = data
        assert self.model is not None
        self.model.config_changed()


@dataclass
class Rig:
    """One device on an in-process machine, opened by a driver-side transport."""

    machine: InProcessMachine
    backend: FakeBackend
    model: VirtioDeviceModel
    transport: Transport

    @property
    def line(self) -> IrqLine:
        assert self.transport.irq_line is not None
        return self.machine.irq(self.transport.irq_line)


KINDS = ("pci-modern", "pci-transitional", "pci-legacy", "mmio-v1", "mmio-v2")
"""Device/transport combinations: a transitional device is driven the modern way."""
_PCI: dict[str, tuple[PciMode, str]] = {
    "pci-modern": ("modern", "pci-modern"),
    "pci-transitional": ("transitional", "pci-modern"),
    "pci-legacy": ("legacy", "pci-legacy"),
}
_MMIO: dict[str, MmioVersion] = {"mmio-v1": 1, "mmio-v2": 2}


def make_rig(kind: str, backend: FakeBackend | None = None, endian: Endian = "little") -> Rig:
    """Build a machine with one device for ``kind`` and open it."""
    machine = InProcessMachine(1 << 22, endian=endian)
    backend = FakeBackend() if backend is None else backend
    if kind in _MMIO:
        device: VirtioPciDevice | VirtioMmioDevice = machine.attach_mmio(
            backend, MMIO_BASE, _MMIO[kind], MMIO_IRQ
        )
        transport: Transport = open_transport(machine, "mmio", irq_line=MMIO_IRQ)
    else:
        mode, driven_as = _PCI[kind]
        device = machine.attach_pci(backend, mode)
        transport = open_transport(machine, driven_as, allocator=BarAllocator())
    return Rig(machine, backend, device.model, transport)
