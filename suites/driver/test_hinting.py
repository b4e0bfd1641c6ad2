"""Driver under test: free page hinting."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


@pytest.mark.clause("balloon.driver.hinting.01")
def test_command_id_buffers_are_4_bytes(balloon):
    s.hint_round(balloon())


@pytest.mark.clause("balloon.driver.hinting.02")
def test_starts_hinting_with_the_command_id(balloon):
    s.hint_round(balloon())


@pytest.mark.clause("balloon.driver.hinting.03")
def test_sends_the_command_id_once(balloon):
    s.hint_round(balloon())


@pytest.mark.clause("balloon.driver.hinting.04")
def test_supplies_pages_for_a_live_command_id(balloon):
    s.hint_round(balloon(), finish=False)


@pytest.mark.clause("balloon.driver.hinting.05")
def test_stops_supplying_pages_at_stop(balloon):
    h = s.start(balloon(driver={"hint_batch": 64}))
    h.host.start_hinting()
    h.driver.handle_interrupts()
    h.host.stop_hinting()
    s.settle(h)


@pytest.mark.clause("balloon.driver.hinting.06")
def test_ends_a_round_with_stop(balloon):
    s.hint_round(balloon(), finish=False)


@pytest.mark.clause("balloon.driver.hinting.08", "balloon.device.hinting.04")
def test_treats_pages_released_at_done_as_uninitialized(balloon):
    h = balloon(device={"modify_hinted_pages": True})
    s.hint_round(h)
    s.use_all_free(h)


@pytest.mark.clause("balloon.driver.hinting.09")
def test_initializes_hinted_pages_reused_before_done(balloon):
    h = balloon()
    s.hint_round(h, finish=False)
    s.use_all_free(h)
    h.driver.use_pages(64)


@pytest.mark.clause("balloon.driver.hinting.10")
def test_releases_hinted_pages_at_done(balloon):
    h = balloon()
    s.hint_round(h)
    h.host.start_hinting()
    s.settle(h)
