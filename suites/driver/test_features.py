"""Driver under test: balloon feature negotiation."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


@pytest.mark.clause("balloon.driver.features.01")
def test_accepts_must_tell_host(balloon):
    s.start(balloon())


@pytest.mark.clause("balloon.device.features.01", provoked=["balloon.driver.features.01"])
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_MUST_TELL_HOST"])
def test_stops_when_the_device_refuses_features_ok(balloon):
    h = balloon(
        device={"reject_without_must_tell_host": True},
        driver={"accept": s.accept_without("VIRTIO_BALLOON_F_MUST_TELL_HOST")},
    )
    with s.contextlib.suppress(s.FeaturesRefused):
        h.driver.init()
