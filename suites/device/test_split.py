"""Device under test: how it treats the split virtqueue the driver lays out."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="device")

NO_EVENT_IDX = {"accept": s.accept_without("VIRTIO_F_EVENT_IDX")}


@pytest.mark.clause("split.device.desc.01")
def test_writes_no_device_readable_buffer(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("split.device.desc.04")
def test_writes_no_descriptor_table_entry(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("split.device.avail-suppression.01")
def test_sets_used_flags_to_0_or_1_without_event_idx(balloon):
    s.inflate_deflate(balloon(driver=NO_EVENT_IDX))


@pytest.mark.clause("split.device.avail-suppression.03")
def test_sets_used_flags_to_0_with_event_idx(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("split.device.avail-suppression.05")
def test_handles_spurious_notifications(balloon):
    h = s.start(balloon())
    s.notify_spuriously(h)
    s.target(h, 300)


@pytest.mark.clause("split.device.used-suppression.01")
def test_ignores_used_event_without_event_idx(balloon):
    s.inflate_under_suppression(balloon(driver=NO_EVENT_IDX), flags=0, ahead=0x8000)


@pytest.mark.clause("split.device.used-suppression.02")
def test_does_not_notify_when_flags_is_1(balloon):
    s.inflate_under_suppression(balloon(driver=NO_EVENT_IDX), flags=1, ahead=0)


@pytest.mark.clause("split.device.used-suppression.04")
def test_ignores_the_lower_bit_of_flags_with_event_idx(balloon):
    s.inflate_under_suppression(balloon(), flags=1, ahead=2)


@pytest.mark.clause("split.device.used-suppression.05")
def test_notifies_when_it_writes_the_entry_at_used_event(balloon):
    s.inflate_under_suppression(balloon(), flags=0, ahead=2)


@pytest.mark.clause("split.device.used-suppression.06")
def test_does_not_notify_before_or_after_used_event(balloon):
    s.inflate_under_suppression(balloon(), flags=0, ahead=2)


@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_PAGE_REPORTING"])  # the reporting queue
@pytest.mark.clause("split.device.indirect.02")
def test_takes_an_indirect_table_after_chained_descriptors(balloon):
    s.report_fragmented(balloon(driver={"indirect_after": 1}))
