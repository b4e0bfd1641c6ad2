"""What both sides of a balloon link agree on: config layout, queue numbering, stats and
command-ID encodings (device-types/balloon/description.tex)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from enum import StrEnum

from ballast.virtio.features import Feature, has

DEVICE_ID = 5
PFN_SHIFT = 12  # PFNs are addresses divided by 4096, whatever the guest page size
PFN_SIZE = 4
STAT_SIZE = 10
CMD_ID_STOP = 0
CMD_ID_DONE = 1
CMD_ID_MIN = 2

# Offsets in struct virtio_balloon_config.
NUM_PAGES = 0
ACTUAL = 4
FREE_PAGE_HINT_CMD_ID = 8
POISON_VAL = 12
CONFIG_FIELDS = {
    NUM_PAGES: "num_pages",
    ACTUAL: "actual",
    FREE_PAGE_HINT_CMD_ID: "free_page_hint_cmd_id",
    POISON_VAL: "poison_val",
}

STAT_TAGS = {
    0: "SWAP_IN",
    1: "SWAP_OUT",
    2: "MAJFLT",
    3: "MINFLT",
    4: "MEMFREE",
    5: "MEMTOT",
    6: "AVAIL",
    7: "CACHES",
    8: "HTLB_PGALLOC",
    9: "HTLB_PGFAIL",
}
LINUX_612_TAGS = {
    10: "OOM_KILL",
    11: "ALLOC_STALL",
    12: "ASYNC_SCAN",
    13: "DIRECT_SCAN",
    14: "ASYNC_RECLAIM",
    15: "DIRECT_RECLAIM",
}


class Queue(StrEnum):
    """The balloon's virtqueues, in the chapter's order."""

    INFLATE = "inflateq"
    DEFLATE = "deflateq"
    STATS = "statsq"
    HINT = "free_page_vq"
    REPORT = "reporting_vq"


OPTIONAL_QUEUE_FEATURE = {
    Queue.STATS: Feature.VIRTIO_BALLOON_F_STATS_VQ,
    Queue.HINT: Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT,
    Queue.REPORT: Feature.VIRTIO_BALLOON_F_PAGE_REPORTING,
}


class Numbering(StrEnum):
    """The three readings of queue numbering found in the field (interpretation
    ``queue-numbering`` in spec_refs/interpretations.yaml)."""

    FIXED = "fixed"  # the chapter's indices; absent queues leave gaps
    DENSE_OFFERED = "dense-offered"  # dense over the queues the device offers (QEMU)
    DENSE_NEGOTIATED = "dense-negotiated"  # dense over the negotiated features (Linux)


def queue_indices(numbering: Numbering, offered: int, negotiated: int) -> dict[Queue, int]:
    """Index of each queue that exists on a link, under one reading."""
    present = [
        q
        for q in Queue
        if q not in OPTIONAL_QUEUE_FEATURE or has(negotiated, OPTIONAL_QUEUE_FEATURE[q])
    ]
    if numbering is Numbering.FIXED:
        return {q: list(Queue).index(q) for q in present}
    basis = offered if numbering is Numbering.DENSE_OFFERED else negotiated
    dense = [
        q for q in Queue if q not in OPTIONAL_QUEUE_FEATURE or has(basis, OPTIONAL_QUEUE_FEATURE[q])
    ]
    return {q: i for i, q in enumerate(dense) if q in present}


def device_queue_count(numbering: Numbering, offered: int) -> list[bool]:
    """Which queue slots a device exposes before negotiation (True = may exist)."""
    if numbering is Numbering.FIXED:
        return [
            q not in OPTIONAL_QUEUE_FEATURE or has(offered, OPTIONAL_QUEUE_FEATURE[q])
            for q in Queue
        ]
    return [True] * sum(
        1
        for q in Queue
        if q not in OPTIONAL_QUEUE_FEATURE or has(offered, OPTIONAL_QUEUE_FEATURE[q])
    )


def config_size(offered: int) -> int:
    """8 bytes unless free page hinting or page poison is offered (then 16)."""
    if has(offered, Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT) or has(
        offered, Feature.VIRTIO_BALLOON_F_PAGE_POISON
    ):
        return 16
    return 8


def _order(big_endian: bool) -> str:
    return ">" if big_endian else "<"


def encode_pfns(pfns: Iterable[int], big_endian: bool = False) -> bytes:
    pfns = list(pfns)
    return struct.pack(f"{_order(big_endian)}{len(pfns)}I", *pfns)


def decode_pfns(data: bytes, big_endian: bool = False) -> list[int]:
    count = len(data) // PFN_SIZE
    return list(struct.unpack(f"{_order(big_endian)}{count}I", data[: count * PFN_SIZE]))


def encode_stats(entries: Iterable[tuple[int, int]], big_endian: bool = False) -> bytes:
    entry = struct.Struct(f"{_order(big_endian)}HQ")
    return b"".join(entry.pack(tag, value) for tag, value in entries)


def decode_stats(data: bytes, big_endian: bool = False) -> list[tuple[int, int]]:
    entry = struct.Struct(f"{_order(big_endian)}HQ")
    return [entry.unpack_from(data, i) for i in range(0, len(data) - STAT_SIZE + 1, STAT_SIZE)]


def encode_u32(value: int, big_endian: bool = False) -> bytes:
    return struct.pack(f"{_order(big_endian)}I", value)


def decode_u32(data: bytes, big_endian: bool = False) -> int:
    return struct.unpack(f"{_order(big_endian)}I", data[:4])[0]
