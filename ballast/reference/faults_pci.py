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
        "pci_match_virtio_subsystem",
        "driver",
        "pci.device.discovery.03",
        "matches only functions whose Subsystem Vendor ID is 0x1AF4",
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
