"""Driver under test: the split virtqueue layout and the descriptor chains it exposes."""

import pytest

from ballast.harness import Harness
from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


def report_fragmented(h: Harness) -> None:
    """Report free memory the balloon has cut into pieces, so that requests carry several
    ranges (a multi-element buffer: an indirect table when VIRTIO_F_INDIRECT_DESC is on)."""
    s.start(h)
    s.target(h, 600)
    s.target(h, 100)
    h.driver.report_free_pages(4096)
    s.settle(h)


@pytest.mark.clause("split.driver.virtqueue.01")
def test_aligns_every_ring_part(balloon):
    report_fragmented(balloon())


@pytest.mark.clause("split.driver.desc.01")
def test_terminates_every_descriptor_chain(balloon):
    report_fragmented(balloon())


@pytest.mark.clause("split.driver.indirect.01")
def test_uses_no_indirect_table_without_the_feature(balloon):
    report_fragmented(balloon(device={"features": s.offer_without("VIRTIO_F_INDIRECT_DESC")}))


@pytest.mark.clause("split.driver.indirect.02")
def test_nests_no_indirect_table(balloon):
    report_fragmented(balloon())


@pytest.mark.clause("split.driver.indirect.03")
def test_keeps_chains_within_the_queue_size(balloon):
    report_fragmented(balloon(device={"queue_size": 16}))


@pytest.mark.clause("split.driver.indirect.04")
def test_sets_no_next_beside_indirect(balloon):
    report_fragmented(balloon())


@pytest.mark.clause("split.driver.framing.01")
def test_places_writable_elements_after_readable_ones(balloon):
    report_fragmented(balloon())


@pytest.mark.clause("split.driver.avail.01")
def test_never_decrements_the_avail_idx(balloon):
    report_fragmented(balloon())


@pytest.mark.clause("split.driver.avail-suppression.01")
def test_initializes_used_flags_to_0(balloon):
    report_fragmented(balloon())


@pytest.mark.clause("split.driver.used-suppression.01")
def test_sets_avail_flags_to_0_or_1_without_event_idx(balloon):
    report_fragmented(balloon(device={"features": s.offer_without("VIRTIO_F_EVENT_IDX")}))


@pytest.mark.clause("split.driver.used-suppression.03")
def test_sets_avail_flags_to_0_with_event_idx(balloon):
    report_fragmented(balloon())
