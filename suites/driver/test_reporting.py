"""Driver under test: free page reporting."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


@pytest.mark.clause("balloon.driver.reporting.01", "balloon.device.reporting.01")
def test_treats_reported_pages_as_uninitialized(balloon):
    s.report(
        balloon(
            device={"modify_reported_pages": True},
            driver={"accept": s.accept_without("VIRTIO_BALLOON_F_PAGE_POISON")},
        )
    )


@pytest.mark.clause("balloon.driver.reporting.02")
def test_poisons_pages_before_reporting_them(balloon):
    s.report(balloon())


@pytest.mark.clause("balloon.driver.reporting.03")
def test_leaves_reported_pages_alone_until_the_ack(balloon):
    h = s.start(balloon())
    h.machine.hold_completions = True
    h.driver.report_free_pages(1024)
    s.settle(h)
    s.use_all_free(h)


@pytest.mark.clause("balloon.driver.reporting.05")
def test_reports_large_ranges(balloon):
    s.report(balloon())


@pytest.mark.clause("balloon.driver.reporting.06")
def test_leaves_reported_pages_alone_until_reused(balloon):
    s.report(balloon())
