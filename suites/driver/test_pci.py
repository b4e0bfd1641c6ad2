"""Driver under test: virtio over PCI (device matching, capabilities, register use)."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")

# --- judging the driver


@pytest.mark.clause("pci.driver.layout.01")
def test_accesses_config_fields_at_their_width(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("pci.driver.common.01")
def test_writes_no_read_only_common_field(balloon):
    s.start(balloon())


@pytest.mark.clause("pci.driver.common.03")
def test_writes_power_of_2_queue_sizes(balloon):
    s.start(balloon())


@pytest.mark.clause("pci.driver.common.04")
def test_configures_queues_before_enabling_them(balloon):
    s.start(balloon())


@pytest.mark.clause("pci.driver.common.05")
def test_waits_for_reset_before_reinitializing(balloon):
    h = s.start(balloon())
    h.driver.init()  # a second initialization, from a live device


@pytest.mark.clause("pci.driver.common.06")
def test_never_writes_0_to_queue_enable(balloon):
    s.start(balloon())


@pytest.mark.clause("pci.driver.avail-notify.01")
def test_notifies_with_16_bit_writes(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("pci.driver.avail-notify.03")
def test_notifies_with_the_queue_index(balloon):
    s.inflate_deflate(balloon())
