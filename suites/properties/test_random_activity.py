"""Random balloon activity (targets, memory demand, out-of-memory, statistics, hinting
rounds, reports, device resets) on one link, with every monitor watching: no clause may be
violated at any step, and the device's host interface, the driver and guest memory must
agree after every step.  Derandomized in CI and certification runs (see the plugin)."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from ballast.errors import ClauseViolated
from ballast.harness import Harness
from ballast.monitors.verdicts import Verdict
from ballast.reference.allocator import PageState
from ballast.virtio.features import Feature
from suites import scenarios as s

OPTIONAL = (
    "VIRTIO_BALLOON_F_MUST_TELL_HOST",
    "VIRTIO_BALLOON_F_DEFLATE_ON_OOM",
    "VIRTIO_BALLOON_F_FREE_PAGE_HINT",
    "VIRTIO_BALLOON_F_PAGE_POISON",
    "VIRTIO_BALLOON_F_PAGE_REPORTING",
    "VIRTIO_F_EVENT_IDX",
    "VIRTIO_F_INDIRECT_DESC",
)
HINT = Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT
REPORTING = Feature.VIRTIO_BALLOON_F_PAGE_REPORTING

ALL_TRANSPORTS = ["pci-modern", "pci-transitional", "mmio-v2", "pci-legacy", "mmio-v1"]


def machine_for(make, subject: str):
    class BalloonActivity(RuleBasedStateMachine):
        """One link on a random feature set, chosen by the reference side: the features the
        reference device offers a driver under test, or those the reference driver accepts
        from a device under test (which stays as its target configured it)."""

        h: Harness

        @initialize(dropped=st.sets(st.sampled_from(OPTIONAL)))
        def build(self, dropped: set[str]) -> None:
            if subject == "device":
                # a driver MUST accept MUST_TELL_HOST when offered (balloon.driver.features.01)
                keep = dropped - {"VIRTIO_BALLOON_F_MUST_TELL_HOST"}
                self.h = make(driver={"accept": s.accept_without(*keep)})
            else:
                self.h = make(device={"features": s.offer_without(*dropped)})
            s.start(self.h)

        def offers(self, feature: Feature) -> bool:
            return bool(self.h.driver.negotiated >> feature & 1)

        @rule(pages=st.integers(0, 1500))
        def set_target(self, pages: int) -> None:
            # never more than the guest can give: the driver SHOULD inflate to num_pages,
            # which it cannot do out of memory it does not have
            pool = self.h.driver.pool
            s.target(
                self.h, min(pages, pool.count(PageState.FREE) + pool.count(PageState.IN_BALLOON))
            )

        @rule(pages=st.integers(1, 600))
        def memory_pressure(self, pages: int) -> None:
            self.h.driver.memory_pressure(pages)
            s.settle(self.h)

        @rule(pages=st.integers(1, 800))
        def applications_use_memory(self, pages: int) -> None:
            self.h.driver.use_pages(pages)

        @rule(pages=st.integers(1, 800))
        def applications_free_memory(self, pages: int) -> None:
            self.h.driver.free_pages(pages)

        @rule()
        def stats_request(self) -> None:
            self.h.host.request_stats()
            s.settle(self.h)

        @rule(finish=st.booleans())
        def hint_round(self, finish: bool) -> None:
            if not self.offers(HINT):
                return
            self.h.host.start_hinting()
            s.settle(self.h)
            (self.h.host.finish_hinting if finish else self.h.host.stop_hinting)()
            s.settle(self.h)

        @rule(pages=st.integers(1, 2048))
        def report(self, pages: int) -> None:
            if not self.offers(REPORTING):
                return
            self.h.driver.report_free_pages(pages)
            s.settle(self.h)

        @rule()
        def reset_and_reinitialize(self) -> None:
            self.h.driver.remove()
            s.start(self.h)

        @invariant()
        def no_clause_violated(self) -> None:
            # only the side under test: what the reference peer does in reply is not judged
            bad = [v for m in self.h.link.monitors if m.judges == subject for v in m.violations()]
            if bad:
                raise ClauseViolated(
                    [clause for clause, _ in bad], "; ".join(f"{c}: {m}" for c, m in bad[:3])
                )

        @invariant()
        def both_sides_agree_on_the_balloon(self) -> None:
            assert self.h.host.balloon_pages == self.h.driver.pool.pfns(PageState.IN_BALLOON)

        def teardown(self) -> None:
            bad = [
                f
                for f in self.h.findings()
                if f.verdict in (Verdict.FAIL, Verdict.WARN) and f.judged == subject
            ]
            if bad:
                raise ClauseViolated(
                    [f.clause for f in bad], "; ".join(f"{f.clause}: {f.message}" for f in bad[:3])
                )

    return BalloonActivity


def _run(balloon, subject: str, budget: dict) -> None:
    # a target that cannot show which pages its device holds cannot have the invariant
    # checked: NOT_OBSERVABLE at once, rather than after hypothesis has shrunk the failure
    _ = balloon().host.balloon_pages
    run_state_machine_as_test(
        machine_for(balloon, subject),
        settings=settings(
            **budget,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# Tagged with the clause every initialization exercises; the state machine itself fails on
# any violation of any clause.
@pytest.mark.clause("core.driver.init.01")
@pytest.mark.requires(subject="driver", transport=ALL_TRANSPORTS)
def test_random_activity_driver_under_test(balloon, property_budget):
    _run(balloon, "driver", property_budget)


@pytest.mark.clause("core.device.reset.01")
@pytest.mark.requires(subject="device", transport=ALL_TRANSPORTS)
def test_random_activity_device_under_test(balloon, property_budget):
    _run(balloon, "device", property_budget)
