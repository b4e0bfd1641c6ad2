"""Driver under test: the memory statistics virtqueue."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


@pytest.mark.clause("balloon.driver.stats.01")
def test_keeps_at_most_one_stats_buffer_available(balloon):
    s.stats_rounds(balloon())


@pytest.mark.clause("balloon.driver.stats.02")
def test_makes_a_stats_buffer_available_after_init(balloon):
    s.start(balloon())


@pytest.mark.clause("balloon.driver.stats.03")
def test_refills_the_stats_buffer_after_each_request(balloon):
    s.stats_rounds(balloon())


@pytest.mark.clause("balloon.driver.stats.04")
def test_initializes_every_stats_buffer(balloon):
    s.stats_rounds(balloon())


@pytest.mark.clause("balloon.driver.stats.05")
def test_stats_buffers_are_whole_entries(balloon):
    s.stats_rounds(balloon())


@pytest.mark.clause("balloon.driver.stats.08")
def test_sends_the_same_subset_every_time(balloon):
    s.stats_rounds(balloon(), rounds=4)
