"""Driver under test: virtio-mmio register access, probing and interrupt handling."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")

NOISE = 0x4  # an undefined InterruptStatus bit the reference device adds when asked


@pytest.mark.clause("mmio.driver.registers.01")
def test_accesses_only_defined_registers(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("mmio.driver.registers.02")
def test_writes_no_read_only_register(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("mmio.driver.registers.03")
def test_reads_no_write_only_register(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("mmio.driver.registers.05")
def test_config_access_widths(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("mmio.driver.registers.06")
def test_ignores_a_bad_magic_value(balloon):
    s.start(balloon(device={"mmio_decoy": "bad-magic"}))


@pytest.mark.clause("mmio.driver.registers.08")
def test_ignores_an_unknown_version(balloon):
    s.start(balloon(device={"mmio_decoy": "bad-version"}))


@pytest.mark.clause("mmio.driver.registers.10")
def test_ignores_device_id_0(balloon):
    s.start(balloon(device={"mmio_decoy": "no-device"}))


@pytest.mark.clause("mmio.driver.init.03")
def test_aborts_initialization_at_device_id_0(balloon):
    s.start(balloon(device={"mmio_decoy": "no-device"}))


@pytest.mark.clause("mmio.driver.init.04")
def test_touches_nothing_else_at_device_id_0(balloon):
    s.start(balloon(device={"mmio_decoy": "no-device"}))


@pytest.mark.clause("mmio.driver.init.01")
def test_reads_magic_value_and_version_first(balloon):
    s.start(balloon())


@pytest.mark.clause("mmio.driver.init.02")
def test_reads_device_id_next(balloon):
    s.start(balloon())


@pytest.mark.clause("mmio.driver.init.06")
def test_initializes_in_order(balloon):
    s.start(balloon())


@pytest.mark.clause("mmio.driver.registers.12")
def test_selects_device_features_before_reading(balloon):
    s.start(balloon())


@pytest.mark.clause("mmio.driver.registers.13")
def test_selects_driver_features_before_writing(balloon):
    s.start(balloon())


@pytest.mark.clause("mmio.driver.registers.14")
def test_queue_size_within_queue_size_max(balloon):
    s.start(balloon())


@pytest.mark.clause("mmio.driver.registers.15")
def test_leaves_the_layout_of_ready_queues_alone(balloon):
    s.start(balloon())


@pytest.mark.clause("mmio.driver.notify.01")
def test_reads_interrupt_status_before_acknowledging(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("mmio.driver.notify.03")
def test_acknowledges_handled_interrupts(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("mmio.driver.registers.19")
def test_acknowledges_the_events_it_handled(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("mmio.driver.registers.18", provoked=["mmio.device.registers.04"])
def test_ignores_undefined_interrupt_bits(balloon):
    s.inflate_deflate(balloon(device={"mmio_interrupt_noise": NOISE}))


@pytest.mark.clause("mmio.driver.registers.20", provoked=["mmio.device.registers.04"])
def test_acknowledges_no_undefined_bits(balloon):
    s.inflate_deflate(balloon(device={"mmio_interrupt_noise": NOISE}))


@pytest.mark.clause("mmio.driver.registers.21")
def test_waits_for_queue_reset_to_read_0(balloon):
    s.reset_and_restart_queue(balloon(), relocate=False)


@pytest.mark.clause("mmio.driver.registers.17")
def test_reads_queue_ready_back_after_stopping(balloon):
    h = s.start(balloon())
    h.driver.stop_queue(s.Queue.DEFLATE)
