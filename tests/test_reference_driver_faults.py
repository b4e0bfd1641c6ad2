"""Every seeded driver fault, run against the clean reference device: the fault leaves the
evidence its clause is about, and the clean driver in the same scenario leaves none.

Evidence is what the device observed, guest memory, or the order of guest page accesses
relative to the driver's requests; it deliberately does not go through the clause
monitors, which have their own tests."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import pytest

from ballast.monitors.events import Kind
from ballast.reference import balloon as b
from ballast.reference.device import DEFAULT_FEATURES, DeviceOptions
from ballast.reference.driver import (
    DEFAULT_ACCEPT,
    DriverError,
    DriverPolicy,
    DriverTimeout,
    typical_stats,
)
from ballast.reference.faults import faults_of
from ballast.reference.guestmem import poison_page
from ballast.virtio.features import Feature
from ballast.virtio.layout import Mmio
from ballast.virtio.memory import PAGE_SIZE
from ballast.virtio.splitq import QueueRule
from ballast.virtio.status import Status
from ballast.virtio.transport import TransportError
from tests.pci_driver_fault_cases import pci_driver_cases
from tests.test_reference_driver import (
    LAYOUT,
    MMIO_BASE,
    OOM,
    POISON,
    POOL,
    TELL,
    Rig,
    features_without,
    make_rig,
)

Access = tuple[int, int, str]
"""(events logged before it, pfn, "read" | "write"): it happened after the event whose
sequence number is one less, and before the event with that sequence number."""


@dataclass
class Observed:
    """A rig plus every guest access to pool pages, ordered against the event log."""

    rig: Rig
    accesses: list[Access] = field(default_factory=list)

    def __post_init__(self) -> None:
        pool = range(LAYOUT.first_pfn, LAYOUT.first_pfn + POOL)
        self.rig.machine.memory.watch(pool, self._record)

    def _record(self, pfn: int, access: str, actor: str) -> None:
        if actor == "guest":
            self.accesses.append((len(self.rig.events), pfn, access))

    def of(self, kind: str, observer: str | None = None) -> list[Any]:
        return self.rig.of(kind, observer)

    def seq(self, kind: str, **match: Any) -> int:
        """Sequence number of the first event of ``kind`` whose data matches."""
        return next(e.seq for e in self.of(kind) if all(e[k] == v for k, v in match.items()))

    def first_touch(self, pfns: set[int], after: int) -> dict[int, str]:
        """The first guest access to each of ``pfns`` after event ``after``."""
        first: dict[int, str] = {}
        for when, pfn, access in self.accesses:
            if when > after and pfn in pfns:
                first.setdefault(pfn, access)
        return first

    def touched_in_flight(self, role: str) -> bool:
        """A guest access to a page of a ``role`` request between the driver exposing it
        and the driver seeing it used."""
        for sub in (e for e in self.of(Kind.REQUEST_SUBMITTED) if e["role"] == role):
            used = next(
                e.seq
                for e in self.of(Kind.USED_BUFFER)
                if e["role"] == role and e["head"] == sub["head"] and e.seq > sub.seq
            )
            pages = set(_pages(sub["request"]))
            if any(sub.seq < when <= used and pfn in pages for when, pfn, _ in self.accesses):
                return True
        return False


def _pages(request: dict[str, Any]) -> list[int]:
    if "pfns" in request:
        return list(request["pfns"])
    return [
        (addr + off) // PAGE_SIZE
        for addr, n in request.get("ranges", [])
        for off in range(0, n, PAGE_SIZE)
    ]


def _bswap(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little"), "big")


# -- scenarios ----------------------------------------------------------------------------


def balloon(rig: Rig) -> None:
    for pages in (600, 200, 900, 300):
        rig.target(pages)
    rig.driver.use_pages(700)


def held_balloon(rig: Rig) -> None:
    """``balloon`` with acknowledgements held back: the window before an ack exists."""
    rig.machine.hold_completions = True
    balloon(rig)


def stats(rig: Rig) -> None:
    for _ in range(3):
        rig.device.request_stats()
        rig.run()


def hint_round(rig: Rig) -> None:
    rig.device.start_hinting()
    rig.run()


def hint_done(rig: Rig) -> None:
    hint_round(rig)
    rig.device.finish_hinting()
    rig.run()


def hint_stopped(rig: Rig) -> None:
    rig.device.start_hinting()
    rig.driver.handle_interrupts()
    rig.device.stop_hinting()
    rig.run()


def hint_then_reuse(rig: Rig) -> None:
    hint_round(rig)
    rig.driver.use_pages(100)


def hint_two_rounds(rig: Rig) -> None:
    rig.driver.use_pages(POOL - 500)
    hint_done(rig)
    hint_round(rig)


def report(rig: Rig) -> None:
    rig.driver.report_free_pages(1200)
    rig.driver.use_pages(POOL)


def deflate_and_reuse(rig: Rig) -> None:
    rig.target(10)
    rig.target(0)
    rig.driver.use_pages(10)


def oom(rig: Rig) -> None:
    rig.target(500)
    rig.driver.memory_pressure(200)


def nothing(rig: Rig) -> None:
    pass


def fragmented_report(rig: Rig) -> None:
    """A report of memory the balloon has cut up: requests carry several ranges.  A
    broken ring leaves the request unanswered (the device stops at the error)."""
    rig.target(600)
    rig.target(100)
    with contextlib.suppress(DriverTimeout):
        rig.driver.report_free_pages(4096)


def spurious_target(rig: Rig) -> None:
    """A new target, which the device announces with a spurious used buffer notification;
    a driver that gives up on it raises."""
    with contextlib.suppress(DriverError):
        rig.target(100)


# -- evidence -----------------------------------------------------------------------------


def started_round(o: Observed) -> int:
    return next(e["cmd_id"] for e in o.of(Kind.HOST_ACTION) if e["action"] == "start_hinting")


def hint_pages_after(o: Observed, action: str, nth: int = 0) -> list[int]:
    starts = [e.seq for e in o.of(Kind.HOST_ACTION) if e["action"] == action]
    return [p for e in o.of(Kind.HINT_PAGES) if e.seq > starts[nth] for p in e["pfns"]]


def read_first(o: Observed, pfns: set[int], after: int) -> bool:
    return "read" in o.first_touch(pfns, after).values()


def hinted(o: Observed) -> set[int]:
    return {p for e in o.of(Kind.HINT_PAGES) for p in e["pfns"]}


def reported(o: Observed) -> set[int]:
    return set(_pages({"ranges": o.rig.device.reported_ranges}))


def poison_written(o: Observed, live: bool) -> bool:
    return any(
        e["offset"] == b.POISON_VAL and bool(e["status"] & Status.DRIVER_OK) == live
        for e in o.of(Kind.CONFIG_WRITTEN)
    )


def deflate_overlaps_unacked_inflate(o: Observed) -> bool:
    unacked: dict[int, set[int]] = {}
    for e in o.rig.events:
        if e.kind == Kind.REQUEST_SUBMITTED and e["role"] == "inflateq":
            unacked[e["head"]] = set(e["request"]["pfns"])
        elif e.kind == Kind.USED_BUFFER and e["role"] == "inflateq":
            unacked.pop(e["head"], None)
        elif (
            e.kind == Kind.REQUEST_SUBMITTED
            and e["role"] == "deflateq"
            and any(set(e["request"]["pfns"]) & pages for pages in unacked.values())
        ):
            return True
    return False


def status_cleared(o: Observed) -> bool:
    return any(e["value"] and e["previous"] & ~e["value"] for e in o.of(Kind.STATUS_WRITTEN))


def features_rewritten(o: Observed) -> bool:
    ok = o.seq(Kind.STATUS_WRITTEN, value=0xB)
    return any(e.seq > ok for e in o.of(Kind.DRIVER_FEATURES_WRITTEN))


def corrupted(o: Observed) -> bool:
    return bool(o.of(Kind.GUEST_DATA_CORRUPTED))


def ring_error(rule: QueueRule) -> Callable[[Observed], bool]:
    """Evidence: the device found the driver's ring breaking ``rule``."""
    return lambda o: any(e["rule"] == rule for e in o.of(Kind.RING_ERROR))


