"""Reference driver against reference device on the in-process machine, over every
transport (PCI modern, transitional, legacy; MMIO v1, v2) and both guest byte orders on
legacy links.  Also hosts the rig the other ``test_reference_driver_*`` modules build on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, cast

import pytest

from ballast.link import UnclaimedTransport
from ballast.machine import InProcessMachine
from ballast.monitors.events import EventLog, Kind
from ballast.reference import balloon as b
from ballast.reference.allocator import PageState
from ballast.reference.balloon import Numbering
from ballast.reference.device import DEFAULT_FEATURES, BalloonDevice, DeviceOptions
from ballast.reference.driver import (
    BalloonDriver,
    DeviceNeedsReset,
    DriverPolicy,
    DriverTimeout,
    FeaturesRefused,
    typical_stats,
)
from ballast.reference.guestmem import MemoryLayout, page_pattern, poison_page
from ballast.virtio.features import Feature, mask
from ballast.virtio.memory import PAGE_SIZE
from ballast.virtio.status import Status
from ballast.virtio.transport import BarAllocator, Transport, TransportError, open_transport

RAM = 16 << 20
LAYOUT = MemoryLayout.for_ram(RAM)
POOL = LAYOUT.pool_pages
MMIO_BASE = 0xFEB00000 + 23 * 0x200
MMIO_IRQ = 12
LINKS = [
    ("pci-modern", False),
    ("pci-transitional", False),
    ("pci-legacy", False),
    ("pci-legacy", True),
    ("mmio-v1", False),
    ("mmio-v1", True),
    ("mmio-v2", False),
]
LINK_IDS = [f"{link}{'-be' if be else ''}" for link, be in LINKS]
F = Feature
TELL = mask(F.VIRTIO_BALLOON_F_MUST_TELL_HOST)
STATS = mask(F.VIRTIO_BALLOON_F_STATS_VQ)
OOM = mask(F.VIRTIO_BALLOON_F_DEFLATE_ON_OOM)
HINT = mask(F.VIRTIO_BALLOON_F_FREE_PAGE_HINT)
POISON = mask(F.VIRTIO_BALLOON_F_PAGE_POISON)
REPORTING = mask(F.VIRTIO_BALLOON_F_PAGE_REPORTING)


@dataclass
class Rig:
    machine: InProcessMachine
    device: BalloonDevice
    driver: BalloonDriver
    events: EventLog

    @property
    def legacy(self) -> bool:
        return self.driver.transport.legacy

    def run(self) -> None:
        self.driver.run_until_idle()

    def target(self, pages: int) -> None:
        self.device.set_target(pages)
        self.run()

    def page(self, pfn: int, n: int = PAGE_SIZE) -> bytes:
        """Guest memory through the backdoor (not an access watchers see)."""
        return self.machine.memory.read(pfn * PAGE_SIZE, n, actor="backdoor")

    def of(self, kind: str, observer: str | None = None) -> list[Any]:
        return self.events.of(kind, observer)


def make_rig(
    link: str = "pci-modern",
    big_endian: bool = False,
    options: DeviceOptions | None = None,
    init: bool = True,
    **policy: Any,
) -> Rig:
    """One device and its driver on a 16 MiB machine; ``policy`` overrides DriverPolicy."""
    events = EventLog()
    machine = InProcessMachine(RAM, "big" if big_endian else "little", events)
    options = options or DeviceOptions()
    device = BalloonDevice(machine.memory, events, options)
    transport: Transport
    if link.startswith("mmio"):
        if options.mmio_decoy:  # in the slot before the balloon's
            machine.attach_mmio_decoy(options.mmio_decoy, MMIO_BASE - 0x200)  # type: ignore[arg-type]
        machine.attach_mmio(
            device, MMIO_BASE, int(link[-1]), MMIO_IRQ, options.mmio_interrupt_noise
        )  # type: ignore[arg-type]
        faults = policy.get("faults", frozenset())
        transport = open_transport(machine, "mmio", irq_line=MMIO_IRQ, faults=faults)
    else:
        mode = link.removeprefix("pci-")
        machine.attach_pci(device, mode, options=device.options.pci)  # type: ignore[arg-type]
        legacy = mode == "legacy" and policy.get("transitional", True)
        kind = "pci-legacy" if legacy else "pci-modern"
        faults = policy.get("faults", frozenset())
        try:
            transport = open_transport(machine, kind, allocator=BarAllocator(), faults=faults)
        except TransportError as error:  # a driver that claims no device (seeded bugs)
            transport = cast(Transport, UnclaimedTransport(error))
    settings = DriverPolicy(memory_layout=LAYOUT, timeout=0.05)
    driver = BalloonDriver(
        machine, transport, events, dataclasses.replace(settings, **policy), big_endian=big_endian
    )
    rig = Rig(machine, device, driver, events)
    if init:
        driver.init()
        rig.run()
    return rig


def features_without(*bits: int) -> DeviceOptions:
    removed = 0
    for bit in bits:
        removed |= bit
    return DeviceOptions(features=DEFAULT_FEATURES & ~removed)


def check_balloon(rig: Rig) -> None:
    """Device and driver agree on the balloon, and actual says how big it is."""
    assert rig.device.balloon_pages == rig.driver.balloon_pfns
    assert rig.device.actual == len(rig.device.balloon_pages)


@pytest.fixture(params=LINKS, ids=LINK_IDS)
def rig(request: pytest.FixtureRequest) -> Rig:
    link, big_endian = request.param
    return make_rig(link, big_endian)


# -- initialization -------------------------------------------------------------------------


def test_init_reaches_driver_ok(rig: Rig) -> None:
    live = Status.ACKNOWLEDGE | Status.DRIVER | Status.DRIVER_OK
    any_layout = mask(Feature.VIRTIO_F_ANY_LAYOUT)  # offered by every legacy interface
    expected = DEFAULT_FEATURES & 0xFFFFFFFF | any_layout if rig.legacy else DEFAULT_FEATURES
    written = [e["value"] for e in rig.of(Kind.STATUS_WRITTEN)]
    if rig.legacy:
        assert written == [0, 1, 3, 7]
        assert rig.device.model.status == live
    else:
        assert written == [0, 1, 3, 11, 15]
        assert rig.device.model.status == live | Status.FEATURES_OK
    assert rig.driver.negotiated == rig.device.model.negotiated == expected
    assert rig.of(Kind.DEVICE_STATUS_READ, "driver")[0]["value"] == 0  # after the reset


def test_init_order_of_balloon_steps(rig: Rig) -> None:
    """Stats buffer and poison_val before DRIVER_OK, the stats notification after it."""
    seq = {
        "poison": next(e.seq for e in rig.of(Kind.CONFIG_WRITTEN) if e["offset"] == b.POISON_VAL),
        "stats": next(e.seq for e in rig.of(Kind.REQUEST_SUBMITTED) if e["role"] == "statsq"),
        "ok": next(e.seq for e in rig.of(Kind.STATUS_WRITTEN) if e["value"] & Status.DRIVER_OK),
        "kick": rig.of(Kind.QUEUE_NOTIFIED)[0].seq,
    }
    assert seq["stats"] < seq["ok"] and seq["poison"] < seq["ok"] < seq["kick"]
    assert rig.device.poison_val == DriverPolicy().poison_val


def test_legacy_has_no_features_ok_and_32_bit_features() -> None:
    rig = make_rig("pci-legacy")
    assert not any(e["value"] & Status.FEATURES_OK for e in rig.of(Kind.STATUS_WRITTEN))
    assert rig.driver.negotiated >> 32 == 0


def test_accepts_only_what_policy_and_device_agree_on() -> None:
    rig = make_rig(options=features_without(HINT, REPORTING), accept=TELL | STATS)
    assert rig.driver.negotiated == TELL | STATS | mask(F.VIRTIO_F_VERSION_1)
    assert set(rig.driver._vqs) == {b.Queue.INFLATE, b.Queue.DEFLATE, b.Queue.STATS}


def test_refused_features_fail_the_device() -> None:
    options = DeviceOptions(reject_without_must_tell_host=True)
    rig = make_rig(options=options, init=False, accept=DriverPolicy().accept & ~TELL)
    with pytest.raises(FeaturesRefused):
        rig.driver.init()
    assert rig.device.model.status & Status.FAILED
    assert not rig.device.model.status & Status.DRIVER_OK
    assert rig.of(Kind.FEATURES_OK_READBACK)[0]["accepted"] is False


def test_queue_sizes_and_config_seen(rig: Rig) -> None:
    sizes = {e["role"]: e["max_size"] for e in rig.of(Kind.QUEUE_SIZE_SEEN)}
    assert sizes == dict.fromkeys(
        ("inflateq", "deflateq", "statsq", "free_page_vq", "reporting_vq"), 256
    )
    seen = {e["field"] for e in rig.of(Kind.CONFIG_SEEN)}
    assert seen == {"num_pages", "free_page_hint_cmd_id"}


@pytest.mark.parametrize("numbering", list(Numbering))
def test_queue_numbering_readings(numbering: Numbering) -> None:
    """Statsq and hinting absent: the reporting queue moves, and both sides agree."""
    options = dataclasses.replace(features_without(STATS, HINT), numbering=numbering)
    rig = make_rig(options=options, numbering=numbering)
    expected = {Numbering.FIXED: 4, Numbering.DENSE_OFFERED: 2, Numbering.DENSE_NEGOTIATED: 2}
    assert rig.driver._vqs[b.Queue.REPORT].index == expected[numbering]
    rig.target(300)
    check_balloon(rig)
    assert rig.driver.report_free_pages(100) == 100
    assert sum(n for _, n in rig.device.reported_ranges) == 100 * PAGE_SIZE


def test_dense_offered_numbering_with_stats_declined() -> None:
    """QEMU's reading: statsq keeps its slot when offered, even if the driver declines it."""
    options = dataclasses.replace(features_without(HINT), numbering=Numbering.DENSE_OFFERED)
    rig = make_rig(
        options=options, numbering=Numbering.DENSE_OFFERED, accept=DriverPolicy().accept & ~STATS
    )
    assert rig.driver._vqs[b.Queue.REPORT].index == 3
    assert rig.driver.report_free_pages(10) == 10


