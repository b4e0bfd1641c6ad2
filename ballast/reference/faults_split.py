"""Seeded bugs for split virtqueues (see ballast.reference.faults)."""

from __future__ import annotations

from ballast.reference.fault import Fault

SPLIT_FAULTS: list[Fault] = [
    # --- reference driver: split ring --------------------------------------------------
    Fault(
        "split_misaligned_used",
        "driver",
        "split.driver.virtqueue.01",
        "moves the reporting queue's used ring 2 bytes off its 4-byte alignment (modern layout)",
    ),
    Fault(
        "split_descriptor_loop",
        "driver",
        "split.driver.desc.01",
        "links the last descriptor of a direct chain back to its head (reporting queue)",
    ),
    Fault(
        "split_indirect_unnegotiated",
        "driver",
        "split.driver.indirect.01",
        "uses indirect tables although VIRTIO_F_INDIRECT_DESC was not negotiated",
    ),
    Fault(
        "split_nested_indirect",
        "driver",
        "split.driver.indirect.02",
        "sets VIRTQ_DESC_F_INDIRECT on the first entry of an indirect table",
    ),
    Fault(
        "split_indirect_with_next",
        "driver",
        "split.driver.indirect.04",
        "sets VIRTQ_DESC_F_NEXT as well on a descriptor pointing at an indirect table",
    ),
    Fault(
        "split_chain_beyond_queue_size",
        "driver",
        "split.driver.indirect.03",
        "pads multi-element indirect tables to queue size + 1 entries (queues of up to 32)",
    ),
    Fault(
        "split_writable_before_readable",
        "driver",
        "split.driver.framing.01",
        "makes the last element of a multi-element writable buffer device-readable",
    ),
    Fault(
        "split_avail_idx_decrement",
        "driver",
        "split.driver.avail.01",
        "publishes each reporting request after the first with avail idx one below the last",
    ),
    Fault(
        "split_used_flags_uninitialized",
        "driver",
        "split.driver.avail-suppression.01",
        "allocates the reporting queue's used ring with flags 1 instead of 0",
    ),
    Fault(
        "split_avail_flags_invalid",
        "driver",
        "split.driver.used-suppression.01",
        "sets the undefined bit 1 in the reporting queue's avail ring flags",
    ),
    Fault(
        "split_avail_flags_with_event_idx",
        "driver",
        "split.driver.used-suppression.03",
        "sets VIRTQ_AVAIL_F_NO_INTERRUPT in the reporting queue's flags with EVENT_IDX",
    ),
    Fault(
        "split_honours_avail_event_without_event_idx",
        "driver",
        "split.driver.avail-suppression.02",
        "without EVENT_IDX, notifies the reporting queue only when it writes avail_event",
    ),
    Fault(
        "split_kicks_despite_no_notify",
        "driver",
        "split.driver.avail-suppression.03",
        "without EVENT_IDX, notifies the reporting queue whatever the used ring flags say",
    ),
    Fault(
        "split_skips_first_kick",
        "driver",
        "split.driver.avail-suppression.04",
        "without EVENT_IDX, does not notify the reporting queue's first request",
    ),
    Fault(
        "split_honours_used_flags_with_event_idx",
        "driver",
        "split.driver.avail-suppression.05",
        "with EVENT_IDX, withholds reporting notifications while VIRTQ_USED_F_NO_NOTIFY is set",
    ),
    Fault(
        "split_skips_kick_at_avail_event",
        "driver",
        "split.driver.avail-suppression.06",
        "with EVENT_IDX, never notifies the reporting queue",
    ),
    Fault(
        "split_kicks_every_buffer",
        "driver",
        "split.driver.avail-suppression.07",
        "with EVENT_IDX, notifies every reporting request whatever avail_event says",
    ),
    Fault(
        "split_no_spurious",
        "driver",
        "split.driver.used-suppression.05",
        "gives up (FAILED) on a used buffer notification that brings no used buffer",
        also=("balloon.driver.operation.01", "pci.driver.config-notify.01"),
        why_also=(
            "the spurious notification comes with a new target, and a driver that gives up "
            "on the device never inflates toward it; on PCI one interrupt carries both, so "
            "it also fails the shared-interrupt rule"
        ),
    ),
    # --- reference device: split ring --------------------------------------------------
    Fault(
        "split_write_readable",
        "device",
        "split.device.desc.01",
        "flips the first byte of a buffer's first device-readable element as it uses it",
    ),
    Fault(
        "split_write_descriptor",
        "device",
        "split.device.desc.04",
        "zeroes the len of a chain's head descriptor as it uses the chain",
    ),
    Fault(
        "split_used_flags_invalid",
        "device",
        "split.device.avail-suppression.01",
        "sets the undefined bit 1 in the used ring flags (without EVENT_IDX)",
    ),
    Fault(
        "split_used_flags_with_event_idx",
        "device",
        "split.device.avail-suppression.03",
        "sets VIRTQ_USED_F_NO_NOTIFY in the used ring flags although EVENT_IDX is negotiated",
    ),
    Fault(
        "split_spurious_notify_breaks",
        "device",
        "split.device.avail-suppression.05",
        "takes a notification that finds no new buffer as an error and needs a reset",
    ),
    Fault(
        "split_honours_used_event_without_event_idx",
        "device",
        "split.device.used-suppression.01",
        "without EVENT_IDX, notifies only when it writes the entry at used_event",
    ),
    Fault(
        "split_notifies_despite_no_interrupt",
        "device",
        "split.device.used-suppression.02",
        "without EVENT_IDX, notifies every used buffer whatever the avail ring flags say",
    ),
    Fault(
        "split_honours_flags_with_event_idx",
        "device",
        "split.device.used-suppression.04",
        "with EVENT_IDX, still withholds notifications while VIRTQ_AVAIL_F_NO_INTERRUPT is set",
    ),
    Fault(
        "split_misses_used_event",
        "device",
        "split.device.used-suppression.05",
        "with EVENT_IDX, never sends a used buffer notification",
    ),
    Fault(
        "split_notifies_every_used_buffer",
        "device",
        "split.device.used-suppression.06",
        "with EVENT_IDX, notifies every used buffer whatever used_event says",
    ),
    Fault(
        "split_indirect_only_at_head",
        "device",
        "split.device.indirect.02",
        "looks for VIRTQ_DESC_F_INDIRECT on a chain's head only (later: a plain buffer)",
        also=("balloon.driver.reporting.04",),
        why_also=(
            "only reporting requests carry indirect tables, and a device that cannot take "
            "the chain never acknowledges the report in it"
        ),
    ),
]