def window(notified: bool, **fields: int) -> Callable[[Observed], bool]:
    """Evidence: the device found entries made available with(out) a notification while
    the used ring's suppression fields were ``fields``."""
    return lambda o: any(
        e["notified"] == notified and all(e[k] == v for k, v in fields.items())
        for e in o.of(Kind.AVAIL_WINDOW)
    )


def polling(event_idx: bool = True, hold: tuple[int, int | None] | None = None) -> DeviceOptions:
    base = DeviceOptions() if event_idx else features_without(EVENT_IDX)
    return dataclasses.replace(base, poll_rings=True, hold_avail_suppression=hold)


@dataclass(frozen=True)
class Case:
    scenario: Callable[[Rig], None]
    evidence: Callable[[Observed], bool]
    link: str = "pci-modern"
    big_endian: bool = False
    options: DeviceOptions | None = None
    policy: dict[str, Any] = field(default_factory=dict)
    fault_refused: bool = False  # FEATURES_OK refused to the faulty driver (or it gave up)
    clean_refused: bool = False  # FEATURES_OK refused to the clean driver (or it gave up)
    retry: bool = False  # after a refusal, initialize once more


# -- core-chapter evidence ------------------------------------------------------------------

HINT = 1 << Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT
UNDEFINED_OFFER = DeviceOptions(features=DEFAULT_FEATURES | 1 << 6)
NO_TELL_HOST = {"accept": DEFAULT_ACCEPT & ~TELL}


