"""Driver under test: the balloon chapter's "Legacy Interface" rules."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


@pytest.mark.clause("balloon.driver.legacy.01")
def test_reads_config_little_endian(balloon):
    h = s.start(balloon())
    s.target(h, 256)


@pytest.mark.clause("balloon.driver.legacy.02")
def test_ignores_used_lengths(balloon):
    h = s.start(balloon(device={"report_descriptor_length": True}))
    s.target(h, 512)


@pytest.mark.clause("balloon.driver.legacy.03")
def test_writes_actual_in_one_access(balloon):
    h = s.start(balloon())
    s.target(h, 256)


@pytest.mark.clause("balloon.driver.legacy.04")
def test_stats_in_guest_byte_order(balloon):
    s.stats_rounds(balloon())


@pytest.mark.clause("balloon.driver.legacy.05")
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_FREE_PAGE_HINT"])
def test_command_id_in_guest_byte_order(balloon):
    s.hint_round(balloon())