# -- inflate and deflate --------------------------------------------------------------------


def test_targets_converge(rig: Rig) -> None:
    for pages in (1000, 300, 2900, 0, 77):
        rig.target(pages)
        check_balloon(rig)
        assert rig.device.actual == pages
    sizes = {len(e["pfns"]) for e in rig.of(Kind.BALLOON_INFLATE)}
    assert max(sizes) == 256


def test_inflate_stops_at_free_memory() -> None:
    rig = make_rig()
    rig.driver.use_pages(POOL - 100)
    rig.target(500)
    check_balloon(rig)
    assert rig.device.actual == 100


def test_pages_reused_after_deflate_are_poisoned_first() -> None:
    rig = make_rig()
    rig.target(10)
    ballooned = sorted(rig.driver.balloon_pfns)
    rig.target(0)
    assert rig.driver.use_pages(10) == 10
    poison = poison_page(DriverPolicy().poison_val)
    for pfn in ballooned:
        assert rig.page(pfn) == page_pattern(pfn) + poison[16:]


def test_no_poison_without_the_feature() -> None:
    rig = make_rig(options=features_without(POISON))
    rig.target(10)
    pfns = sorted(rig.driver.balloon_pfns)
    rig.target(0)
    rig.driver.use_pages(10)
    assert rig.page(pfns[0]) == page_pattern(pfns[0]) + bytes(PAGE_SIZE - 16)
    assert not any(e["offset"] == b.POISON_VAL for e in rig.of(Kind.CONFIG_WRITTEN))