def again(rig: Rig) -> None:
    """Initialize once more (after a refusal too)."""
    with contextlib.suppress(DriverError):
        rig.driver.init()


def needs_reset(rig: Rig) -> None:
    rig.device.enter_error_state()
    with contextlib.suppress(DriverError):
        rig.target(64)


def reset_stats_queue(rig: Rig) -> None:
    rig.driver.reset_queue(b.Queue.STATS)
    rig.driver.restart_queue(b.Queue.STATS)
    rig.run()


def wrote_failed(o: Observed) -> bool:
    return any(e["value"] & Status.FAILED for e in o.of(Kind.STATUS_WRITTEN))


def failed_then_status_without_reset(o: Observed) -> bool:
    return any(
        e["previous"] & Status.FAILED and e["value"] and not e["value"] & Status.FAILED
        for e in o.of(Kind.STATUS_WRITTEN)
    )


def driver_ok_before_queues(o: Observed) -> bool:
    first_queue = o.seq(Kind.QUEUE_ENABLED, enabled=True)
    return any(
        e["value"] & Status.DRIVER_OK and e.seq < first_queue for e in o.of(Kind.STATUS_WRITTEN)
    )


def notified_after_needs_reset(o: Observed) -> bool:
    since = [e.seq for e in o.of(Kind.NEEDS_RESET_SET)]
    return bool(since) and any(e.seq > since[0] for e in o.of(Kind.QUEUE_NOTIFIED))


def legacy_word(o: Observed) -> int:
    return next(e["value"] for e in o.of(Kind.DRIVER_FEATURES_WRITTEN) if e["select"] == 0)


def read_after_report_ack(o: Observed) -> bool:
    acks = [e.seq for e in o.of(Kind.BUFFER_USED) if e["role"] == "reporting_vq"]
    pages = reported(o)
    return bool(acks) and any(
        when > acks[0] and pfn in pages and access == "read" for when, pfn, access in o.accesses
    )


def exposed_altered(at: str) -> Callable[[Observed], bool]:
    def evidence(o: Observed) -> bool:
        checks = [e for e in o.of(Kind.EXPOSED_BUFFER_CHECKED) if e["at"] == at]
        return any(not e["intact"] for e in checks)

    return evidence


