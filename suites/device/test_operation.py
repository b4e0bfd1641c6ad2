"""Device under test: requests the driver MAY make (balloon "Device Operation")."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="device")


@pytest.mark.clause("balloon.driver.operation.02")
def test_takes_deflates_when_num_pages_drops(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("balloon.driver.operation.03")
def test_takes_inflates_beyond_num_pages(balloon):
    h = s.start(balloon(driver={"overshoot": 64}))
    s.target(h, 256)


@pytest.mark.clause("balloon.driver.operation.05")
def test_takes_deflates_below_num_pages_with_deflate_on_oom(balloon):
    s.deflate_on_oom(balloon())


@pytest.mark.clause("balloon.driver.operation.08", provoked=["balloon.driver.features.01"])
def test_keeps_pages_reused_before_the_deflate_ack(balloon):
    h = s.start(
        balloon(
            driver={
                "accept": s.accept_without("VIRTIO_BALLOON_F_MUST_TELL_HOST"),
                "early_deflate_reuse": True,
            }
        )
    )
    s.target(h, 512)
    h.machine.hold_completions = True
    s.target(h, 0)


@pytest.mark.clause("balloon.driver.operation.12")
def test_takes_requests_before_actual_is_updated(balloon):
    h = s.start(balloon(driver={"actual_every_batch": False}))
    s.target(h, 1024)
    s.target(h, 0)
