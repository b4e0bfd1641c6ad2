"""Seeded bugs: named faulty variants of the reference device and driver.

Each fault breaks exactly one clause (for a MAY clause: makes the peer intolerant of the
permission).  They are the project's proof that its checks can fail: ``ballast selftest``
runs the tests of each fault's clause against the variant and expects that clause's
violation verdict.  A variant is selected as ``reference:<fault>`` for either side.
"""

from __future__ import annotations

from ballast.errors import UsageError
from ballast.reference.fault import Fault
from ballast.reference.faults_core import CORE_FAULTS
from ballast.reference.faults_mmio import MMIO_FAULTS
from ballast.reference.faults_pci import PCI_FAULTS
from ballast.reference.faults_split import SPLIT_FAULTS

# Reasons shared by the mirror-image faults (a driver MUST and the device MAY it meets).
HINTED_CONTENT = (
    "a driver that reads hinted pages before writing them both skips the "
    "initialization it owes and relies on contents the device may change: one "
    "behaviour, seen from each side"
)
REPORTED_CONTENT = (
    "a driver that reads reported pages before writing them both skips the "
    "initialization it owes and relies on contents the device may discard: one "
    "behaviour, seen from each side"
)
UNPOISONED_REUSE = (
    "with PAGE_POISON negotiated, reading a deflated page before writing it is also a"
    " reuse without filling it with poison_val"
)