EVENT_IDX = 1 << Feature.VIRTIO_F_EVENT_IDX
NO_POISON = features_without(POISON)
REFUSING = DeviceOptions(reject_without_must_tell_host=True)
CASES: dict[str, Case] = {
    "decline_must_tell_host": Case(nothing, lambda o: not o.rig.device.model.negotiated & TELL),
    "ignore_inflate_request": Case(balloon, lambda o: not o.rig.device.balloon_pages),
    "oom_deflate_without_feature": Case(
        oom, lambda o: bool(o.of(Kind.BALLOON_DEFLATE)), options=features_without(OOM)
    ),
    "use_without_deflate": Case(
        balloon,
        lambda o: any(o.rig.page(p, 8) == b"ballast:" for p in o.rig.device.balloon_pages),
    ),
    "use_before_deflate_ack": Case(balloon, lambda o: o.touched_in_flight("deflateq")),
    "use_during_inflate": Case(held_balloon, lambda o: o.touched_in_flight("inflateq")),
    "deflate_before_inflate_ack": Case(balloon, deflate_overlaps_unacked_inflate),
    "never_update_actual": Case(balloon, lambda o: o.rig.device.actual == 0),
    "legacy_trust_used_len": Case(
        balloon,
        lambda o: any(a["pfns"] == b["pfns"] for a, b in pairwise(o.of(Kind.BALLOON_INFLATE))),
        link="pci-legacy",
        options=DeviceOptions(report_descriptor_length=True),
    ),
    "legacy_actual_bytewise": Case(
        balloon,
        lambda o: any(e["size"] == 1 for e in o.of(Kind.CONFIG_WRITTEN) if e["offset"] <= 7),
        link="pci-legacy",
    ),
    "legacy_config_native_endian": Case(
        lambda rig: rig.target(1),
        lambda o: o.rig.driver.num_pages == 1 << 24,
        link="pci-legacy",
        big_endian=True,
    ),
    "legacy_stats_little_endian": Case(
        stats,
        lambda o: o.rig.device.read_stats() != dict(typical_stats()),
        link="mmio-v1",
        big_endian=True,
    ),
    "legacy_cmd_id_little_endian": Case(
        hint_round,
        lambda o: o.of(Kind.HINT_COMMAND)[0]["cmd_id"] == _bswap(started_round(o)),
        link="pci-legacy",
        big_endian=True,
    ),
    "stats_two_buffers": Case(
        stats, lambda o: any(e["held_before"] for e in o.of(Kind.STATS_BUFFER))
    ),
    "stats_no_initial_buffer": Case(nothing, lambda o: not o.of(Kind.STATS_BUFFER)),
    "stats_no_refill": Case(stats, lambda o: len(o.of(Kind.STATS_BUFFER)) == 1),
    "stats_uninitialized": Case(
        nothing, lambda o: not any(v or t for t, v in o.of(Kind.STATS_BUFFER)[0]["entries"])
    ),
    "stats_odd_length": Case(
        stats, lambda o: any(e["length"] % b.STAT_SIZE for e in o.of(Kind.STATS_BUFFER))
    ),
    "stats_vary_subset": Case(
        stats, lambda o: len({len(e["entries"]) for e in o.of(Kind.STATS_BUFFER)}) > 1
    ),
    "hint_cmd_buffer_8_bytes": Case(
        hint_round, lambda o: any(e["length"] != 4 for e in o.of(Kind.HINT_COMMAND))
    ),
    "hint_pages_without_cmd": Case(
        hint_round, lambda o: o.of(Kind.HINT_PAGES)[0].seq < o.of(Kind.HINT_COMMAND)[0].seq
    ),
    "hint_cmd_twice": Case(
        hint_round,
        lambda o: sum(e["cmd_id"] == started_round(o) for e in o.of(Kind.HINT_COMMAND)) > 1,
    ),
    "hint_ignore_cmd": Case(hint_round, lambda o: not o.of(Kind.HINT_PAGES)),
    "hint_continue_after_stop": Case(
        hint_stopped,
        lambda o: bool(hint_pages_after(o, "stop_hinting")),
        policy={"hint_batch": 64},
    ),
    "hint_no_stop": Case(
        hint_round, lambda o: b.CMD_ID_STOP not in [e["cmd_id"] for e in o.of(Kind.HINT_COMMAND)]
    ),
    "hint_read_after_done": Case(
        hint_done,
        lambda o: read_first(o, hinted(o), o.seq(Kind.HOST_ACTION, action="finish_hinting")),
    ),
    "hint_read_before_init_early": Case(
        hint_then_reuse,
        lambda o: read_first(o, hinted(o), o.seq(Kind.HOST_ACTION, action="start_hinting")),
    ),
    "hint_keep_pages_after_done": Case(
        hint_two_rounds, lambda o: not hint_pages_after(o, "start_hinting", 1)
    ),
    "poison_skip_fill": Case(
        deflate_and_reuse,
        lambda o: any(
            o.rig.page(p)[16:] != poison_page(DriverPolicy().poison_val)[16:]
            for e in o.of(Kind.BALLOON_DEFLATE)
            for p in e["pfns"]
        ),
    ),
    "poison_write_after_driver_ok": Case(nothing, lambda o: not poison_written(o, live=False)),
    "poison_rewrite_live": Case(nothing, lambda o: poison_written(o, live=True)),
    "report_trust_content": Case(
        report,
        lambda o: read_first(o, reported(o), o.of(Kind.REPORT_BUFFER)[0].seq),
        options=NO_POISON,
    ),
    "report_without_poison_fill": Case(
        lambda rig: rig.driver.report_free_pages(1200),
        lambda o: any(o.rig.page(p) != poison_page(DriverPolicy().poison_val) for p in reported(o)),
    ),
    "report_use_before_ack": Case(report, lambda o: o.touched_in_flight("reporting_vq")),
    "report_single_pages": Case(
        report, lambda o: {n for _, n in o.rig.device.reported_ranges} == {PAGE_SIZE}
    ),
    "trust_balloon_page_content": Case(  # its permission holds without MUST_TELL_HOST
        balloon,
        corrupted,
        options=dataclasses.replace(features_without(TELL), modify_inflated_pages=True),
    ),
    "trust_balloon_page_content_tell_host": Case(
        balloon, corrupted, options=DeviceOptions(modify_inflated_pages=True)
    ),
    "trust_hinted_page_content": Case(
        hint_done, corrupted, options=DeviceOptions(modify_hinted_pages=True)
    ),
    "trust_reported_page_content": Case(
        report,
        corrupted,
        options=dataclasses.replace(NO_POISON, modify_reported_pages=True),
    ),
    "ignore_features_ok_refusal": Case(
        nothing,
        lambda o: bool(o.rig.device.model.status & Status.DRIVER_OK),
        options=REFUSING,
        policy={"accept": DriverPolicy().accept & ~TELL},
        clean_refused=True,
    ),
    "clear_status_bit": Case(nothing, status_cleared),
    "skip_acknowledge": Case(
        nothing, lambda o: not o.of(Kind.STATUS_WRITTEN)[1]["value"] & Status.ACKNOWLEDGE
    ),
    "config_write_before_features_ok": Case(
        nothing,
        lambda o: any(not e["status"] & Status.FEATURES_OK for e in o.of(Kind.CONFIG_WRITTEN)),
    ),
    "features_after_features_ok": Case(nothing, features_rewritten),
    "kick_before_driver_ok": Case(
        nothing,
        lambda o: o.of(Kind.QUEUE_NOTIFIED)[0].seq < o.seq(Kind.STATUS_WRITTEN, value=0xF),
    ),
    "accept_unoffered": Case(
        nothing,
        lambda o: any(
            e["value"] & ~o.rig.device.model.read_device_features(e["select"])
            for e in o.of(Kind.DRIVER_FEATURES_WRITTEN)
        ),
        options=features_without(OOM),
        fault_refused=True,
    ),
    "decline_version_1": Case(
        nothing,
        lambda o: (
            not o.of(Kind.FEATURES_OK_DECIDED)[0]["features"] & 1 << Feature.VIRTIO_F_VERSION_1
        ),
        fault_refused=True,
    ),
    "ignore_generation": Case(
        balloon, lambda o: {e["generation"] for e in o.of(Kind.CONFIG_SEEN)} == {None}
    ),
    "mmio_narrow_access": Case(
        nothing,
        lambda o: any(e["width"] == 2 for e in o.of(Kind.REGISTER_MISUSE)),
        link="mmio-v2",
    ),
    # split ring
    "split_misaligned_used": Case(fragmented_report, ring_error(QueueRule.MISALIGNED)),
    "split_descriptor_loop": Case(fragmented_report, ring_error(QueueRule.LOOP)),
    "split_indirect_unnegotiated": Case(
        fragmented_report,
        ring_error(QueueRule.INDIRECT_NOT_NEGOTIATED),
        options=features_without(1 << Feature.VIRTIO_F_INDIRECT_DESC),
    ),
    "split_nested_indirect": Case(fragmented_report, ring_error(QueueRule.NESTED_INDIRECT)),
    "split_indirect_with_next": Case(fragmented_report, ring_error(QueueRule.INDIRECT_WITH_NEXT)),
    "split_chain_beyond_queue_size": Case(
        fragmented_report,
        ring_error(QueueRule.CHAIN_TOO_LONG),
        options=DeviceOptions(queue_size=16),
    ),
    "split_writable_before_readable": Case(
        fragmented_report, ring_error(QueueRule.WRITE_BEFORE_READ)
    ),
    "split_avail_idx_decrement": Case(fragmented_report, ring_error(QueueRule.AVAIL_DECREMENT)),
    "split_used_flags_uninitialized": Case(
        fragmented_report, lambda o: any(e["flags"] for e in o.of(Kind.USED_RING_SEEN))
    ),
    "split_avail_flags_invalid": Case(
        fragmented_report,
        lambda o: any(e["avail_flags"] > 1 for e in o.of(Kind.AVAIL_BUFFER)),
        options=features_without(EVENT_IDX),
    ),
    "split_avail_flags_with_event_idx": Case(
        fragmented_report, lambda o: any(e["avail_flags"] for e in o.of(Kind.AVAIL_BUFFER))
    ),
    "split_honours_avail_event_without_event_idx": Case(
        fragmented_report,
        window(False, flags=0, avail_event=0x8000),
        options=polling(event_idx=False, hold=(0, 0x8000)),
    ),
    "split_kicks_despite_no_notify": Case(
        fragmented_report, window(True, flags=1), options=polling(event_idx=False, hold=(1, None))
    ),
    "split_skips_first_kick": Case(
        fragmented_report, window(False), options=polling(event_idx=False)
    ),
    "split_honours_used_flags_with_event_idx": Case(
        fragmented_report, window(False), options=polling(hold=(1, None))
    ),
    "split_skips_kick_at_avail_event": Case(fragmented_report, window(False), options=polling()),
    "split_kicks_every_buffer": Case(
        fragmented_report, window(True, avail_event=0x8000), options=polling(hold=(0, 0x8000))
    ),
    "split_no_spurious": Case(
        spurious_target,
        lambda o: any(e["value"] & Status.FAILED for e in o.of(Kind.STATUS_WRITTEN)),
        options=DeviceOptions(spurious_used_notifications=True),
    ),
    # core chapter
    "accept_undefined_feature": Case(
        nothing,
        lambda o: any(e["value"] & 1 << 6 for e in o.of(Kind.DRIVER_FEATURES_WRITTEN)),
        options=UNDEFINED_OFFER,
    ),
    "fail_on_undefined_feature": Case(
        nothing, wrote_failed, options=UNDEFINED_OFFER, fault_refused=True
    ),
    "require_every_feature": Case(
        nothing, wrote_failed, options=features_without(HINT), fault_refused=True
    ),
    "give_up_silently": Case(
        nothing,
        lambda o: not wrote_failed(o),
        options=features_without(1 << Feature.VIRTIO_F_VERSION_1),
        fault_refused=True,
        clean_refused=True,
    ),
    "reinit_without_reset": Case(
        nothing,
        failed_then_status_without_reset,
        options=REFUSING,
        policy=NO_TELL_HOST,
        fault_refused=True,
        clean_refused=True,
        retry=True,
    ),
    "no_failed_on_refusal": Case(
        nothing,
        lambda o: not wrote_failed(o),
        options=REFUSING,
        policy=NO_TELL_HOST,
        fault_refused=True,
        clean_refused=True,
    ),
    "configure_after_refusal": Case(
        nothing,
        lambda o: bool(o.of(Kind.QUEUE_ENABLED)),
        options=REFUSING,
        policy=NO_TELL_HOST,
        fault_refused=True,
        clean_refused=True,
    ),
    "driver_ok_before_queue_setup": Case(
        nothing, driver_ok_before_queues, options=features_without(POISON)
    ),
    "no_wait_for_reset": Case(
        again,
        lambda o: any(e["value"] and e["reset_pending"] for e in o.of(Kind.STATUS_WRITTEN)),
        options=DeviceOptions(reset_latency=3),
    ),
    "ignore_needs_reset": Case(needs_reset, notified_after_needs_reset),
    "legacy_features_ok": Case(
        nothing,
        lambda o: any(e["value"] & Status.FEATURES_OK for e in o.of(Kind.STATUS_WRITTEN)),
        link="pci-legacy",
    ),
    "decline_any_layout": Case(
        nothing,
        lambda o: not legacy_word(o) & 1 << Feature.VIRTIO_F_ANY_LAYOUT,
        link="pci-legacy",
    ),
    "accept_unused_bit": Case(
        nothing, lambda o: bool(legacy_word(o) & 1 << Feature.VIRTIO_F_UNUSED), link="pci-legacy"
    ),
    "read_unoffered_config": Case(
        balloon,
        lambda o: any(e["offset"] == b.FREE_PAGE_HINT_CMD_ID for e in o.of(Kind.CONFIG_READ)),
        options=features_without(HINT),
    ),
    "report_read_back": Case(report, read_after_report_ack),
    "rewrite_exposed_buffer": Case(stats, exposed_altered("use")),
    "free_rings_before_reset": Case(lambda rig: rig.driver.remove(), exposed_altered("reset")),
    "skip_queue_reset_check": Case(reset_stats_queue, lambda o: not o.of(Kind.QUEUE_RESET_READ)),
    "reenable_without_setup": Case(
        reset_stats_queue,
        lambda o: any(e["desc"] == 0 for e in o.of(Kind.QUEUE_CONFIGURED)),
    ),
}


