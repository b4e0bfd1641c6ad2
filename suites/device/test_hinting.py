"""Device under test: free page hinting."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="device")


@pytest.mark.clause("balloon.device.hinting.01")
def test_sets_stop_when_it_cannot_use_hints(balloon):
    h = s.start(balloon(driver={"hint_batch": 64}))
    h.host.start_hinting()
    h.driver.handle_interrupts()
    h.host.stop_hinting()
    s.settle(h)


@pytest.mark.clause("balloon.device.hinting.02")
def test_never_reuses_a_command_id_before_stop(balloon):
    h = s.start(balloon(driver={"hint_batch": 64}))
    h.machine.defer_notifications = True
    h.host.start_hinting()
    h.driver.handle_interrupts()
    h.host.start_hinting()
    s.settle(h)


@pytest.mark.clause("balloon.device.hinting.03")
def test_ignores_pages_hinted_under_a_stale_command_id(balloon):
    # A device is seen to use a hint only by changing the page: the reference device does
    # when allowed to (a MAY); a device that uses hints invisibly is NOT_OBSERVABLE here.
    h = s.start(balloon(device={"modify_hinted_pages": True}, driver={"hint_batch": 64}))
    h.machine.defer_notifications = True
    h.host.start_hinting()
    h.driver.handle_interrupts()
    h.host.start_hinting()
    s.settle(h)


@pytest.mark.clause("balloon.device.hinting.05")
def test_leaves_hinted_pages_alone_after_done(balloon):
    s.hint_round(balloon())


@pytest.mark.clause("balloon.device.hinting.06")
def test_reports_done(balloon):
    s.hint_round(balloon())


@pytest.mark.clause("balloon.driver.hinting.07")
def test_tolerates_hinted_pages_released_before_use(balloon):
    h = s.start(balloon(driver={"hint_batch": 64}))
    h.machine.hold_completions = True
    h.host.start_hinting()
    h.driver.handle_interrupts()
    s.use_all_free(h)
    h.driver.use_pages(64)
    s.settle(h)
