"""Random sequences of host and guest actions against reference driver and device: targets,
memory demand, out-of-memory, statistics, hinting rounds, reports and device resets, on a
random transport, queue numbering and feature set.  After every step the balloon, the
device's host interface and guest memory must agree."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ballast.reference.allocator import PageState
from ballast.reference.balloon import Numbering
from ballast.reference.device import DEFAULT_FEATURES, DeviceOptions
from ballast.reference.driver import typical_stats
from ballast.reference.guestmem import PATTERN_SIZE, page_pattern
from tests.test_reference_driver import (
    HINT,
    LAYOUT,
    LINKS,
    OOM,
    POISON,
    POOL,
    REPORTING,
    STATS,
    TELL,
    Rig,
    make_rig,
)

OPTIONAL = (TELL, STATS, OOM, HINT, POISON, REPORTING)


class BalloonLink(RuleBasedStateMachine):
    rig: Rig

    @initialize(
        link=st.sampled_from(LINKS),
        numbering=st.sampled_from(list(Numbering)),
        dropped=st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=3),
        batch=st.sampled_from([1, 7, 256]),
        overshoot=st.sampled_from([0, 5]),
        actual_every_batch=st.booleans(),
    )
    def build(
        self,
        link: tuple[str, bool],
        numbering: Numbering,
        dropped: list[int],
        batch: int,
        overshoot: int,
        actual_every_batch: bool,
    ) -> None:
        features = DEFAULT_FEATURES & ~sum(dropped)
        options = DeviceOptions(features=features, numbering=numbering)
        self.rig = make_rig(
            *link,
            options=options,
            numbering=numbering,
            batch=batch,
            hint_batch=512,
            overshoot=overshoot,
            actual_every_batch=actual_every_batch,
        )
        self.overshoot = overshoot
        self.stats_requests = 0
        self.oom_hold: int | None = None
        self.target = 0
        self.accessed: list[int] = []
        pool = range(LAYOUT.first_pfn, LAYOUT.first_pfn + POOL)
        self.rig.machine.memory.watch(pool, self._record)

    def _record(self, pfn: int, access: str, actor: str) -> None:
        if actor == "guest":
            self.accessed.append(pfn)

    def _has(self, feature: int) -> bool:
        return bool(self.rig.driver.negotiated & feature)

    def _step(self, action: object) -> None:
        """Run one action and let the driver settle; guest accesses meanwhile must avoid
        pages that stayed in the balloon throughout."""
        before = self.rig.device.balloon_pages
        self.accessed.clear()
        action()  # type: ignore[operator]
        self.rig.run()
        stayed = before & self.rig.device.balloon_pages
        assert not stayed.intersection(self.accessed)

    # -- host -------------------------------------------------------------------------

    @rule(pages=st.integers(0, POOL))
    def set_target(self, pages: int) -> None:
        self.target = pages
        self.oom_hold = None
        self._step(lambda: self.rig.device.set_target(pages))

    @precondition(lambda self: self._has(STATS))
    @rule()
    def request_stats(self) -> None:
        self._step(self.rig.device.request_stats)
        self.stats_requests += 1
        if self.stats_requests > self.rig.legacy:  # legacy: the first buffer is ignored
            assert self.rig.device.read_stats() == dict(typical_stats())

    @precondition(lambda self: self._has(HINT))
    @rule(action=st.sampled_from(["start_hinting", "stop_hinting", "finish_hinting"]))
    def hinting(self, action: str) -> None:
        self._step(getattr(self.rig.device, action))
        if action == "finish_hinting":
            assert self.rig.driver.pool.count(PageState.HINTED) == 0

    # -- guest ------------------------------------------------------------------------

    @rule(n=st.integers(0, POOL))
    def use(self, n: int) -> None:
        self._step(lambda: self.rig.driver.use_pages(n))

    @rule(n=st.integers(0, POOL))
    def free(self, n: int) -> None:
        self._step(lambda: self.rig.driver.free_pages(n))

    @rule(n=st.integers(1, 500))
    def out_of_memory(self, n: int) -> None:
        held = self.rig.device.actual
        self._step(lambda: self.rig.driver.memory_pressure(n))
        if self._has(OOM):
            assert self.rig.device.actual == max(held - n, 0)
            self.oom_hold = self.rig.device.actual
        else:
            assert self.rig.device.actual == held

    @precondition(lambda self: self._has(REPORTING))
    @rule(n=st.integers(1, POOL))
    def report(self, n: int) -> None:
        free = self.rig.driver.pool.count(PageState.FREE)
        reported = len(self.rig.device.reported_ranges)
        self._step(lambda: self.rig.driver.report_free_pages(n))
        assert self.rig.driver.pool.count(PageState.FREE) == free
        assert len(self.rig.device.reported_ranges) >= reported + (min(n, free) > 0)

    @rule()
    def reset_and_reinit(self) -> None:
        self.rig.driver.remove()
        assert self.rig.device.model.status == 0 and not self.rig.device.balloon_pages
        self.rig.driver.init()
        self.rig.run()
        self.stats_requests = 0
        self.oom_hold = None
        self.target = 0

    # -- what must always hold --------------------------------------------------------

    @invariant()
    def balloon_agrees(self) -> None:
        rig = self.rig
        assert rig.device.balloon_pages == rig.driver.balloon_pfns
        assert rig.device.actual == len(rig.device.balloon_pages)

    @invariant()
    def balloon_follows_target(self) -> None:
        size = self.rig.device.actual
        free = self.rig.driver.pool.count(PageState.FREE)
        wanted = self.target + self.overshoot if self.target else 0
        if size < wanted:
            assert self.oom_hold == size or free == 0
        else:
            assert size == wanted

    @invariant()
    def used_pages_keep_their_data(self) -> None:
        memory = self.rig.machine.memory
        for run in self.rig.driver.pool.runs(PageState.IN_USE):
            for pfn in run:
                assert memory.read(pfn << 12, PATTERN_SIZE, actor="backdoor") == page_pattern(pfn)

    @invariant()
    def hinted_pages_are_known_to_the_device(self) -> None:
        hinted = self.rig.driver.pool.pfns(PageState.HINTED)
        assert hinted <= self.rig.device.hinted_pages()
        assert self._has(HINT) or not hinted


BalloonLink.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBalloonLink = BalloonLink.TestCase
