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
]
