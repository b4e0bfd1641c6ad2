"""Device under test: free page reporting."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="device")


@pytest.mark.clause("balloon.device.reporting.02")
def test_writes_nothing_but_poison_val_into_reported_pages(balloon):
    s.report(balloon(device={"poison_reported_pages": True}))


@pytest.mark.clause("balloon.driver.reporting.04")
def test_takes_reports_any_time_after_driver_ok(balloon):
    s.report(balloon())
