"""Device under test: reset, feature negotiation, notifications and registers (core)."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="device")


@pytest.mark.clause("core.device.reset.01")
def test_status_reads_zero_after_a_reset(balloon):
    h = s.start(balloon())
    s.reset_and_read_status(h)


@pytest.mark.clause("core.device.features.03", provoked=["core.driver.features.01"])
def test_refuses_features_ok_for_unoffered_features(balloon):
    h = balloon()
    s.negotiate_unoffered(h)


@pytest.mark.clause("split.device.used-suppression.03")
def test_notifies_used_buffers_when_flags_is_0(balloon):
    h = s.start(balloon(driver={"accept": s.accept_without("VIRTIO_F_EVENT_IDX")}))
    s.target(h, 512)


@pytest.mark.clause("pci.device.isr.05")
def test_isr_reads_clear_it(balloon):
    h = s.start(balloon())
    s.read_isr_twice(h)


@pytest.mark.clause("core.device.status.01")
def test_uses_no_buffer_before_driver_ok(balloon):
    s.start(balloon())


@pytest.mark.clause("core.device.status.02")
def test_sets_needs_reset_when_a_ring_breaks(balloon):
    s.break_ring(s.start(balloon()))


@pytest.mark.clause("core.device.status.03")
def test_notifies_the_driver_of_needs_reset(balloon):
    s.break_ring(s.start(balloon()))


@pytest.mark.clause("core.device.reset.02")
@pytest.mark.requires(transport=s.EVERY_TRANSPORT)
def test_is_quiet_after_a_reset(balloon):
    s.reset_then_prod(s.start(balloon()))


@pytest.mark.clause("core.device.config.01", "core.driver.init.02")
def test_config_readable_before_features_ok(balloon):
    s.read_config_early(balloon())


@pytest.mark.clause("core.device.features.04")
@pytest.mark.requires(transport=s.EVERY_TRANSPORT)
def test_offers_only_defined_features(balloon):
    s.start(balloon())


@pytest.mark.clause("core.device.reserved.01")
def test_offers_version_1(balloon):
    with s.contextlib.suppress(s.DriverError):
        s.start(balloon())


@pytest.mark.clause("core.device.features.02")
def test_accepts_a_subset_of_its_features(balloon):
    accept = s.accept_without(
        "VIRTIO_F_EVENT_IDX", "VIRTIO_F_INDIRECT_DESC", "VIRTIO_BALLOON_F_DEFLATE_ON_OOM"
    )
    with s.contextlib.suppress(s.FeaturesRefused):
        s.start(balloon(driver={"accept": accept}))


@pytest.mark.clause("core.device.features.05")
def test_renegotiates_after_a_reset(balloon):
    h = s.start(balloon())
    with s.contextlib.suppress(s.FeaturesRefused):
        s.start(h)


@pytest.mark.clause("core.device.vq-reset.01", "core.driver.vq-reset.02")
def test_leaves_a_reset_queue_alone(balloon):
    s.reset_stats_queue(s.start(balloon()))


@pytest.mark.clause("core.device.vq-reset.02")
def test_starts_a_reenabled_queue_afresh(balloon):
    s.reenable_inflate_queue(s.start(balloon()))


@pytest.mark.clause("core.device.vq-reset.03")
def test_uses_the_new_size_of_a_reenabled_queue(balloon):
    s.reenable_inflate_queue(s.start(balloon(driver={"batch": 1})), size=16)


@pytest.mark.clause("core.device.legacy.04")
def test_takes_config_written_before_the_features_are_read(balloon):
    s.write_actual_early(balloon())


@pytest.mark.clause("core.device.legacy.05")
def test_serves_requests_made_before_driver_ok(balloon):
    with s.contextlib.suppress(s.DriverError):
        s.start(balloon(driver={"legacy_early_inflate": 8}))


@pytest.mark.clause("core.device.legacy.08")
def test_offers_any_layout_and_bit_30(balloon):
    s.start(balloon())