# -- virtio-mmio: the register block's account of every access -----------------------------


def _accesses(o: Observed, offset: int, write: bool, decoy: bool = False) -> list[Any]:
    """MMIO_ACCESS events at ``offset`` of the balloon's slot (or of the decoy's)."""
    base = MMIO_BASE - 0x200 if decoy else MMIO_BASE
    return [
        e
        for e in o.of(Kind.MMIO_ACCESS)
        if e["base"] == base and e["offset"] == offset and e["write"] == write
    ]


def _misuse(problem: str) -> Callable[[Observed], bool]:
    return lambda o: any(e["problem"] == problem for e in o.of(Kind.REGISTER_MISUSE))


def _before_select(value: Mmio, select: Mmio, write: bool) -> Callable[[Observed], bool]:
    """The first access to ``value`` after the last reset came before any ``select`` write."""

    def evidence(o: Observed) -> bool:
        reset = max(e.seq for e in _accesses(o, Mmio.STATUS, True) if e["value"] == 0)
        first = min(e.seq for e in _accesses(o, value, write) if e.seq > reset)
        return not any(reset < e.seq < first for e in _accesses(o, select, True))

    return evidence


def _decoy(kind: str, noise: int = 0) -> DeviceOptions:
    return DeviceOptions(mmio_decoy=kind, mmio_interrupt_noise=noise)


