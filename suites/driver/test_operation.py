"""Driver under test: inflation, deflation and actual (balloon "Device Operation")."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


@pytest.mark.clause("balloon.driver.operation.01")
def test_inflates_when_num_pages_exceeds_actual(balloon):
    h = s.start(balloon())
    s.target(h, 600)


@pytest.mark.clause("balloon.driver.operation.01")
def test_refills_after_an_oom_deflate_once_the_target_changes(balloon):
    h = s.deflate_on_oom(balloon())
    s.target(h, 512)  # the same size again: the deflate on OOM still holds
    s.target(h, 600)  # a new size: the driver fills the balloon to it


@pytest.mark.clause("balloon.driver.operation.11")
def test_updates_actual_after_changing_the_balloon(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("balloon.driver.operation.09")
def test_leaves_pages_alone_until_the_inflate_ack(balloon):
    h = s.start(balloon())
    h.machine.hold_completions = True
    s.target(h, 600)
    s.use_all_free(h)


@pytest.mark.clause("balloon.driver.operation.10")
def test_deflates_only_acknowledged_pages(balloon):
    h = s.start(balloon())
    h.machine.hold_completions = True
    s.target(h, 512)
    s.target(h, 0)


@pytest.mark.clause("balloon.driver.operation.06", provoked=["balloon.driver.features.01"])
def test_tells_the_device_before_reusing_ballooned_pages(balloon):
    s.inflate_deflate(
        balloon(driver={"accept": s.accept_without("VIRTIO_BALLOON_F_MUST_TELL_HOST")})
    )


@pytest.mark.clause("balloon.driver.operation.07")
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_MUST_TELL_HOST"])
def test_waits_for_the_deflate_ack_with_must_tell_host(balloon):
    h = s.start(balloon())
    s.target(h, 512)
    h.machine.hold_completions = True
    s.target(h, 0)
    s.use_all_free(h)


@pytest.mark.clause("balloon.driver.operation.04")
def test_keeps_the_balloon_without_deflate_on_oom(balloon):
    h = s.start(balloon(device={"features": s.offer_without("VIRTIO_BALLOON_F_DEFLATE_ON_OOM")}))
    s.target(h, 512)
    h.driver.memory_pressure(256)
    s.settle(h)


@pytest.mark.clause("balloon.device.operation.01", provoked=["balloon.driver.features.01"])
def test_tolerates_pages_modified_before_the_inflate_ack(balloon):
    s.inflate_deflate(
        balloon(
            device={"modify_inflated_pages": True},
            driver={"accept": s.accept_without("VIRTIO_BALLOON_F_MUST_TELL_HOST")},
        )
    )


@pytest.mark.clause("balloon.device.operation.02")
@pytest.mark.requires(offered=["VIRTIO_BALLOON_F_MUST_TELL_HOST"])
def test_tolerates_pages_modified_while_in_the_balloon(balloon):
    s.inflate_deflate(balloon(device={"modify_inflated_pages": True}))
