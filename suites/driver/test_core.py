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
def test_reads_config_between_generation_reads(balloon):
    h = s.start(balloon())
    h.host.start_hinting()
    s.settle(h)
