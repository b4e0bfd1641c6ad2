"""Where QEMU's x86 machines put a balloon device and its interrupt line.

Measured on QEMU 7.2 over qtest (no firmware ran, so nothing was assigned by a BIOS):

* q35: INTA of a device on root-bus slot S (1-24) raises IOAPIC input ``20 + S % 4``
  (PIRQ E-H; measured for slots 1-10, 16, 17, 20, 23, 24).  Slots 25-31 follow the
  chipset's own routing registers instead (25-29 gave 16, 30 gave 20).  The default
  balloon at slot 3 therefore shows as ``IRQ raise 23``.  Intercept ``ioapic``.
  INTx is delivered only with Bus Master Enable set in the PCI command register:
  QEMU's virtio-pci disables the device (no interrupts) while it is clear.
* microvm: virtio-mmio transports at ``0xfeb00000 + 0x200 * i``; the device sits on the
  last one.  With the default second IOAPIC (``ioapic2``) there are 24 transports and
  transport ``i`` drives input ``i`` of that IOAPIC (GSI ``24 + i``); it has no QOM
  name of its own (``/machine/unattached/device[N]``), so it is found by type.  With
  ``ioapic2=off`` there are 8 transports on inputs ``16 + i`` of ``ioapic``.
  Either way the balloon on the last transport raises line 23.
"""

from __future__ import annotations

from typing import NamedTuple

from ballast.targets.qemu.qmp import QmpClient

Q35_IRQ_CONTROLLER = "ioapic"
MICROVM_MMIO_BASE = 0xFEB0_0000
MICROVM_MMIO_STRIDE = 0x200


class IrqRoute(NamedTuple):
    """Where to watch one device interrupt over qtest."""

    controller: str
    """QOM path to pass to ``irq_intercept_in``."""
    line: int
    """The number in the ``IRQ raise N`` lines."""


def q35_intx_route(slot: int) -> IrqRoute:
    """The IOAPIC input of INTA of a device on q35's root bus at ``slot`` (1-24)."""
    if not 1 <= slot <= 24:
        raise ValueError(f"q35 slot {slot!r}: INTx routing is only known for slots 1-24")
    return IrqRoute(Q35_IRQ_CONTROLLER, 20 + slot % 4)


def microvm_transport_base(index: int) -> int:
    """Guest-physical base of microvm's virtio-mmio transport ``index``."""
    return MICROVM_MMIO_BASE + MICROVM_MMIO_STRIDE * index


def microvm_irq_route(qmp: QmpClient, index: int) -> IrqRoute:
    """The interrupt of microvm's virtio-mmio transport ``index`` (asks QOM whether
    the second IOAPIC exists)."""
    for child in qmp.command("qom-list", path="/machine/unattached"):
        if child["type"] == "child<ioapic>":
            return IrqRoute(f"/machine/unattached/{child['name']}", index)
    return IrqRoute("ioapic", 16 + index)