def test_actual_written_once_per_request_in_one_access(rig: Rig) -> None:
    rig.target(600)
    writes = [e for e in rig.of(Kind.CONFIG_WRITTEN) if e["offset"] == b.ACTUAL]
    assert [(e["size"], e["value"]) for e in writes] == [(4, 256), (4, 512), (4, 600)]


def test_unanswered_request_times_out() -> None:
    rig = make_rig(options=DeviceOptions(faults=frozenset({"refuse_deflate"})))
    rig.target(300)
    rig.device.set_target(0)
    with pytest.raises(DriverTimeout):
        rig.run()
    (event,) = rig.of(Kind.REQUEST_UNANSWERED)
    assert event["role"] == "deflateq" and event["waited"] >= 0.05


def test_device_needs_reset_is_reported() -> None:
    rig = make_rig()
    rig.device.model.set_needs_reset()
    with pytest.raises(DeviceNeedsReset):
        rig.run()
    rig.driver.init()
    rig.target(10)
    check_balloon(rig)


def test_remove_resets_and_reinit_restores(rig: Rig) -> None:
    rig.target(700)
    rig.driver.remove()
    assert rig.device.model.status == 0 and not rig.device.balloon_pages
    assert rig.driver.pool.count(PageState.IN_BALLOON) == 0
    rig.driver.init()
    rig.target(400)
    check_balloon(rig)


