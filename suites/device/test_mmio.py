"""Device under test: virtio-mmio registers, as the driver's transport reads them."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="device")


@pytest.mark.clause("mmio.device.registers.01")
def test_magic_value(balloon):
    h = s.start(balloon())
    s.read_mmio_identity(h)


@pytest.mark.clause("mmio.device.registers.02")
def test_version_2(balloon):
    h = s.start(balloon())
    s.read_mmio_identity(h)


@pytest.mark.clause("mmio.device.registers.03")
def test_interrupt_status_holds_until_acknowledged(balloon):
    h = s.start(balloon())
    s.interrupt_status_until_ack(h)


@pytest.mark.clause("mmio.device.registers.04")
def test_interrupt_status_has_no_undefined_bits(balloon):
    h = s.start(balloon())
    s.interrupt_status_until_ack(h)


@pytest.mark.clause("mmio.device.registers.05")
def test_reset_clears_interrupt_status_and_queue_ready(balloon):
    h = s.start(balloon())
    s.reset_with_interrupt_pending(h)


@pytest.mark.clause("mmio.device.registers.06")
def test_config_generation_changes_with_config(balloon):
    h = s.start(balloon())
    s.target(h, 100)
    s.target(h, 200)


@pytest.mark.clause("mmio.device.registers.08")
def test_queue_reset_reads_0_after_a_reset(balloon):
    h = s.start(balloon())
    s.reset_then_queue_reset_values(h)


@pytest.mark.clause("mmio.device.registers.09")
def test_queue_reset_reads_0_once_enabled(balloon):
    h = s.start(balloon())
    s.queue_reset_values(h, "enabled")


@pytest.mark.clause("mmio.device.registers.10")
def test_resets_a_queue(balloon):
    s.reset_and_restart_queue(balloon(), relocate=False)


@pytest.mark.clause("mmio.device.registers.12")
def test_queue_ready_reads_0_after_a_queue_reset(balloon):
    s.reset_and_restart_queue(balloon(), relocate=False)


@pytest.mark.clause("mmio.driver.registers.22")
def test_tolerates_a_reset_queue_enabled_again(balloon):
    s.reset_and_restart_queue(balloon(), relocate=False)


@pytest.mark.clause("mmio.driver.registers.23")
def test_tolerates_a_reset_queue_with_a_new_layout(balloon):
    s.reset_and_restart_queue(balloon(), relocate=True)


@pytest.mark.clause("mmio.device.registers.07")
def test_leaves_a_stopped_queue_alone(balloon):
    s.kick_stopped_deflateq(balloon())
