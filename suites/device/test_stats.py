"""Device under test: the memory statistics virtqueue."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="device")

UNKNOWN_IN_THE_MIDDLE = [(0, 11), (1, 12), (42, 99), (4, 14), (5, 15)]
SHUFFLED = [
    (5, 15),
    (0, 10),
    (7, 17),
    (2, 12),
    (4, 14),
    (1, 11),
    (9, 19),
    (3, 13),
    (8, 18),
    (6, 16),
]
SUBSET = [(4, 14), (5, 15)]


def _stats(entries):
    return {"stats": lambda: list(entries)}


@pytest.mark.clause("balloon.device.stats.01")
def test_ignores_unknown_tags(balloon):
    s.stats_rounds(balloon(driver=_stats(UNKNOWN_IN_THE_MIDDLE)))


@pytest.mark.clause("balloon.device.stats.02")
def test_accepts_entries_in_any_order(balloon):
    s.stats_rounds(balloon(driver=_stats(SHUFFLED)))


@pytest.mark.clause("balloon.driver.stats.06")
def test_tolerates_unordered_stats(balloon):
    s.stats_rounds(balloon(driver=_stats(SHUFFLED)))


@pytest.mark.clause("balloon.driver.stats.07")
def test_tolerates_a_subset_of_stats(balloon):
    s.stats_rounds(balloon(driver=_stats(SUBSET)))
