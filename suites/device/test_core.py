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
