"""Driver under test: the split virtqueue layout and the descriptor chains it exposes."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


def polling(event_idx: bool = True, hold: tuple[int, int | None] | None = None) -> dict:
    """A device that also serves its rings unnotified, holding the used ring's flags and
    avail_event (None: it follows the ring) as ``hold`` says."""
    features = s.offer_without() if event_idx else s.offer_without("VIRTIO_F_EVENT_IDX")
    return {"features": features, "poll_rings": True, "hold_avail_suppression": hold}


@pytest.mark.clause("split.driver.virtqueue.01")
def test_aligns_every_ring_part(balloon):
    s.report_fragmented(balloon())


@pytest.mark.clause("split.driver.desc.01")
def test_terminates_every_descriptor_chain(balloon):
    s.report_fragmented(balloon())


@pytest.mark.clause("split.driver.indirect.01")
def test_uses_no_indirect_table_without_the_feature(balloon):
    s.report_fragmented(balloon(device={"features": s.offer_without("VIRTIO_F_INDIRECT_DESC")}))


@pytest.mark.clause("split.driver.indirect.02")
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_PAGE_REPORTING"])
def test_nests_no_indirect_table(balloon):
    s.report_fragmented(balloon())


@pytest.mark.clause("split.driver.indirect.03")
def test_keeps_chains_within_the_queue_size(balloon):
    s.report_fragmented(balloon(device={"queue_size": 16}))


@pytest.mark.clause("split.driver.indirect.04")
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_PAGE_REPORTING"])
def test_sets_no_next_beside_indirect(balloon):
    s.report_fragmented(balloon())


@pytest.mark.clause("split.driver.framing.01")
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_PAGE_REPORTING"])
def test_places_writable_elements_after_readable_ones(balloon):
    s.report_fragmented(balloon())


@pytest.mark.clause("split.driver.avail.01")
def test_never_decrements_the_avail_idx(balloon):
    s.report_fragmented(balloon())


@pytest.mark.clause("split.driver.avail-suppression.01")
def test_initializes_used_flags_to_0(balloon):
    s.report_fragmented(balloon())


@pytest.mark.clause("split.driver.used-suppression.01")
def test_sets_avail_flags_to_0_or_1_without_event_idx(balloon):
    s.report_fragmented(balloon(device={"features": s.offer_without("VIRTIO_F_EVENT_IDX")}))


@pytest.mark.clause("split.driver.used-suppression.03")
def test_sets_avail_flags_to_0_with_event_idx(balloon):
    s.report_fragmented(balloon())


@pytest.mark.clause("split.driver.avail-suppression.02")
def test_ignores_avail_event_without_event_idx(balloon):
    s.report_fragmented(balloon(device=polling(event_idx=False, hold=(0, 0x8000))))


@pytest.mark.clause("split.driver.avail-suppression.03")
def test_does_not_notify_when_used_flags_is_1(balloon):
    s.report_fragmented(balloon(device=polling(event_idx=False, hold=(1, None))))


@pytest.mark.clause("split.driver.avail-suppression.04")
def test_notifies_when_used_flags_is_0(balloon):
    s.report_fragmented(balloon(device=polling(event_idx=False)))


@pytest.mark.clause("split.driver.avail-suppression.05")
def test_ignores_the_lower_bit_of_used_flags_with_event_idx(balloon):
    s.report_fragmented(balloon(device=polling(hold=(1, None))))


@pytest.mark.clause("split.driver.avail-suppression.06")
def test_notifies_when_it_writes_the_entry_at_avail_event(balloon):
    s.report_fragmented(balloon(device=polling()))


@pytest.mark.clause("split.driver.avail-suppression.07")
def test_does_not_notify_before_avail_event(balloon):
    s.report_fragmented(balloon(device=polling(hold=(0, 0x8000))))


@pytest.mark.clause("split.driver.used-suppression.05")
def test_handles_spurious_used_buffer_notifications(balloon):
    s.inflate_deflate(balloon(device={"spurious_used_notifications": True}))
