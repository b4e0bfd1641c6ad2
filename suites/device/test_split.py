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