_FAULTS = [
    # --- reference driver: balloon chapter -------------------------------------------------
    Fault(
        "decline_must_tell_host",
        "driver",
        "balloon.driver.features.01",
        "does not accept VIRTIO_BALLOON_F_MUST_TELL_HOST although offered",
    ),
    Fault(
        "ignore_inflate_request",
        "driver",
        "balloon.driver.operation.01",
        "does not inflate when num_pages exceeds actual",
    ),
    Fault(
        "oom_deflate_without_feature",
        "driver",
        "balloon.driver.operation.04",
        "takes pages back under memory pressure without DEFLATE_ON_OOM",
    ),
    Fault(
        "use_without_deflate",
        "driver",
        "balloon.driver.operation.06",
        "reuses ballooned pages without a deflate request",
    ),
    Fault(
        "use_before_deflate_ack",
        "driver",
        "balloon.driver.operation.07",
        "uses deflated pages before the device acknowledged (MUST_TELL_HOST)",
    ),
    Fault(
        "use_during_inflate",
        "driver",
        "balloon.driver.operation.09",
        "writes a page after adding it to the inflateq, before the ack",
    ),
    Fault(
        "deflate_before_inflate_ack",
        "driver",
        "balloon.driver.operation.10",
        "asks to deflate pages whose inflate request is not yet acknowledged",
        also=("balloon.driver.operation.04",),
        why_also=(
            "asking for a page back while num_pages still wants it in the balloon takes "
            "a ballooned page without DEFLATE_ON_OOM"
        ),
    ),
    Fault("never_update_actual", "driver", "balloon.driver.operation.11", "never writes actual"),
    Fault(
        "legacy_trust_used_len",
        "driver",
        "balloon.driver.legacy.02",
        "treats a non-zero used length of an inflate request as a failure and resubmits",
    ),
    Fault(
        "legacy_actual_bytewise",
        "driver",
        "balloon.driver.legacy.03",
        "writes actual with four single-byte writes on a legacy link",
        also=("mmio.driver.registers.05",),
        why_also=(
            "on virtio-mmio a 32-bit config field written a byte at a time also breaks the "
            "transport's access-width rule for device configuration"
        ),
    ),
    Fault(
        "legacy_config_native_endian",
        "driver",
        "balloon.driver.legacy.01",
        "reads num_pages in guest-native (big-endian) order on a legacy link",
    ),
    Fault(
        "legacy_stats_little_endian",
        "driver",
        "balloon.driver.legacy.04",
        "writes stats little-endian on a big-endian legacy guest",
    ),
    Fault(
        "legacy_cmd_id_little_endian",
        "driver",
        "balloon.driver.legacy.05",
        "writes the hinting command ID little-endian on a big-endian legacy guest",
    ),
    Fault(
        "stats_two_buffers",
        "driver",
        "balloon.driver.stats.01",
        "keeps two buffers available in the statsq",
        also=("balloon.driver.stats.03",),
        why_also=(
            "the device returns the older of two held buffers at once, and a driver that "
            "keeps a second one out does not answer that use with a new buffer"
        ),
    ),
    Fault(
        "stats_no_initial_buffer",
        "driver",
        "balloon.driver.stats.02",
        "adds no stats buffer at initialization",
    ),
    Fault(
        "stats_no_refill",
        "driver",
        "balloon.driver.stats.03",
        "does not make a new buffer available after the device used one",
    ),
    Fault(
        "stats_uninitialized",
        "driver",
        "balloon.driver.stats.04",
        "makes its first stats buffer available without initializing it (all zeroes)",
    ),
    Fault(
        "stats_odd_length",
        "driver",
        "balloon.driver.stats.05",
        "pads stats buffers with two trailing bytes",
    ),
    Fault(
        "stats_vary_subset",
        "driver",
        "balloon.driver.stats.08",
        "supplies a different subset of statistics in alternate buffers",
    ),
    Fault(
        "hint_cmd_buffer_8_bytes",
        "driver",
        "balloon.driver.hinting.01",
        "uses 8-byte output buffers for command IDs",
    ),
    Fault(
        "hint_pages_without_cmd",
        "driver",
        "balloon.driver.hinting.02",
        "supplies hinted pages before the command ID buffer",
    ),
    Fault(
        "hint_cmd_twice",
        "driver",
        "balloon.driver.hinting.03",
        "sends the current command ID twice",
    ),
    Fault(
        "hint_ignore_cmd", "driver", "balloon.driver.hinting.04", "never supplies pages for hinting"
    ),
    Fault(
        "hint_continue_after_stop",
        "driver",
        "balloon.driver.hinting.05",
        "keeps supplying pages after the command ID became STOP",
    ),
    Fault(
        "hint_no_stop",
        "driver",
        "balloon.driver.hinting.06",
        "ends a round without the STOP output buffer",
    ),
    Fault(
        "hint_read_after_done",
        "driver",
        "balloon.driver.hinting.08",
        "reads hinted pages released at DONE before initializing them",
        also=("balloon.device.hinting.04",),
        why_also=HINTED_CONTENT,
    ),
    Fault(
        "hint_read_before_init_early",
        "driver",
        "balloon.driver.hinting.09",
        "reuses a hinted page released before DONE without initializing it",
        also=("balloon.device.hinting.04",),
        why_also=HINTED_CONTENT,
    ),
    Fault(
        "hint_keep_pages_after_done",
        "driver",
        "balloon.driver.hinting.10",
        "does not release hinted pages at DONE",
        also=("balloon.driver.hinting.04",),
        why_also="pages kept after DONE are not free, so the next hinting round gets none of them",
    ),
    Fault(
        "poison_skip_fill",
        "driver",
        "balloon.driver.poison.01",
        "reuses deflated pages without writing poison_val",
    ),
    Fault(
        "poison_write_after_driver_ok",
        "driver",
        "balloon.driver.poison.02",
        "writes poison_val only after DRIVER_OK",
        also=("balloon.driver.poison.03",),
        why_also="a first write of poison_val after DRIVER_OK changes it while DRIVER_OK is set",
    ),
    Fault(
        "poison_rewrite_live",
        "driver",
        "balloon.driver.poison.03",
        "rewrites poison_val while DRIVER_OK is set",
    ),
    Fault(
        "report_trust_content",
        "driver",
        "balloon.driver.reporting.01",
        "reads reported pages before initializing them (PAGE_POISON not negotiated)",
        also=("balloon.device.reporting.01",),
        why_also=REPORTED_CONTENT,
    ),
    Fault(
        "report_without_poison_fill",
        "driver",
        "balloon.driver.reporting.02",
        "reports pages without filling them with poison_val",
    ),
    Fault(
        "report_use_before_ack",
        "driver",
        "balloon.driver.reporting.03",
        "uses reported pages before the device acknowledged the report",
    ),
    Fault(
        "report_single_pages",
        "driver",
        "balloon.driver.reporting.05",
        "reports contiguous free memory as separate 4 KiB ranges",
    ),
    Fault(
        "trust_balloon_page_content",
        "driver",
        "balloon.device.operation.01",
        "reads a deflated page before writing it, expecting its old contents",
        also=("balloon.driver.poison.01",),
        why_also=UNPOISONED_REUSE,
    ),
    Fault(
        "trust_balloon_page_content_tell_host",
        "driver",
        "balloon.device.operation.02",
        "with MUST_TELL_HOST, reads a deflated page before writing it",
        also=("balloon.driver.poison.01",),
        why_also=UNPOISONED_REUSE,
    ),
    Fault(
        "trust_hinted_page_content",
        "driver",
        "balloon.device.hinting.04",
        "expects hinted pages to keep their contents",
        also=("balloon.driver.hinting.08", "balloon.driver.hinting.09"),
        why_also=HINTED_CONTENT,
    ),
    Fault(
        "trust_reported_page_content",
        "driver",
        "balloon.device.reporting.01",
        "expects reported pages to keep their contents",
        also=("balloon.driver.reporting.01",),
        why_also=REPORTED_CONTENT,
    ),
    Fault(
        "ignore_features_ok_refusal",
        "driver",
        "balloon.device.features.01",
        "goes on to DRIVER_OK after the device refused FEATURES_OK",
        also=("core.driver.init.03", "core.driver.init.05", "core.driver.init.06"),
        why_also=(
            "carrying on without FEATURES_OK, the driver's later config writes "
            "(actual) all come before FEATURES_OK; and carrying on is continuing the "
            "initialization that went wrong, without FAILED"
        ),
    ),
    # --- reference driver: core and transports ---------------------------------------------
    Fault(
        "clear_status_bit",
        "driver",
        "core.driver.status.02",
        "clears ACKNOWLEDGE when setting DRIVER",
        also=("core.driver.init.01",),
        why_also=(
            "setting DRIVER while clearing ACKNOWLEDGE also leaves DRIVER set without"
            " ACKNOWLEDGE, out of order"
        ),
    ),
    Fault(
        "skip_acknowledge", "driver", "core.driver.init.01", "sets DRIVER without ACKNOWLEDGE first"
    ),
    Fault(
        "config_write_before_features_ok",
        "driver",
        "core.driver.init.03",
        "writes device configuration before FEATURES_OK",
    ),
    Fault(
        "features_after_features_ok",
        "driver",
        "core.driver.init.04",
        "writes driver features again after FEATURES_OK",
    ),
    Fault(
        "kick_before_driver_ok",
        "driver",
        "core.driver.init.07",
        "notifies a queue before DRIVER_OK",
    ),
    Fault(
        "accept_unoffered",
        "driver",
        "core.driver.features.01",
        "accepts a feature bit the device did not offer",
    ),
    Fault(
        "decline_version_1",
        "driver",
        "core.driver.reserved.01",
        "does not accept VIRTIO_F_VERSION_1 on a modern link",
    ),
    Fault(
        "ignore_generation",
        "driver",
        "core.driver.config.02",
        "reads multi-field config without checking config_generation",
    ),
    Fault(
        "mmio_narrow_access",
        "driver",
        "mmio.driver.registers.04",
        "reads the MMIO Status register with a 16-bit access",
    ),
    # --- reference device: balloon chapter --------------------------------------------------
    Fault(
        "stats_stop_at_unknown_tag",
        "device",
        "balloon.device.stats.01",
        "stops parsing a stats buffer at the first unknown tag",
    ),
    Fault(
        "stats_require_tag_order",
        "device",
        "balloon.device.stats.02",
        "drops stats entries that are out of tag order",
        also=("balloon.driver.stats.06", "balloon.device.legacy.05"),
        why_also=(
            "a device that needs ascending tags is intolerant of the driver's "
            "permission to send them in any order: one behaviour, seen from each side; "
            "the legacy stats test sends Linux's order, so entries go missing there too"
        ),
    ),
    Fault(
        "hint_never_stop",
        "device",
        "balloon.device.hinting.01",
        "leaves the command ID unchanged when it can no longer use hints",
    ),
    Fault(
        "hint_reuse_cmd_id",
        "device",
        "balloon.device.hinting.02",
        "starts a new round with the previous command ID",
    ),
    Fault(
        "hint_accept_stale_pages",
        "device",
        "balloon.device.hinting.03",
        "uses pages hinted under a command ID that is no longer current",
    ),
    Fault(
        "hint_modify_after_done",
        "device",
        "balloon.device.hinting.05",
        "writes a hinted page after setting DONE",
    ),
    Fault(
        "hint_never_done",
        "device",
        "balloon.device.hinting.06",
        "ends hinting with STOP instead of DONE",
    ),
    Fault(
        "report_scribble_with_poison",
        "device",
        "balloon.device.reporting.02",
        "writes a pattern other than poison_val into reported pages",
    ),
    Fault(
        "legacy_reject_without_tell_host",
        "device",
        "balloon.device.legacy.01",
        "on a legacy link, never acknowledges deflates without MUST_TELL_HOST",
        also=("balloon.driver.operation.02",),
        why_also=(
            "a device that never acknowledges deflates keeps the driver from using "
            "pages once num_pages drops: one behaviour, seen from each side"
        ),
    ),
    Fault(
        "legacy_config_native_endian",
        "device",
        "balloon.device.legacy.03",
        "formats config big-endian for a big-endian legacy guest",
        also=("balloon.device.legacy.07",),
        why_also=(
            "the command ID is a config field too: published big-endian, it comes back in "
            "the driver's buffers byte-swapped"
        ),
    ),
    Fault(
        "legacy_actual_use_partial",
        "device",
        "balloon.device.legacy.04",
        "uses actual after each byte written on a legacy link",
    ),
    Fault(
        "legacy_stats_wrong_endian",
        "device",
        "balloon.device.legacy.05",
        "parses stats little-endian on a big-endian legacy guest",
        also=("balloon.device.stats.02", "balloon.driver.stats.06"),
        why_also=(
            "entries parsed in the wrong byte order carry tags the device does not "
            "recognise: it neither accepts them nor tolerates the driver's free order"
        ),
    ),
    Fault(
        "legacy_use_first_stats",
        "device",
        "balloon.device.legacy.06",
        "uses the values of the first stats buffer on a legacy link",
    ),
    Fault(
        "legacy_discard_on_deflate",
        "device",
        "balloon.device.legacy.02",
        "on a legacy link without MUST_TELL_HOST, discards pages when it processes a deflate",
        also=("balloon.driver.operation.08",),
        why_also=(
            "discarding at deflate time breaks a guest that reuses pages before the "
            "ack, which the driver may do without MUST_TELL_HOST: one behaviour, seen"
            " from each side"
        ),
    ),
    Fault(
        "legacy_cmd_id_wrong_endian",
        "device",
        "balloon.device.legacy.07",
        "reads command IDs little-endian on a big-endian legacy guest",
    ),
    Fault(
        "refuse_deflate",
        "device",
        "balloon.driver.operation.02",
        "does not acknowledge deflate requests while num_pages < actual",
        also=("balloon.device.legacy.01",),
        why_also=(
            "a device that leaves deflate requests unanswered does not support a legacy "
            "guest without MUST_TELL_HOST either: its deflates are refused too"
        ),
    ),
    Fault(
        "reject_excess_inflate",
        "device",
        "balloon.driver.operation.03",
        "does not acknowledge inflate requests beyond num_pages",
    ),
    Fault(
        "refuse_oom_deflate",
        "device",
        "balloon.driver.operation.05",
        "does not acknowledge deflates below num_pages (DEFLATE_ON_OOM)",
    ),
    Fault(
        "deflate_discards_pages",
        "device",
        "balloon.driver.operation.08",
        "discards deflated pages when it processes the request (after the guest reused them)",
        also=("balloon.device.legacy.02",),
        why_also=(
            "discarding pages the guest reused before the ack is not allowing a legacy guest "
            "without MUST_TELL_HOST to use them first: one behaviour, seen from each side"
        ),
    ),
    Fault(
        "expects_actual_per_request",
        "device",
        "balloon.driver.operation.12",
        "stops acknowledging until actual is updated after each request",
    ),
    Fault(
        "stats_require_all_tags",
        "device",
        "balloon.driver.stats.07",
        "ignores stats buffers that do not carry all ten tags",
        also=("balloon.device.stats.01",),
        why_also=(
            "a buffer with unknown tags in it carries fewer than ten known ones, so the "
            "device drops its recognised entries along with the unknown ones"
        ),
    ),
    Fault(
        "stats_drop_unordered",
        "device",
        "balloon.driver.stats.06",
        "ignores stats buffers whose tags are not in ascending order",
        also=("balloon.device.stats.02", "balloon.device.stats.01", "balloon.device.legacy.05"),
        why_also=(
            "a device that ignores out-of-order stats does not accept entries in any "
            "order: one behaviour, seen from each side; an unknown tag between known "
            "ones, and Linux's order in the legacy stats test, break the order as well"
        ),
    ),
    Fault(
        "hint_discard_after_release",
        "device",
        "balloon.driver.hinting.07",
        "discards hinted pages when it processes them, after the guest released them",
    ),
    Fault(
        "report_only_after_target",
        "device",
        "balloon.driver.reporting.04",
        "ignores reports made before the first num_pages change",
    ),
    # --- reference device: core and transports ---------------------------------------------
    Fault(
        "reset_keeps_status",
        "device",
        "core.device.reset.01",
        "keeps the old device status after a reset",
    ),
    Fault(
        "accept_unoffered_features",
        "device",
        "core.device.features.03",
        "sets FEATURES_OK for a feature set containing unoffered bits",
    ),
    Fault(
        "skip_used_interrupt",
        "device",
        "split.device.used-suppression.03",
        "sends no used buffer notification although flags is 0",
    ),
    Fault(
        "isr_sticky",
        "device",
        "pci.device.isr.05",
        "does not clear ISR status when the driver reads it",
    ),
]

FAULTS: dict[tuple[str, str], Fault] = {
    (f.side, f.name): f for f in (*_FAULTS, *SPLIT_FAULTS, *PCI_FAULTS, *MMIO_FAULTS, *CORE_FAULTS)
}


def faults_of(side: str) -> dict[str, Fault]:
    return {name: f for (s, name), f in FAULTS.items() if s == side}


def check_faults(side: str, names: frozenset[str]) -> None:
    """Refuse unknown fault names: a typo must not silently give a clean reference."""
    known = faults_of(side)
    unknown = sorted(names - set(known))
    if unknown:
        raise UsageError(
            f"unknown {side} variant(s) {', '.join(unknown)}; "
            f"`ballast targets --variants` lists them"
        )
