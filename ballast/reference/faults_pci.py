"""Seeded bugs for virtio over PCI (see ballast.reference.faults)."""

from __future__ import annotations

from ballast.reference.fault import Fault

PCI_FAULTS: list[Fault] = []

# --- judging the driver
PCI_FAULTS += [
    Fault(
        "pci_config_halfword_write",
        "driver",
        "pci.driver.layout.01",
        "writes the 32-bit actual field as two 16-bit halves on a modern PCI link",
    ),
    Fault(
        "pci_write_notify_off",
        "driver",
        "pci.driver.common.01",
        "writes queue_notify_off back before enabling each queue",
    ),
    Fault(
        "pci_queue_size_not_pow2",
        "driver",
        "pci.driver.common.03",
        "writes queue_size - 1 before the size it uses",
    ),
    Fault(
        "pci_enable_before_setup",
        "driver",
        "pci.driver.common.04",
        "enables each queue before writing its size and ring addresses",
    ),
    Fault(
        "pci_reinit_without_reset_wait",
        "driver",
        "pci.driver.common.05",
        "writes 0 to device_status and initializes at once, without reading 0 back",
    ),
    Fault(
        "pci_queue_enable_zero",
        "driver",
        "pci.driver.common.06",
        "writes 0 to queue_enable before configuring each queue",
    ),
    Fault(
        "pci_notify_32bit",
        "driver",
        "pci.driver.avail-notify.01",
        "notifies with a 32-bit write",
    ),
    Fault(
        "pci_notify_wrong_value",
        "driver",
        "pci.driver.avail-notify.03",
        "writes the queue index + 1 as the notification value",
    ),
]
