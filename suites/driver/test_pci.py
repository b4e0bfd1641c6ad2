"""Driver under test: virtio over PCI (device matching, capabilities, register use)."""

import contextlib

import pytest

from ballast.machine.pci import ENVIRONMENT_SUBSYSTEM, PciOptions
from ballast.reference.balloon import Queue
from ballast.virtio.transport import TransportError
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


@pytest.mark.clause("pci.driver.discovery.01")
@pytest.mark.requires(transport=["pci-modern"])
def test_matches_the_modern_device_id(balloon):
    s.start(balloon())


@pytest.mark.clause("pci.driver.discovery.02")
@pytest.mark.requires(transport=["pci-transitional", "pci-legacy"])
def test_matches_the_transitional_device_id(balloon):
    s.start(balloon())


@pytest.mark.clause("pci.device.discovery.03")
@pytest.mark.requires(transport=["pci-modern"])
def test_drives_a_device_with_the_environments_subsystem_ids(balloon):
    s.start(balloon(device={"pci": PciOptions(subsystem=ENVIRONMENT_SUBSYSTEM)}))


@pytest.mark.clause("pci.driver.discovery.03")
@pytest.mark.requires(transport=["pci-modern"])
def test_matches_any_revision(balloon):
    s.start(balloon(device={"pci": PciOptions(revision=0x2A)}))


@pytest.mark.clause("pci.driver.caps.01")
def test_ignores_a_capability_of_reserved_type(balloon):
    s.start(balloon(device={"pci": PciOptions(reserved_cap=True)}))


@pytest.mark.clause("pci.driver.caps.03")
def test_accepts_a_longer_cap_len(balloon):
    s.start(balloon(device={"pci": PciOptions(cap_len_extra=8)}))


@pytest.mark.clause("pci.driver.caps.04")
def test_ignores_a_capability_naming_a_reserved_bar(balloon):
    s.start(balloon(device={"pci": PciOptions(reserved_bar_cap=True)}))


@pytest.mark.clause("pci.driver.caps.06")
def test_handles_large_structure_lengths(balloon):
    s.start(balloon(device={"pci": PciOptions(large_lengths=True)}))


@pytest.mark.clause("pci.driver.caps.08")
def test_writes_no_capability(balloon):
    s.start(balloon())


@pytest.mark.clause("pci.driver.legacy.04")
def test_looks_for_capabilities_before_using_legacy(balloon):
    s.start(balloon())


@pytest.mark.clause("pci.driver.legacy.05")
def test_drives_a_function_without_capabilities_as_legacy(balloon):
    s.start(balloon())


@pytest.mark.clause("pci.driver.config-notify.01")
def test_handles_a_config_change_and_used_buffers_in_one_interrupt(balloon):
    h = s.start(balloon())
    h.host.set_target(256)  # a configuration change ...
    assert h.host.request_stats()  # ... and the stats buffer used, before the driver runs
    s.settle(h)
    assert h.host.request_stats()  # the next interrupt
    s.settle(h)


@pytest.mark.clause("pci.driver.cfg-access.01")
def test_aligns_the_pci_cfg_window_offset(balloon):
    s.inflate_deflate(balloon(driver={"pci_cfg_access": True}))


@pytest.mark.clause("pci.driver.cfg-access.02", "pci.driver.cfg-access.01")
def test_accesses_through_the_pci_cfg_window_aligned(balloon):
    s.inflate_deflate(balloon(driver={"pci_cfg_access": True}))


@pytest.mark.clause("pci.driver.cfg-access.03")
def test_uses_the_pci_cfg_window_only_inside_a_structure(balloon):
    s.inflate_deflate(balloon(driver={"pci_cfg_access": True}))


@pytest.mark.clause("pci.driver.common.07")
def test_waits_for_a_queue_reset(balloon):
    h = s.start(balloon())
    h.driver.reset_queue(Queue.INFLATE)
    h.driver.restart_queue(Queue.INFLATE)
    s.target(h, 64)  # the queue works again


@pytest.mark.clause("pci.driver.legacy.01")
def test_uses_the_legacy_header_in_bar0(balloon):
    s.start(balloon(device={"pci": PciOptions(extra_io_bar=True)}))


@pytest.mark.clause("pci.driver.caps.02")
def test_uses_the_first_instance_of_each_structure(balloon):
    s.inflate_deflate(balloon(device={"pci": PciOptions(second_instances=True)}))


@pytest.mark.clause("pci.driver.legacy.03")
def test_places_legacy_config_right_after_the_header(balloon):
    s.start(balloon())


def _non_transitional_on_legacy(balloon) -> None:
    """A non-transitional driver meets a device without virtio capabilities."""
    h = balloon(driver={"transitional": False})
    with contextlib.suppress(TransportError):  # it may only fail, and gracefully
        h.driver.init()


@pytest.mark.clause("pci.driver.legacy.06")
def test_non_transitional_looks_for_capabilities(balloon):
    _non_transitional_on_legacy(balloon)


@pytest.mark.clause("pci.driver.legacy.07")
def test_non_transitional_fails_gracefully_without_capabilities(balloon):
    _non_transitional_on_legacy(balloon)
