"""Driver under test: device status, initialization and feature bits (core)."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


@pytest.mark.clause("core.driver.status.02")
def test_never_clears_a_status_bit(balloon):
    s.start(balloon())


@pytest.mark.clause("core.driver.init.01")
def test_follows_the_initialization_sequence(balloon):
    s.start(balloon())


@pytest.mark.clause("core.driver.init.03")
def test_writes_no_config_before_features_ok(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("core.driver.init.04")
def test_accepts_no_features_after_features_ok(balloon):
    s.start(balloon())


@pytest.mark.clause("core.driver.init.07")
def test_notifies_only_after_driver_ok(balloon):
    s.start(balloon())


@pytest.mark.clause("core.driver.features.01")
def test_accepts_only_offered_features(balloon):
    s.start(balloon(device={"features": s.offer_without("VIRTIO_BALLOON_F_PAGE_REPORTING")}))


@pytest.mark.clause("core.driver.reserved.01")
def test_accepts_version_1(balloon):
    s.start(balloon())


@pytest.mark.clause("mmio.driver.registers.04")
def test_uses_32_bit_register_accesses(balloon):
    s.start(balloon())


@pytest.mark.clause("core.driver.config.02")
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_FREE_PAGE_HINT"])
def test_reads_config_between_generation_reads(balloon):
    h = s.start(balloon())
    h.host.start_hinting()
    s.settle(h)


UNDEFINED_BITS = (1 << 6) | (1 << 23) | (1 << 44)  # no balloon or core feature uses them
REFUSING_DEVICE = {"reject_without_must_tell_host": True}
WITHOUT_TELL_HOST = {"accept": s.accept_without("VIRTIO_BALLOON_F_MUST_TELL_HOST")}


@pytest.mark.clause("core.driver.features.04", "core.driver.features.05", "core.driver.features.08")
@pytest.mark.requires(transport=s.EVERY_TRANSPORT)
def test_ignores_undefined_feature_bits(balloon):
    h = balloon(device={"features": s.DEFAULT_FEATURES | UNDEFINED_BITS})
    with s.contextlib.suppress(s.DriverError):
        s.start(h)


@pytest.mark.clause("core.driver.features.06")
@pytest.mark.requires(transport=s.EVERY_TRANSPORT)
def test_carries_on_without_unoffered_balloon_features(balloon):
    offer = s.offer_without("VIRTIO_BALLOON_F_FREE_PAGE_HINT", "VIRTIO_BALLOON_F_PAGE_REPORTING")
    with s.contextlib.suppress(s.DriverError):
        s.start(balloon(device={"features": offer}))


@pytest.mark.clause("core.driver.features.07")
def test_sets_failed_without_version_1(balloon):
    h = balloon(device={"features": s.offer_without("VIRTIO_F_VERSION_1")})
    with s.contextlib.suppress(s.DriverError):
        h.driver.init()


@pytest.mark.clause("core.driver.status.03", provoked=["balloon.driver.features.01"])
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_MUST_TELL_HOST"])
def test_resets_after_failed_before_trying_again(balloon):
    h = balloon(device=REFUSING_DEVICE, driver=WITHOUT_TELL_HOST)
    for _ in range(2):
        with s.contextlib.suppress(s.FeaturesRefused):
            h.driver.init()


@pytest.mark.clause("core.driver.init.05", provoked=["balloon.driver.features.01"])
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_MUST_TELL_HOST"])
def test_sets_failed_when_features_ok_is_refused(balloon):
    h = balloon(device=REFUSING_DEVICE, driver=WITHOUT_TELL_HOST)
    with s.contextlib.suppress(s.DriverError):
        h.driver.init()


@pytest.mark.clause("core.driver.init.06", provoked=["balloon.driver.features.01"])
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_MUST_TELL_HOST"])
def test_stops_initialization_when_features_ok_is_refused(balloon):
    h = balloon(device=REFUSING_DEVICE, driver=WITHOUT_TELL_HOST)
    with s.contextlib.suppress(s.DriverError):
        h.driver.init()


@pytest.mark.clause("core.driver.legacy.05")
def test_skips_features_ok_on_legacy_links(balloon):
    s.start(balloon())


@pytest.mark.clause("core.driver.config.03")
@pytest.mark.requires(transport=s.EVERY_TRANSPORT)
def test_reads_optional_config_only_when_offered(balloon):
    offer = s.offer_without("VIRTIO_BALLOON_F_FREE_PAGE_HINT", "VIRTIO_BALLOON_F_PAGE_POISON")
    h = s.start(balloon(device={"features": offer}))
    s.target(h, 64)


@pytest.mark.clause("core.driver.cleanup.01")
@pytest.mark.requires(transport=s.EVERY_TRANSPORT)
def test_leaves_exposed_buffers_alone(balloon):
    h = s.start(balloon())
    h.host.request_stats()
    s.settle(h)


@pytest.mark.clause("core.driver.cleanup.02")
@pytest.mark.requires(transport=s.EVERY_TRANSPORT)
def test_resets_before_removing_exposed_buffers(balloon):
    s.start(balloon()).driver.remove()


@pytest.mark.clause("core.driver.vq-reset.01")
def test_checks_that_a_queue_reset_is_done(balloon):
    s.reset_and_reenable(s.start(balloon()), s.Queue.STATS)


@pytest.mark.clause("core.driver.vq-reset.03")
def test_gives_a_reset_queue_its_ring_again(balloon):
    s.reset_and_reenable(s.start(balloon()), s.Queue.STATS)


@pytest.mark.clause("core.driver.legacy.06")
def test_accepts_any_layout(balloon):
    s.start(balloon())


@pytest.mark.clause("core.driver.legacy.07")
def test_leaves_bit_30_alone(balloon):
    s.start(balloon())


@pytest.mark.clause("core.driver.reset.01")
def test_waits_for_status_0_after_a_reset(balloon):
    h = s.start(balloon(device={"reset_latency": 3}))
    s.start(h)


@pytest.mark.clause("core.driver.status.04")
def test_stops_making_requests_when_the_device_needs_a_reset(balloon):
    h = s.start(balloon())
    h.host.enter_error_state()
    with s.contextlib.suppress(s.DriverError):
        s.target(h, 64)
    s.start(h)


@pytest.mark.clause("core.driver.status.01")
@pytest.mark.requires(transport=s.EVERY_TRANSPORT)
def test_sets_each_status_bit_after_its_step(balloon):
    # without PAGE_POISON: a DRIVER_OK set early would also come before poison_val
    s.start(balloon(device={"features": s.offer_without("VIRTIO_BALLOON_F_PAGE_POISON")}))
