"""Device under test: the balloon chapter's "Legacy Interface" rules."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="device")


@pytest.mark.clause("balloon.device.legacy.01", provoked=["balloon.driver.features.01"])
def test_serves_drivers_without_must_tell_host(balloon):
    s.inflate_deflate(
        balloon(driver={"accept": s.accept_without("VIRTIO_BALLOON_F_MUST_TELL_HOST")})
    )


@pytest.mark.clause("balloon.device.legacy.02", provoked=["balloon.driver.features.01"])
def test_lets_the_guest_reuse_pages_before_the_deflate_ack(balloon):
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


@pytest.mark.clause("balloon.device.legacy.03")
def test_formats_config_little_endian(balloon):
    h = s.start(balloon())
    s.target(h, 256)


@pytest.mark.clause("balloon.device.legacy.04", provoked=["balloon.driver.legacy.03"])
def test_waits_for_the_last_byte_of_actual(balloon):
    h = s.start(balloon())
    s.write_actual_bytewise(h, 0x01020304)


@pytest.mark.clause("balloon.device.legacy.05")
def test_reads_stats_in_guest_byte_order(balloon):
    s.stats_rounds(balloon())


@pytest.mark.clause("balloon.device.legacy.06")
def test_ignores_the_first_stats_buffer(balloon):
    h = s.start(balloon())
    h.host.read_stats()


@pytest.mark.clause("balloon.device.legacy.07")
def test_reads_the_command_id_in_guest_byte_order(balloon):
    h = balloon()
    s.hint_round(h, finish=False)
    h.host.hinted_pages()
