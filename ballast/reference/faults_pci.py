"""Seeded bugs for virtio over PCI (see ballast.reference.faults)."""

from __future__ import annotations

from ballast.reference.fault import Fault

PCI_FAULTS: list[Fault] = []

# --- judging the device
_SHORT_WINDOW = (
    "cap.length >= queue_notify_off * notify_off_multiplier + 2 for every queue is the "
    "per-queue form of 'large enough for all supported queues': a window too short for "
    "one queue breaks both"
)
PCI_FAULTS += [
    Fault(
        "cap_list_loop",
        "device",
        "pci.device.general.01",
        "the last capability's next pointer leads back to the first",
    ),
    Fault(
        "modern_revision_0",
        "device",
        "pci.device.discovery.05",
        "a non-transitional device with PCI Revision ID 0",
    ),
    Fault(
        "modern_subsystem_type",
        "device",
        "pci.device.discovery.06",
        "a non-transitional device with the device type as Subsystem Device ID",
    ),
    Fault(
        "transitional_revision_1",
        "device",
        "pci.device.legacy.01",
        "a transitional device with PCI Revision ID 1",
    ),
    Fault(
        "transitional_subsystem_modern",
        "device",
        "pci.device.legacy.02",
        "a transitional device with the modern Subsystem Device ID 0x1100",
    ),
    Fault(
        "notify_cap_len_short",
        "device",
        "pci.device.caps.01",
        "notify capability cap_len 16: notify_off_multiplier left out",
    ),
    Fault(
        "common_cfg_misaligned",
        "device",
        "pci.device.common.01",
        "common configuration structure at a 2-byte aligned offset",
    ),
    Fault(
        "omit_common_cap",
        "device",
        "pci.device.common.02",
        "no common configuration capability",
    ),
    Fault(
        "omit_notify_cap",
        "device",
        "pci.device.notify.01",
        "no notification capability",
    ),
    Fault(
        "notify_cfg_odd_offset",
        "device",
        "pci.device.notify.02",
        "notification structure at an odd offset",
    ),
    Fault(
        "notify_multiplier_6",
        "device",
        "pci.device.notify.03",
        "notify_off_multiplier 6, not a power of 2",
    ),
    Fault(
        "notify_length_1",
        "device",
        "pci.device.notify.04",
        "notify cap.length 1",
        also=("pci.device.notify.05", "pci.device.notify.06"),
        why_also="a 1-byte notify window is too short for queue 0's 16-bit notification too",
    ),
    Fault(
        "notify_length_one_queue",
        "device",
        "pci.device.notify.05",
        "notify cap.length 2: only queue 0 can be notified",
        also=("pci.device.notify.06",),
        why_also=_SHORT_WINDOW,
    ),
    Fault("omit_isr_cap", "device", "pci.device.isr.01", "no ISR status capability"),
    Fault(
        "device_cfg_misaligned",
        "device",
        "pci.device.devcfg.01",
        "device-specific configuration at a 2-byte aligned offset",
    ),
    Fault(
        "omit_pci_cfg_cap",
        "device",
        "pci.device.cfg-access.01",
        "no PCI configuration access capability",
    ),
]
PCI_FAULTS += [
    Fault(
        "device_feature_select_wraps",
        "device",
        "pci.device.common.03",
        "device_feature_select 2 and 3 present feature words 0 and 1 again",
    ),
    Fault(
        "driver_feature_select_ignored",
        "device",
        "pci.device.common.04",
        "driver_feature presents word 0 whatever driver_feature_select says",
    ),
    Fault(
        "status_stale_after_reset",
        "device",
        "pci.device.common.07",
        "device_status keeps presenting the old status after a reset, until the next write",
        also=("core.device.reset.01",),
        why_also="the core chapter's reset rule asks the same of the status register: a 0 "
        "once the reset is done",
    ),
    Fault(
        "queue_enable_latched",
        "device",
        "pci.device.common.08",
        "queue_enable presents the last value written, through resets",
    ),
    Fault(
        "absent_queue_size_256",
        "device",
        "pci.device.common.14",
        "queue_size presents 256 for queues past num_queues",
    ),
    Fault(
        "queue_size_odd",
        "device",
        "pci.device.common.15",
        "queue_size presents one less than the queue's size",
    ),
    Fault(
        "queue_address_low_clears_high",
        "device",
        "pci.device.layout.01",
        "writing the low half of a queue address clears the high half",
    ),
]
PCI_FAULTS += [
    Fault(
        "generation_frozen",
        "device",
        "pci.device.common.06",
        "config_generation always presents 0",
    ),
    Fault(
        "queue_reset_set_after_reset",
        "device",
        "pci.device.common.09",
        "queue_reset presents 1 after a device reset until the queue is enabled",
    ),
    Fault(
        "queue_reset_set_while_enabled",
        "device",
        "pci.device.common.10",
        "queue_reset presents 1 while the queue is enabled",
    ),
    Fault(
        "queue_reset_keeps_size",
        "device",
        "pci.device.common.11",
        "a queue reset only disables the queue: the size the driver wrote stays",
    ),
    Fault(
        "queue_reset_keeps_enable",
        "device",
        "pci.device.common.13",
        "queue_enable presents 1 after the queue's reset completed",
    ),
    Fault(
        "isr_config_as_vring",
        "device",
        "pci.device.isr.02",
        "a configuration change notification sets the Queue Interrupt bit instead",
        also=("balloon.device.hinting.06",),
        why_also="a driver learns of a config change (hinting's DONE command ID included) "
        "only from that bit, so DONE goes unseen",
    ),
    Fault(
        "isr_vring_as_config",
        "device",
        "pci.device.isr.03",
        "a used buffer notification sets the Device Configuration Interrupt bit instead",
        also=("split.device.used-suppression.03",),
        why_also="without the Queue Interrupt bit no driver can tell an interrupt is a used "
        "buffer notification, so used buffers come with none it can see",
    ),
    Fault(
        "status_interrupt_bit_clear",
        "device",
        "pci.device.isr.04",
        "the Interrupt Status bit of the PCI Status register is never set",
    ),
    Fault(
        "pci_cfg_write_ignored",
        "device",
        "pci.device.cfg-access.02",
        "writes of pci_cfg_data reach no BAR",
    ),
    Fault(
        "pci_cfg_read_ignored",
        "device",
        "pci.device.cfg-access.03",
        "reads of pci_cfg_data leave it as it was",
    ),
]
PCI_FAULTS += [
    Fault(
        "legacy_status_at_isr",
        "device",
        "pci.device.legacy.04",
        "legacy header with device status and ISR status swapped",
        also=("balloon.driver.operation.12",),
        why_also="with device status unreadable the driver never gets its device live, so "
        "it never writes actual for the pages it gave",
    ),
    Fault(
        "legacy_config_narrow_aligned",
        "device",
        "pci.device.legacy.05",
        "legacy 1- and 2-byte device config reads ignore the low offset bits",
    ),
    Fault(
        "legacy_config_after_msix",
        "device",
        "pci.device.legacy.06",
        "legacy device config at 0x18, as if MSI-X were enabled",
    ),
    Fault(
        "legacy_header_in_memory",
        "device",
        "pci.device.legacy.08",
        "the legacy header in a memory BAR0",
    ),
]
PCI_FAULTS += [
    Fault(
        "wrong_vendor_id",
        "device",
        "pci.device.discovery.01",
        "PCI Vendor ID 0x1b36 instead of 0x1af4",
    ),
    Fault(
        "device_id_of_another_type",
        "device",
        "pci.device.discovery.02",
        "a non-transitional device with the Device ID of the next device type",
    ),
    Fault(
        "modern_transitional_id",
        "device",
        "pci.device.discovery.04",
        "a non-transitional device with the Transitional PCI Device ID",
        also=("pci.device.legacy.08",),
        why_also="the Transitional PCI Device ID announces a legacy interface, which a "
        "device carrying it must then present in I/O BAR0",
    ),
    Fault(
        "transitional_modern_id",
        "device",
        "pci.device.legacy.03",
        "a transitional device with the non-transitional Device ID",
    ),
]
