"""The QEMU command line for one transport: which machine, which balloon device line, and
which globals make the device speak that transport.

Measured on QEMU 7.2: on q35 a ``virtio-balloon-pci`` on the root bus is transitional
unless told otherwise, ``disable-legacy=on`` makes it modern-only (ID 0x1045) and
``disable-modern=on,disable-legacy=off`` legacy-only (ID 0x1002, no capabilities); on
microvm ``virtio-balloon-device`` sits on the last virtio-mmio transport, which is
version 1 (legacy) unless ``virtio-mmio.force-legacy=false``.  Every choice is spelled
out even where it is QEMU's default, so the command line in a report says what ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from ballast.errors import UsageError
from ballast.link import TRANSPORTS
from ballast.targets.qemu.properties import QemuProperties

BALLOON_ID = "balloon0"
PCI_SLOT = 3
"""Root-bus slot of the PCI balloon: its INTA reaches IOAPIC input 23 (see machines)."""

_PCI_MODES = {
    "modern": "disable-legacy=on,disable-modern=off",
    "transitional": "disable-legacy=off,disable-modern=off",
    "legacy": "disable-legacy=off,disable-modern=on",
}
_MMIO_LEGACY = {1: "true", 2: "false"}
_MACHINE_FAMILIES = {"pci": ("q35", "pc-q35-"), "mmio": ("microvm",)}
"""Machine types whose interrupt routing ``machines`` knows, per bus."""


@dataclass(frozen=True)
class DeviceLine:
    """What the command line says about the machine and the balloon for one transport."""

    machine: str
    device: str
    extra_args: tuple[str, ...]


def check_machine(bus: str, machine: str) -> None:
    """Refuse a ``-machine`` value whose interrupt routing ballast does not know: the
    link would find the device but wait forever for its interrupts."""
    kind = machine.split(",", 1)[0]
    families = _MACHINE_FAMILIES[bus]
    if not any(kind == f or (f.endswith("-") and kind.startswith(f)) for f in families):
        raise UsageError(
            f"QEMU machine {machine!r} for {bus} transports: ballast knows the interrupt "
            f"routing of {' and '.join(f + '*' if f.endswith('-') else f for f in families)} "
            "only"
        )


def device_line(
    transport: str,
    props: QemuProperties,
    *,
    pci_machine: str = "q35",
    mmio_machine: str = "microvm",
) -> DeviceLine:
    """The machine, ``-device`` value and extra arguments for ``transport`` (a name in
    ``ballast.link.TRANSPORTS``) with the balloon configured by ``props``."""
    spec = TRANSPORTS[transport]
    options = ",".join(props.device_options())
    if spec.bus == "pci":
        check_machine("pci", pci_machine)
        device = (
            f"virtio-balloon-pci,id={BALLOON_ID},addr={PCI_SLOT:#x},"
            f"{_PCI_MODES[str(spec.mode)]},{options}"
        )
        return DeviceLine(pci_machine, device, tuple(props.extra_args()))
    check_machine("mmio", mmio_machine)
    legacy = _MMIO_LEGACY[int(spec.mode)]
    extra = ("-global", f"virtio-mmio.force-legacy={legacy}", *props.extra_args())
    return DeviceLine(mmio_machine, f"virtio-balloon-device,id={BALLOON_ID},{options}", extra)