def _suppress_transport_error(rig: Rig) -> None:
    with contextlib.suppress(TransportError):
        balloon(rig)


def _restart_inflateq(rig: Rig) -> None:
    rig.driver.reset_queue(b.Queue.INFLATE)
    rig.driver.restart_queue(b.Queue.INFLATE)


def _reset_unread(o: Observed) -> bool:
    """No QueueReset read between the queue reset and the queue set up again."""
    write = next(e.seq for e in _accesses(o, Mmio.QUEUE_RESET, True))
    size = next(e.seq for e in _accesses(o, Mmio.QUEUE_SIZE, True) if e.seq > write)
    return not any(write < e.seq < size for e in _accesses(o, Mmio.QUEUE_RESET, False))


NOISY = DeviceOptions(mmio_interrupt_noise=0x4)
MMIO_CASES: dict[str, Case] = {
    "mmio_read_undefined": Case(nothing, _misuse("undefined"), link="mmio-v2"),
    "mmio_write_read_only": Case(nothing, _misuse("write-to-read-only"), link="mmio-v2"),
    "mmio_read_write_only": Case(nothing, _misuse("read-of-write-only"), link="mmio-v2"),
    "mmio_config_bytewise": Case(
        balloon, lambda o: any(e["size"] == 1 for e in o.of(Kind.CONFIG_READ)), link="mmio-v2"
    ),
    "mmio_features_without_select": Case(
        nothing,
        _before_select(Mmio.DEVICE_FEATURES, Mmio.DEVICE_FEATURES_SEL, False),
        link="mmio-v2",
    ),
    "mmio_driver_features_without_select": Case(
        nothing,
        _before_select(Mmio.DRIVER_FEATURES, Mmio.DRIVER_FEATURES_SEL, True),
        link="mmio-v2",
    ),
    "mmio_queue_size_over_max": Case(
        nothing,
        lambda o: any(e["value"] > 256 for e in _accesses(o, Mmio.QUEUE_SIZE, True)),
        link="mmio-v2",
    ),
    "mmio_rewrite_live_queue": Case(
        nothing,
        lambda o: any(e["enabled"] for e in o.of(Kind.QUEUE_FIELD_WRITTEN)),
        link="mmio-v2",
    ),
    "mmio_assume_version_2": Case(
        nothing, lambda o: not _accesses(o, Mmio.VERSION, False), link="mmio-v2"
    ),
    "mmio_skip_magic_check": Case(
        nothing,
        lambda o: bool(_accesses(o, Mmio.STATUS, True, decoy=True)),
        link="mmio-v2",
        options=_decoy("bad-magic"),
        fault_refused=True,
    ),
    "mmio_skip_version_check": Case(
        nothing,
        lambda o: bool(_accesses(o, Mmio.STATUS, True, decoy=True)),
        link="mmio-v2",
        options=_decoy("bad-version"),
        fault_refused=True,
    ),
    "mmio_skip_device_id": Case(
        nothing, lambda o: not _accesses(o, Mmio.DEVICE_ID, False), link="mmio-v2"
    ),
    "mmio_reset_placeholder": Case(
        nothing,
        lambda o: bool(_accesses(o, Mmio.STATUS, True, decoy=True)),
        link="mmio-v2",
        options=_decoy("no-device"),
    ),
    "mmio_placeholder_vendor_read": Case(
        nothing,
        lambda o: bool(_accesses(o, Mmio.VENDOR_ID, False, decoy=True)),
        link="mmio-v2",
        options=_decoy("no-device"),
    ),
    "mmio_ack_placeholder": Case(
        nothing,
        lambda o: bool(_accesses(o, Mmio.INTERRUPT_ACK, True, decoy=True)),
        link="mmio-v2",
        options=_decoy("no-device"),
    ),
    "mmio_ack_unread": Case(
        balloon,
        lambda o: any(e["status"] is None for e in _accesses(o, Mmio.INTERRUPT_ACK, True)),
        link="mmio-v2",
    ),
    "mmio_never_ack": Case(
        balloon, lambda o: not _accesses(o, Mmio.INTERRUPT_ACK, True), link="mmio-v2"
    ),
    "mmio_ack_vring_only": Case(
        balloon,
        lambda o: any(
            e["status"] & 2 and not e["value"] & 2 for e in _accesses(o, Mmio.INTERRUPT_ACK, True)
        ),
        link="mmio-v2",
    ),
    "mmio_ack_echo_status": Case(
        balloon,
        lambda o: any(e["value"] & 4 for e in _accesses(o, Mmio.INTERRUPT_ACK, True)),
        link="mmio-v2",
        options=NOISY,
    ),
    "mmio_reject_unknown_interrupt": Case(
        _suppress_transport_error,
        lambda o: any(e["value"] & Status.FAILED for e in _accesses(o, Mmio.STATUS, True)),
        link="mmio-v2",
        options=NOISY,
    ),
    "mmio_queue_reset_no_wait": Case(_restart_inflateq, _reset_unread, link="mmio-v2"),
    "mmio_features_before_driver": Case(
        nothing,
        lambda o: (
            _accesses(o, Mmio.DEVICE_FEATURES, False)[0].seq
            < _accesses(o, Mmio.STATUS, True)[1].seq
        ),
        link="mmio-v2",
    ),
    "mmio_stop_without_readback": Case(
        lambda rig: rig.driver.stop_queue(b.Queue.DEFLATE),
        lambda o: not _accesses(o, Mmio.QUEUE_READY, False),
        link="mmio-v2",
    ),
}
CASES.update(MMIO_CASES)
CASES.update(pci_driver_cases(Case))