# -- out of memory --------------------------------------------------------------------------


def test_oom_deflates_with_deflate_on_oom() -> None:
    rig = make_rig()
    rig.target(1000)
    assert rig.driver.memory_pressure(300) == 300
    check_balloon(rig)
    assert rig.device.actual == 700
    rig.run()  # num_pages unchanged: the balloon stays below it
    assert rig.device.actual == 700
    rig.target(900)
    assert rig.device.actual == 900


def test_oom_never_touches_the_balloon_without_the_feature() -> None:
    rig = make_rig(options=features_without(OOM))
    rig.target(1000)
    assert rig.driver.memory_pressure(300) == 0
    assert rig.device.actual == 1000
    assert not rig.of(Kind.BALLOON_DEFLATE)


# -- statistics ------------------------------------------------------------------------------


def test_stats_round_trip(rig: Rig) -> None:
    first = rig.of(Kind.STATS_BUFFER)
    assert len(first) == 1 and first[0]["length"] == 100
    rounds = 2 if rig.legacy else 1  # a legacy device ignores the first buffer
    for _ in range(rounds):
        assert rig.device.request_stats()
        rig.run()
    assert rig.device.read_stats() == dict(typical_stats())
    buffers = rig.of(Kind.STATS_BUFFER)
    assert len(buffers) == rounds + 1
    assert not any(e["held_before"] for e in buffers)
    assert [t for t, _ in buffers[-1]["entries"]] == [0, 1, 2, 3, 8, 9, 4, 5, 6, 7]


def test_stats_come_from_the_policy() -> None:
    entries = [(5, 1 << 30), (4, 12345)]
    rig = make_rig(stats=lambda: entries)
    rig.device.request_stats()
    rig.run()
    assert rig.device.read_stats() == dict(entries)
    assert rig.driver.stats_sent == entries


# -- free page hinting ----------------------------------------------------------------------


def test_hinting_round(rig: Rig) -> None:
    rig.driver.use_pages(1000)
    cmd_id = rig.device.start_hinting()
    rig.run()
    hinted = rig.driver.pool.pfns(PageState.HINTED)
    assert len(hinted) == POOL - 1000
    assert rig.device.hinted_pages() == hinted
    commands = [e["cmd_id"] for e in rig.of(Kind.HINT_COMMAND)]
    assert commands == [cmd_id, b.CMD_ID_STOP]
    assert all(e["matches"] for e in rig.of(Kind.HINT_PAGES))
    rig.device.finish_hinting()
    rig.run()
    assert rig.driver.pool.count(PageState.HINTED) == 0
    assert rig.driver.pool.count(PageState.FREE) == POOL - 1000


def test_hinting_stops_when_the_device_says_stop() -> None:
    rig = make_rig(hint_batch=64)
    rig.device.start_hinting()
    rig.driver.handle_interrupts()
    assert rig.driver.pool.count(PageState.HINTED) == 64
    rig.device.stop_hinting()
    rig.run()
    stopped = next(e.seq for e in rig.of(Kind.HOST_ACTION) if e["action"] == "stop_hinting")
    assert not [e for e in rig.of(Kind.HINT_PAGES) if e.seq > stopped]
    assert rig.of(Kind.HINT_COMMAND)[-1]["cmd_id"] == b.CMD_ID_STOP
    assert rig.driver.pool.count(PageState.HINTED) == 64  # kept until DONE


def test_hinted_pages_are_written_before_reuse() -> None:
    rig = make_rig()
    rig.device.start_hinting()
    rig.run()
    accesses: list[tuple[int, str]] = []
    hinted = rig.driver.pool.pfns(PageState.HINTED)
    rig.machine.memory.watch(hinted, lambda pfn, access, actor: accesses.append((pfn, access)))
    assert rig.driver.use_pages(50) == 50  # no free page left: hinted ones, before DONE
    early = rig.of(Kind.HINT_RELEASED_EARLY)[0]["pfns"]
    assert len(early) == 50
    first = {}
    for pfn, access in accesses:
        first.setdefault(pfn, access)
    assert set(first) == set(early) and set(first.values()) == {"write"}


