"""Device under test: what PCI lets a driver do (pci.driver MAY clauses) - re-enabling a
reset queue, new ring addresses, any-width legacy config reads."""

import pytest

from ballast.reference.balloon import ACTUAL, NUM_PAGES, Queue
from suites import scenarios as s


@pytest.mark.clause("pci.driver.common.08")
def test_takes_a_queue_back_after_its_reset(balloon):
    h = s.start(balloon())
    s.target(h, 32)
    h.driver.reset_queue(Queue.INFLATE)
    h.driver.restart_queue(Queue.INFLATE)
    s.target(h, 64)


@pytest.mark.clause("pci.driver.common.09")
def test_takes_a_reset_queue_back_at_new_addresses(balloon):
    h = s.start(balloon())
    s.target(h, 32)
    h.driver.reset_queue(Queue.INFLATE)
    h.driver.restart_queue(Queue.INFLATE, relocate=True)
    s.target(h, 64)


@pytest.mark.clause("pci.driver.legacy.02")
def test_legacy_config_reads_agree_at_any_width(balloon):
    h = s.start(balloon())
    s.target(h, 0x0201)
    for offset in (NUM_PAGES, ACTUAL):
        for width in (1, 2):
            s.read_config_in_pieces(h, offset, width)


@pytest.mark.clause("pci.driver.layout.02")
def test_takes_queue_address_halves_in_either_order(balloon):
    s.target(s.start(balloon(driver={"address_high_first": True})), 64)