def observe(name: str, faulty: bool) -> tuple[Observed, Exception | None]:
    case = CASES[name]
    faults = frozenset({name}) if faulty else frozenset()
    rig = make_rig(
        case.link, case.big_endian, case.options, init=False, faults=faults, **case.policy
    )
    observed = Observed(rig)
    try:
        rig.driver.init()
        rig.run()
        case.scenario(rig)
    except (DriverError, TransportError) as error:  # refused, ignored, not claimed, gave up
        if case.retry:
            again(rig)
        return observed, error
    return observed, None


def test_every_driver_fault_has_a_case() -> None:
    assert set(CASES) == set(faults_of("driver"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_fault_leaves_its_evidence(name: str) -> None:
    observed, error = observe(name, faulty=True)
    assert (error is not None) == CASES[name].fault_refused
    assert CASES[name].evidence(observed)


@pytest.mark.parametrize("name", sorted(CASES))
def test_clean_driver_leaves_no_such_evidence(name: str) -> None:
    observed, error = observe(name, faulty=False)
    assert (error is not None) == CASES[name].clean_refused
    assert not CASES[name].evidence(observed)


def test_tell_host_variant_trusts_only_with_must_tell_host() -> None:
    options = dataclasses.replace(features_without(TELL), modify_inflated_pages=True)
    rig = make_rig(options=options, faults=frozenset({"trust_balloon_page_content_tell_host"}))
    balloon(rig)
    assert not rig.of(Kind.GUEST_DATA_CORRUPTED)


@pytest.mark.parametrize(
    "name",
    ["legacy_config_native_endian", "legacy_stats_little_endian", "legacy_cmd_id_little_endian"],
)
def test_big_endian_faults_need_a_big_endian_legacy_guest(name: str) -> None:
    case = dataclasses.replace(CASES[name], big_endian=False)
    rig = make_rig(case.link, False, case.options, faults=frozenset({name}), **case.policy)
    case.scenario(rig)
    assert not case.evidence(Observed(rig))


HELD = {  # fault -> (device event that shows the request, the role of its acknowledgement)
    "use_during_inflate": (Kind.BALLOON_INFLATE, "inflateq"),
    "use_before_deflate_ack": (Kind.BALLOON_DEFLATE, "deflateq"),
    "report_use_before_ack": (Kind.REPORT_BUFFER, "reporting_vq"),
}


@pytest.mark.parametrize("name", sorted(HELD))
def test_device_sees_use_before_ack_when_acks_are_held(name: str) -> None:
    """With acknowledgements held back, the guest access falls between the device seeing
    the request and the device acknowledging it, where a device-side monitor looks."""
    shown, role = HELD[name]
    rig = make_rig(faults=frozenset({name}))
    observed = Observed(rig)
    rig.machine.hold_completions = True
    CASES[name].scenario(rig)
    for seen in observed.of(shown):
        request = seen["ranges"] if "ranges" in seen.data else seen["pfns"]
        pages = set(_pages({"ranges": request}) if "ranges" in seen.data else request)
        acked = next(
            e.seq
            for e in observed.of(Kind.BUFFER_USED)
            if e["role"] == role and e["head"] == seen["head"] and e.seq > seen.seq
        )
        if any(seen.seq < when <= acked and pfn in pages for when, pfn, _ in observed.accesses):
            return
    pytest.fail("no guest access between the device seeing a request and acknowledging it")


def test_device_sees_deflate_of_unacknowledged_inflate_when_acks_are_held() -> None:
    rig = make_rig(faults=frozenset({"deflate_before_inflate_ack"}))
    rig.machine.hold_completions = True
    rig.target(300)
    inflating: set[int] = set()
    early = False
    for e in rig.events:
        if e.kind == Kind.BALLOON_INFLATE:
            inflating.update(e["pfns"])
        elif e.kind == Kind.BUFFER_USED and e["role"] == "inflateq":
            inflating.clear()
        elif e.kind == Kind.BALLOON_DEFLATE:
            early = early or bool(inflating & set(e["pfns"]))
    assert early
    assert rig.device.balloon_pages == rig.driver.balloon_pfns
