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
PCI_FAULTS += [
    Fault(
        "pci_match_transitional_only",
        "driver",
        "pci.driver.discovery.01",
        "matches the transitional device ID only, not 0x1040 + device type",
    ),
    Fault(
        "pci_match_modern_only",
        "driver",
        "pci.driver.discovery.02",
        "matches 0x1040 + device type only, not the transitional device ID",
    ),
    Fault(
        "pci_match_known_revision",
        "driver",
        "pci.driver.discovery.03",
        "matches only functions whose Revision ID is 0 or 1",
    ),
    Fault(
        "pci_cap_reject_reserved_type",
        "driver",
        "pci.driver.caps.01",
        "refuses a function with a vendor capability of a reserved cfg_type",
    ),
    Fault(
        "pci_cap_exact_len",
        "driver",
        "pci.driver.caps.03",
        "skips virtio capabilities whose cap_len exceeds their structure's size",
    ),
    Fault(
        "pci_cap_keep_reserved_bar",
        "driver",
        "pci.driver.caps.04",
        "takes a capability naming a reserved BAR as the structure's location",
    ),
    Fault(
        "pci_cap_reject_large_length",
        "driver",
        "pci.driver.caps.06",
        "skips virtio capabilities whose length exceeds 4 KiB",
    ),
    Fault(
        "pci_cap_write_back",
        "driver",
        "pci.driver.caps.08",
        "writes each capability's cfg_type back while walking the list",
    ),
    Fault(
        "pci_legacy_skip_caps",
        "driver",
        "pci.driver.legacy.04",
        "uses the legacy interface without looking for the virtio capabilities",
    ),
    Fault(
        "pci_legacy_refuse_without_caps",
        "driver",
        "pci.driver.legacy.05",
        "refuses a function without virtio capabilities instead of driving it as legacy",
    ),
]
PCI_FAULTS += [
    Fault(
        "pci_isr_one_reason",
        "driver",
        "pci.driver.config-notify.01",
        "takes an interrupt showing both reasons for a used buffer notification only",
    ),
]
PCI_FAULTS += [
    Fault(
        "pci_cfg_misaligned_peek",
        "driver",
        "pci.driver.cfg-access.01",
        "through the PCI cfg capability, also reads 4 bytes at 2 past each 32-bit field",
        also=("pci.driver.cfg-access.02", "pci.driver.layout.01"),
        why_also=(
            "a cap.offset that is not a multiple of cap.length is a misaligned window "
            "access (the sentence's two keywords say one thing), and the device carries "
            "it out as a misaligned access to its configuration"
        ),
    ),
    Fault(
        "pci_cfg_wrong_bar",
        "driver",
        "pci.driver.cfg-access.03",
        "before each read through the PCI cfg capability, reads with the window on BAR0",
    ),
]
PCI_FAULTS += [
    Fault(
        "pci_queue_reset_no_wait",
        "driver",
        "pci.driver.common.07",
        "takes a queue reset as complete without reading queue_reset back",
        also=("core.driver.vq-reset.01",),
        why_also="the core chapter states the same rule for every transport",
    ),
]
PCI_FAULTS += [
    Fault(
        "pci_legacy_last_io_bar",
        "driver",
        "pci.driver.legacy.01",
        "looks for the legacy header in the function's last I/O region, not BAR0",
    ),
]
PCI_FAULTS += [
    Fault(
        "pci_cap_last_instance",
        "driver",
        "pci.driver.caps.02",
        "uses the last capability of each structure type, not the first",
    ),
]
PCI_FAULTS += [
    Fault(
        "pci_legacy_msix_offset",
        "driver",
        "pci.driver.legacy.03",
        "accesses the legacy device configuration at 0x18, as if MSI-X were enabled",
        also=("balloon.driver.poison.02",),
        why_also=(
            "the poison_val write lands 4 bytes past poison_val: the misplaced configuration"
            " is also a poison_val never written"
        ),
    ),
]
PCI_FAULTS += [
    Fault(
        "pci_caps_unchecked",
        "driver",
        "pci.driver.legacy.06",
        "as a non-transitional driver, gives up on a device without looking for capabilities",
    ),
    Fault(
        "pci_nontransitional_falls_back",
        "driver",
        "pci.driver.legacy.07",
        "as a non-transitional driver, drives a device without capabilities as legacy",
    ),
]
UNSERVED_INFLATEQ = (
    "the inflate request on the queue the device no longer serves goes unanswered, which "
    "is also a device that stopped acknowledging inflate requests, and a queue not reset "
    "to its default state as the core chapter asks"
)
PCI_FAULTS += [
    Fault(
        "queue_reset_sticks",
        "device",
        "pci.driver.common.08",
        "ignores queue_enable for a queue once reset (intolerant of re-enabling it)",
        also=("balloon.driver.operation.12", "core.device.vq-reset.02"),
        why_also=UNSERVED_INFLATEQ,
    ),
    Fault(
        "queue_reset_keeps_ring",
        "device",
        "pci.driver.common.09",
        "keeps a queue's ring from before its reset (intolerant of new addresses)",
        also=("balloon.driver.operation.12", "core.device.vq-reset.02"),
        why_also=UNSERVED_INFLATEQ,
    ),
    Fault(
        "legacy_config_whole_only",
        "device",
        "pci.driver.legacy.02",
        "answers legacy config reads narrower than 32 bits with all-ones",
    ),
]
PCI_FAULTS += [
    Fault(
        "queue_address_pairs_only",
        "device",
        "pci.driver.layout.02",
        "takes a 64-bit queue address only as a low half followed by its high half",
        also=("balloon.driver.operation.12",),
        why_also=UNSERVED_INFLATEQ,
    ),
]
