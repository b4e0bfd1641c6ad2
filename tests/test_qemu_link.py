"""QEMU's virtio-balloon under the reference driver, through ``QemuLink`` directly (no
plugin): initialization on all five transports, inflate/deflate checked against QMP,
the stats round trip, free page hinting through a stalled migration, feature mapping,
crash and hang handling, and the monitors' findings on QEMU 7.2."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ballast.errors import NotObservable, NotSupported, PeerCrashed, PeerTimeout, UsageError
from ballast.link import TRANSPORTS, LinkConfig
from ballast.matrix import load_feature_sets
from ballast.monitors.events import Kind
from ballast.reference import balloon as b
from ballast.reference.allocator import PageState
from ballast.reference.balloon import Numbering
from ballast.reference.device import DEFAULT_FEATURES, DeviceOptions
from ballast.reference.driver import DriverPolicy, QueueAbsent
from ballast.reference.guestmem import page_pattern
from ballast.spec.catalogue import load_catalogue
from ballast.targets.qemu.link import QemuLink
from ballast.targets.qemu.properties import PROPERTY_OF, QemuProperties
from ballast.targets.qemu.settings import QemuSettings, settings_from_options
from ballast.targets.qemu.target import QemuTarget
from ballast.timeouts import TIMEOUT_FACTOR_ENV, scaled
from ballast.virtio.features import Feature, has, mask
from ballast.virtio.memory import PAGE_SIZE
from tests.fakes.qemu_guard import qemu_children, requires_qemu

pytestmark = requires_qemu

ALL = tuple(TRANSPORTS)
RAM = 64 << 20
FAULT = str(Path(__file__).parent / "fakes" / "qemu_fault.py")
QEMU_FIRST_CMD_ID = 0x80000001
"""QEMU counts hint command IDs from 0x80000000 and increments before each round."""
STATS_ROUND_TRIP_MAX = 0.5
"""Seconds (before scaling) for request_stats + refill + read_stats; measured 3-15 ms."""

Open = Callable[..., QemuLink]


@pytest.fixture(autouse=True, scope="module")
def _no_qemu_left() -> Iterator[None]:
    yield
    assert qemu_children() == []


@pytest.fixture
def open_link() -> Iterator[Open]:
    """``open_link(transport, device={...}, driver={...}, settings=...)``; closes them."""
    opened: list[QemuLink] = []

    def _open(
        transport: str = "pci-modern",
        device: dict[str, Any] | None = None,
        driver: dict[str, Any] | None = None,
        settings: QemuSettings | None = None,
    ) -> QemuLink:
        config = LinkConfig(
            transport=transport,
            memory_size=RAM,
            device=dataclasses.replace(DeviceOptions(), **(device or {})),
            driver=dataclasses.replace(DriverPolicy(), **(driver or {})),
        )
        link = QemuLink(config, settings=settings)
        opened.append(link)
        return link

    yield _open
    for link in opened:
        link.close()


def _bad(link: QemuLink) -> dict[str, str]:
    """FAIL and WARN findings (clause -> verdict); finishes the monitors, so call once."""
    return {f.clause: str(f.verdict) for f in link.findings() if f.verdict in ("FAIL", "WARN")}


# -- initialization and the balloon itself ------------------------------------------------


@pytest.mark.parametrize("transport", ALL)
def test_init_on_every_transport(open_link: Open, transport: str) -> None:
    link = open_link(transport)
    link.driver.init()
    legacy = TRANSPORTS[transport].legacy
    assert link.driver.live
    assert link.transport.legacy is legacy
    assert has(link.driver.negotiated, Feature.VIRTIO_F_VERSION_1) is not legacy
    (negotiated,) = link.events.of(Kind.DRIVER_NEGOTIATED)
    assert negotiated["legacy"] is legacy
    status = link.process.qmp.command("x-query-virtio-status", path=link.device.virtio_path)
    assert any("DRIVER_OK" in s for s in status["status"]["statuses"])
    assert link.process.stderr_text() == ""


@pytest.mark.parametrize("transport", ALL)
def test_inflate_and_deflate_agree_with_query_balloon(open_link: Open, transport: str) -> None:
    link = open_link(transport)
    first = link.config.driver.memory_layout.first_pfn
    link.machine.mem_write(first * PAGE_SIZE, page_pattern(first))  # a page the guest used
    link.driver.init()
    link.device.set_target(600)
    link.driver.run_until_idle()
    assert link.device.read_actual() == 600 == len(link.driver.balloon_pfns)
    assert link.process.qmp.query_balloon() == RAM - 600 * PAGE_SIZE
    assert first in link.driver.balloon_pfns
    assert link.ram.read(first * PAGE_SIZE, PAGE_SIZE) == bytes(PAGE_SIZE)  # QEMU discarded it
    link.device.set_target(100)
    link.driver.run_until_idle()  # rings and PFN arrays survived: they are not in the pool
    assert link.device.read_actual() == 100 == len(link.driver.balloon_pfns)
    assert link.process.qmp.query_balloon() == RAM - 100 * PAGE_SIZE


def test_a_device_reset_leaves_state_behind(open_link: Open) -> None:
    """Why every test gets a fresh QEMU rather than a reset pooled one."""
    link = open_link()
    link.driver.init()
    link.device.set_target(600)
    link.driver.run_until_idle()
    link.device.start_hinting()
    link.device.finish_hinting()
    link.driver.remove()  # device reset: the driver holds no balloon pages any more
    link.driver.init()
    num_pages = [e["value"] for e in link.events.of(Kind.CONFIG_SEEN) if e["field"] == "num_pages"]
    assert num_pages[-1] == 600  # the old target, with no host action since the reset
    assert link.device.read_actual() == 600  # and the old actual
    assert link.device.start_hinting() == QEMU_FIRST_CMD_ID + 1  # IDs keep counting


def test_num_pages_must_leave_the_guest_some_ram(open_link: Open) -> None:
    link = open_link()
    with pytest.raises(NotSupported, match="below the guest's 16384 pages"):
        link.device.set_target(RAM // PAGE_SIZE)
    assert link.events.of(Kind.HOST_ACTION) == []


# -- statistics ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ALL)
def test_stats_round_trip_in_milliseconds(open_link: Open, transport: str) -> None:
    link = open_link(transport)
    link.driver.init()
    for _ in range(2):
        began = time.perf_counter()
        assert link.device.request_stats() is True
        link.driver.run_until_idle()
        stats = link.device.read_stats()
        assert time.perf_counter() - began < scaled(STATS_ROUND_TRIP_MAX)
        assert stats == dict(link.driver.stats_sent)
    polling = link.process.qmp.qom_get(
        "/machine/peripheral/balloon0", "guest-stats-polling-interval"
    )
    assert polling == 0  # QEMU must not return buffers unasked afterwards


def test_a_stats_buffer_never_returned_is_a_timeout(
    open_link: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TIMEOUT_FACTOR_ENV, "0.1")
    link = open_link(settings=QemuSettings(extra_args=("-S",)))  # frozen virtual clock
    link.driver.init()
    with pytest.raises(PeerTimeout, match=r"held the stats buffer for 0\.2 s"):
        link.device.request_stats()
    with pytest.raises(PeerTimeout):  # the link is done for
        link.device.read_stats()
    assert "qtest-history" in link.artifacts


def test_no_stats_buffer_is_held_before_the_driver_starts(open_link: Open) -> None:
    link = open_link()
    assert link.device.request_stats() is False
    assert link.device.read_stats() == {}


def test_unknown_and_unordered_tags_are_taken(open_link: Open) -> None:
    entries = [(7, 11), (15, 99), (0, 5), (12, 1), (4, 8192)]
    link = open_link(driver={"stats": lambda: entries})
    link.driver.init()
    assert link.device.read_stats() == {7: 11, 0: 5, 4: 8192}
    assert _bad(link) == {}


# -- free page hinting --------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["pci-modern", "mmio-v1"])
def test_hint_rounds_through_a_stalled_migration(open_link: Open, transport: str) -> None:
    link = open_link(transport)
    link.driver.init()
    for round_ in range(2):
        cmd_id = link.device.start_hinting()
        assert cmd_id == QEMU_FIRST_CMD_ID + round_  # never reused
        link.driver.run_until_idle()
        assert link.driver.pool.count(PageState.HINTED) > 0
        link.device.finish_hinting()
        link.driver.run_until_idle()
        seen = [
            e["value"]
            for e in link.events.of(Kind.CONFIG_SEEN)
            if e["field"] == "free_page_hint_cmd_id"
        ]
        assert seen[-2:] == [cmd_id, b.CMD_ID_DONE]
        assert link.driver.pool.count(PageState.HINTED) == 0
    assert link.process.qmp.command("query-status")["status"] == "running"
    with pytest.raises(NotObservable, match="only during migration"):
        link.device.stop_hinting()
    with pytest.raises(NotObservable, match="only during migration"):
        link.device.hinted_pages()
    assert _bad(link) == OFFER_FINDINGS.get(transport, {})


def test_a_new_round_while_one_is_in_flight_gets_a_new_id(open_link: Open) -> None:
    link = open_link(driver={"hint_batch": 64})
    link.driver.init()
    link.machine.defer_notifications = True
    first = link.device.start_hinting()
    link.driver.handle_interrupts()  # the command ID and some pages: held back from QEMU
    assert link.machine.pending_notifications > 0
    second = link.device.start_hinting()
    assert second == first + 1
    link.machine.defer_notifications = False
    for _ in range(100):  # settle: the stale buffers reach QEMU first
        link.driver.run_until_idle()
        link.machine.poll(0)
        if not link.driver.handle_interrupts():
            break
    link.device.finish_hinting()
    link.driver.run_until_idle()
    findings = {f.clause: str(f.verdict) for f in link.findings()}
    assert findings["balloon.device.hinting.02"] == "PASS"
    # stale pages left alone, as every hinted page is: QEMU uses hints invisibly (it only
    # skips them in migration), so ignoring stale ones cannot be shown (findings doc)
    assert findings["balloon.device.hinting.03"] == "NOT_OBSERVABLE"


def test_hinting_needs_a_driver_that_negotiated_it(open_link: Open) -> None:
    link = open_link(
        driver={"accept": DriverPolicy().accept & ~mask(Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT)}
    )
    link.driver.init()
    with pytest.raises(NotObservable, match="negotiated FREE_PAGE_HINT"):
        link.device.start_hinting()
    assert link.process.qmp.command("query-migrate")["status"] == "cancelled"
    with pytest.raises(NotObservable, match="call start_hinting first"):
        link.device.finish_hinting()


# -- configuration ------------------------------------------------------------------------


def test_properties_follow_the_feature_bits() -> None:
    assert {name.replace("-", "_") for name in PROPERTY_OF.values()} == {
        field.name for field in dataclasses.fields(QemuProperties)
    }
    everything = QemuProperties.from_features(DEFAULT_FEATURES)
    assert all(dataclasses.astuple(everything))
    assert "iothread=ballast-hint-io" in everything.device_options()
    bare = QemuProperties.from_features(mask(Feature.VIRTIO_BALLOON_F_STATS_VQ))
    assert not any(dataclasses.astuple(bare)) and bare.extra_args() == []
    with pytest.raises(NotSupported, match="always offers VIRTIO_BALLOON_F_STATS_VQ"):
        QemuProperties.from_features(DEFAULT_FEATURES & ~mask(Feature.VIRTIO_BALLOON_F_STATS_VQ))


def test_qemu_offers_what_the_options_ask_for(open_link: Open) -> None:
    dropped = mask(
        Feature.VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
        Feature.VIRTIO_F_EVENT_IDX,
        Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT,
        Feature.VIRTIO_F_RING_RESET,
    )
    link = open_link(
        device={"features": DEFAULT_FEATURES & ~dropped},
        driver={"numbering": Numbering.DENSE_OFFERED},
    )
    link.driver.init()
    (seen,) = link.events.of(Kind.DEVICE_FEATURES_SEEN)
    balloon_bits = DEFAULT_FEATURES & ~dropped & ~mask(Feature.VIRTIO_BALLOON_F_MUST_TELL_HOST)
    assert seen["value"] & DEFAULT_FEATURES == balloon_bits  # MUST_TELL_HOST: never offered
    assert "free-page-hint=off" in link.process.command_line


@pytest.mark.parametrize("numbering", list(Numbering))
def test_qemu_numbers_queues_densely(open_link: Open, numbering: Numbering) -> None:
    """Without free page hinting QEMU puts reporting_vq at index 3, where the chapter's
    fixed numbering expects 4 (interpretation ``queue-numbering``)."""
    without_hint = DEFAULT_FEATURES & ~mask(Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT)
    link = open_link(device={"features": without_hint}, driver={"numbering": numbering})
    if numbering is Numbering.FIXED:
        with pytest.raises(QueueAbsent, match=r"reporting_vq \(queue 4\) does not exist"):
            link.driver.init()
        return
    link.driver.init()
    assert link.driver.report_free_pages(1000) == 1000
    sizes = {e["role"]: (e["index"], e["max_size"]) for e in link.events.of(Kind.QUEUE_SIZE_SEEN)}
    assert sizes["reporting_vq"] == (3, 32)


def test_big_endian_guests_are_not_supported() -> None:
    with pytest.raises(NotSupported, match="little-endian"):
        QemuLink(LinkConfig(transport="pci-legacy", big_endian=True))
    assert qemu_children() == []


def test_extra_arguments_reach_the_command_line(open_link: Open) -> None:
    link = open_link(settings=QemuSettings(extra_args=("-name", "ballast-extra")))
    assert link.process.argv[-2:] == ["-name", "ballast-extra"]
    assert link.process.qmp.command("query-name")["name"] == "ballast-extra"


# -- crash and hang -------------------------------------------------------------------------


def _drive(link: QemuLink) -> None:
    link.driver.init()
    for pages in range(600, 700):
        link.device.set_target(pages)
        link.driver.run_until_idle()
        link.device.read_actual()


@pytest.mark.parametrize("trigger", ["commands=300", "delay=0.3"])
def test_qemu_killed_mid_test_is_a_crash_with_its_stderr(
    open_link: Open, monkeypatch: pytest.MonkeyPatch, trigger: str
) -> None:
    monkeypatch.setenv("BALLAST_FAULT", f"kill:{trigger}")
    link = open_link(settings=QemuSettings(binary=FAULT))
    with pytest.raises(PeerCrashed) as info:
        _drive(link)
    assert "QEMU was killed by SIGKILL" in str(info.value)
    assert "qemu_fault: sending SIGKILL" in str(info.value)
    assert link.artifacts["qemu-exit"] == "was killed by SIGKILL"
    assert "qemu_fault: sending SIGKILL" in link.artifacts["qemu-stderr"]
    assert link.artifacts["qtest-history"].count("\n") > 10
    with pytest.raises(PeerCrashed):  # and so is everything after it, at once
        link.device.read_actual()
    link.findings()  # the monitors still finish: guest RAM outlives QEMU
    link.close()
    assert qemu_children() == []


def test_qemu_stopped_mid_test_is_a_timeout(
    open_link: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLAST_FAULT", "stop:commands=300")
    monkeypatch.setenv(TIMEOUT_FACTOR_ENV, "0.1")  # qtest waits 0.5 s instead of 5 s
    link = open_link(settings=QemuSettings(binary=FAULT))
    with pytest.raises(PeerTimeout) as info:
        _drive(link)
    assert str(info.value).startswith("QEMU stopped (SIGSTOP): qtest: no reply to")
    began = time.monotonic()
    with pytest.raises(PeerTimeout):
        link.machine.mem_read(0, 4)
    assert time.monotonic() - began < 0.05  # no second timeout
    link.findings()
    began = time.monotonic()
    link.close()
    assert time.monotonic() - began < 1.0  # a stopped QEMU is killed, not asked to quit
    assert link.artifacts["qemu-exit"] == "was killed by SIGKILL"
    assert qemu_children() == []


# -- findings on QEMU 7.2 (docs/findings-qemu-7.2.md) --------------------------------------

OFFER_FINDINGS = {"mmio-v1": {"core.device.legacy.08": "FAIL"}}
"""What every QEMU 7.2 link on a transport shows, whatever it does: its feature offer."""
QEMU_7_2_FINDINGS = {
    "pci-legacy": {"balloon.device.legacy.06": "WARN"},
    "mmio-v1": {"balloon.device.legacy.06": "WARN", **OFFER_FINDINGS["mmio-v1"]},
}
"""What the device monitors hold against QEMU 7.2 in ``_exercise``; see the findings doc."""


def _exercise(link: QemuLink) -> None:
    """Every host action and driver path the device monitors judge: init (the first stats
    buffer), inflate and deflate, stats rounds, deflate on OOM, reports, a driver reset and
    re-init, and a hint round."""
    link.driver.init()
    link.device.read_stats()
    link.device.set_target(2000)
    link.driver.run_until_idle()
    link.device.read_actual()
    for _ in range(2):
        link.device.request_stats()
        link.driver.run_until_idle()
        link.device.read_stats()
    link.driver.memory_pressure(256)
    link.device.set_target(300)
    link.driver.run_until_idle()
    link.device.read_actual()
    link.driver.report_free_pages(2048)
    link.driver.remove()
    link.driver.init()
    link.driver.run_until_idle()
    link.device.read_actual()
    link.device.start_hinting()
    link.driver.run_until_idle()
    link.device.finish_hinting()
    link.driver.run_until_idle()


@pytest.mark.parametrize("transport", ALL)
def test_findings_on_qemu_7_2(open_link: Open, transport: str) -> None:
    link = open_link(transport)
    _exercise(link)
    findings = link.findings()
    bad = {f.clause: str(f.verdict) for f in findings if f.verdict in ("FAIL", "WARN")}
    assert bad == QEMU_7_2_FINDINGS.get(transport, {})
    passed = {f.clause for f in findings if f.verdict == "PASS"}
    assert {"balloon.device.hinting.02", "balloon.device.hinting.06"} <= passed
    assert {"balloon.device.stats.02", "core.device.reset.01"} <= passed
    assert link.process.stderr_text() == ""


def test_guest_reuse_after_done_is_not_the_devices_doing(open_link: Open) -> None:
    link = open_link()
    link.driver.init()
    link.device.start_hinting()
    link.driver.run_until_idle()
    link.device.finish_hinting()
    link.driver.run_until_idle()
    link.driver.use_pages(5000)  # the guest may use released hinted pages as it likes
    link.driver.remove()
    link.driver.init()
    assert _bad(link) == {}


# -- the target and its settings -------------------------------------------------------------


def test_target_describes_what_it_ran() -> None:
    target = QemuTarget()
    target.configure(QemuSettings(), load_feature_sets().matrix("qemu-ci").cells)
    assert target.prerequisites() is None and target.variants("device") == {}
    link = target.open_link("device", LinkConfig(transport="mmio-v1"), load_catalogue())
    try:
        described = target.describe("device", None)
    finally:
        link.close()
    assert described["command_line"] == link.process.command_line
    assert described["version"].startswith(tuple("0123456789"))
    template = described["command_lines"]["mmio-v1@qemu-default"]
    assert "virtio-mmio.force-legacy=true" in template and "<workdir>/qtest.sock" in template
    hinting = described["command_lines"]["pci-modern@free-page-hint"]  # one line per cell
    assert (
        "free-page-hint=on" in hinting
        and "mmio-v1@free-page-hint" not in described["command_lines"]
    )
    with pytest.raises(UsageError, match="device only"):
        target.open_link("driver", LinkConfig(), load_catalogue())


def test_missing_binary_is_a_prerequisite_not_a_crash() -> None:
    target = QemuTarget()
    target.configure(QemuSettings(binary="/nonexistent/qemu-system-x86_64"))
    assert "not found or not executable" in (target.prerequisites() or "")


def test_settings_from_options() -> None:
    options = SimpleNamespace(
        ballast_qemu_binary=None,
        ballast_qemu_args=["-trace 'virtio_balloon_*'", "-name x"],
        ballast_qemu_pci_machine="pc-q35-7.2,smm=off",
        ballast_qemu_mmio_machine="microvm",
    )
    settings = settings_from_options(options)
    assert settings.extra_args == ("-trace", "virtio_balloon_*", "-name", "x")
    with pytest.raises(UsageError, match="interrupt routing"):
        settings_from_options(
            SimpleNamespace(**{**vars(options), "ballast_qemu_pci_machine": "pc"})
        )
