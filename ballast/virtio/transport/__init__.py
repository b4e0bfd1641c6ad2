"""Driver-side virtio transports over a :class:`~ballast.virtio.bus.Bus`: PCI modern,
PCI legacy and MMIO (v1/v2), behind one :class:`Transport` interface."""

from __future__ import annotations

from typing import Any

from ballast.virtio.bus import Bus
from ballast.virtio.transport.base import Transport, TransportError
from ballast.virtio.transport.mmio import MmioTransport, open_mmio, probe
from ballast.virtio.transport.pci import BarAllocator, PciFunction, find_virtio, scan
from ballast.virtio.transport.pci_legacy import PciLegacyTransport
from ballast.virtio.transport.pci_modern import PciModernTransport

__all__ = [
    "BarAllocator",
    "MmioTransport",
    "PciFunction",
    "PciLegacyTransport",
    "PciModernTransport",
    "Transport",
    "TransportError",
    "find_virtio",
    "open_mmio",
    "open_pci",
    "open_transport",
    "probe",
    "scan",
]

KINDS = ("pci-modern", "pci-legacy", "mmio")


def open_pci(
    bus: Bus,
    kind: str,
    *,
    device_type: int = 5,
    index: int = 0,
    allocator: BarAllocator | None = None,
    irq_line: int | None = None,
    faults: frozenset[str] = frozenset(),
    slot: int | None = None,
) -> PciModernTransport | PciLegacyTransport:
    """Find the ``index``-th virtio-pci function of ``device_type``, assign its BARs and
    open it the ``kind`` way.  ``irq_line`` overrides the Interrupt Line register, which
    nobody programs on a machine without firmware; ``faults`` are the reference driver's
    seeded bugs (pci.driver.*).  ``slot``: where the tester plugged the device under test,
    opened when no function carries the virtio IDs (so a device with wrong IDs is still
    driven, and its IDs judged)."""
    functions = find_virtio(bus, device_type, faults)
    if not functions and slot is not None:
        functions = [f for f in scan(bus) if f.slot == slot]
    if index >= len(functions):
        raise TransportError(
            f"found {len(functions)} virtio-pci function(s) of type {device_type}; wanted #{index}"
        )
    function = functions[index]
    function.assign_bars(BarAllocator() if allocator is None else allocator)
    line = function.irq_line if irq_line is None else irq_line
    if kind == "pci-legacy":
        return PciLegacyTransport(function, line, faults)
    try:
        return PciModernTransport(function, line, faults)
    except TransportError:
        if "pci_nontransitional_falls_back" not in faults:
            raise
        return PciLegacyTransport(function, line, faults)  # fault: legacy after all


def open_transport(bus: Bus, kind: str, **opts: Any) -> Transport:
    """Open a device by transport ``kind`` ("pci-modern", "pci-legacy" or "mmio"); see
    :func:`open_pci` and :func:`~ballast.virtio.transport.mmio.open_mmio` for ``opts``."""
    if kind == "mmio":
        return open_mmio(bus, **opts)
    if kind in ("pci-modern", "pci-legacy"):
        return open_pci(bus, kind, **opts)
    raise ValueError(f"unknown transport kind {kind!r}; expected one of {', '.join(KINDS)}")