def test_new_round_rehints_pages_released_at_done() -> None:
    rig = make_rig()
    rig.device.start_hinting()
    rig.run()
    rig.device.finish_hinting()
    rig.run()
    rig.device.start_hinting()
    rig.run()
    assert len(rig.driver.pool.pfns(PageState.HINTED)) == POOL


# -- free page reporting --------------------------------------------------------------------


def test_reporting_large_ranges(rig: Rig) -> None:
    assert rig.driver.report_free_pages(1200) == 1200
    lengths = [n // PAGE_SIZE for _, n in rig.device.reported_ranges]
    assert lengths == [512, 512, 176]
    assert rig.driver.pool.count(PageState.FREE) == POOL
    poison = poison_page(DriverPolicy().poison_val)
    for addr, _ in rig.device.reported_ranges:
        assert rig.page(addr // PAGE_SIZE) == poison


def test_reporting_prefers_the_largest_free_runs() -> None:
    rig = make_rig(options=features_without(POISON))
    rig.driver.use_pages(POOL)
    rig.driver.free_pages(POOL)  # everything free again, one run
    rig.driver.use_pages(POOL - 300)
    rig.driver.free_pages(10)  # a 10-page run and a 300-page run are free
    assert rig.driver.report_free_pages(300) == 300
    assert [n // PAGE_SIZE for _, n in rig.device.reported_ranges] == [300]


def test_reported_pages_are_not_touched_until_acknowledged() -> None:
    rig = make_rig(options=features_without(POISON))
    accesses: list[int] = []
    rig.machine.memory.watch(
        range(LAYOUT.first_pfn, LAYOUT.first_pfn + POOL),
        lambda pfn, access, actor: accesses.append(pfn),
    )
    rig.driver.report_free_pages(600)
    assert accesses == []  # no poison to write, nothing to read


# -- the guest's view of early reuse and device data loss ----------------------------------


def test_early_deflate_reuse_detects_discarding_device() -> None:
    options = dataclasses.replace(
        features_without(TELL), faults=frozenset({"deflate_discards_pages"})
    )
    rig = make_rig(options=options, early_deflate_reuse=True)
    rig.target(300)
    rig.machine.hold_completions = True  # the reuse falls before the acknowledgement
    rig.target(0)
    lost = rig.of(Kind.GUEST_DATA_CORRUPTED)
    assert lost and {e["when"] for e in lost} == {"deflate-early-reuse"}


def test_early_deflate_reuse_keeps_data_on_a_clean_device() -> None:
    rig = make_rig(options=features_without(TELL), early_deflate_reuse=True)
    rig.target(300)
    rig.machine.hold_completions = True
    rig.target(0)
    check_balloon(rig)
    assert not rig.of(Kind.GUEST_DATA_CORRUPTED)
    assert rig.driver.pool.count(PageState.IN_USE) == 2  # first page of each request


def test_hinted_pages_released_while_in_flight_are_checked() -> None:
    rig = make_rig(
        options=DeviceOptions(faults=frozenset({"hint_discard_after_release"})), hint_batch=64
    )
    rig.driver.use_pages(POOL - 64)
    rig.machine.defer_notifications = True
    rig.device.start_hinting()
    rig.driver.handle_interrupts()  # command ID and 64 pages exposed, device not yet run
    assert rig.driver.use_pages(64) == 64  # hinted pages taken back before DONE
    rig.machine.poll()
    rig.run()
    assert {e["when"] for e in rig.of(Kind.GUEST_DATA_CORRUPTED)} == {"hint-early-release"}


# -- permissions the driver may use (policy) ------------------------------------------------


def test_overshoot_supplies_pages_beyond_num_pages() -> None:
    rig = make_rig(overshoot=64)
    rig.target(256)
    check_balloon(rig)
    assert rig.device.actual == 320
    rig.target(100)
    assert rig.device.actual == 164
    rig.target(0)
    assert rig.device.actual == 0


def test_actual_once_per_run_of_requests() -> None:
    rig = make_rig(actual_every_batch=False)
    rig.target(600)
    rig.target(100)
    writes = [e["value"] for e in rig.of(Kind.CONFIG_WRITTEN) if e["offset"] == b.ACTUAL]
    assert writes == [600, 100]
    check_balloon(rig)


def test_held_acknowledgements_are_waited_for(rig: Rig) -> None:
    rig.machine.hold_completions = True
    rig.target(700)
    rig.driver.report_free_pages(100)
    rig.target(50)
    check_balloon(rig)
    assert rig.device.actual == 50
