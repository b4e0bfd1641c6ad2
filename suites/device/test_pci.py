"""Device under test: virtio over PCI - identity, capabilities and the virtio structures
as a driver walking the function sees them (transport-pci.tex)."""

import pytest

from suites import pci_walk as w

pytestmark = pytest.mark.requires(subject="device")


@pytest.mark.clause(
    "pci.device.common.02",
    "pci.device.notify.01",
    "pci.device.isr.01",
    "pci.device.cfg-access.01",
)
def test_presents_every_virtio_structure(balloon):
    w.walk(balloon())


@pytest.mark.clause("pci.device.general.01")
def test_configuration_header_and_capability_list_are_well_formed(balloon):
    w.walk(balloon())


@pytest.mark.clause(
    "pci.device.caps.01",
    "pci.device.common.01",
    "pci.device.devcfg.01",
    "pci.device.notify.02",
    "pci.device.notify.03",
    "pci.device.notify.04",
)
def test_capability_fields_follow_the_layout_rules(balloon):
    w.walk(balloon())


@pytest.mark.clause("pci.device.notify.06", "pci.device.notify.05")
def test_notify_window_reaches_every_queue(balloon):
    w.walk(balloon())


@pytest.mark.clause("pci.device.discovery.01", "pci.device.discovery.02")
def test_carries_the_virtio_vendor_and_device_ids(balloon):
    w.walk(balloon())


@pytest.mark.clause("pci.device.discovery.04", "pci.device.discovery.05", "pci.device.discovery.06")
@pytest.mark.requires(transport=["pci-modern"])
def test_non_transitional_device_revision_and_subsystem_ids(balloon):
    w.walk(balloon())


@pytest.mark.clause("pci.device.legacy.03")
@pytest.mark.requires(transport=["pci-transitional"])
def test_transitional_device_id(balloon):
    w.walk(balloon())


@pytest.mark.clause("pci.device.legacy.01", "pci.device.legacy.02")
@pytest.mark.requires(transport=["pci-transitional", "pci-legacy"])
def test_transitional_revision_and_subsystem_ids(balloon):
    w.walk(balloon())


@pytest.mark.clause("pci.device.common.07", "pci.device.common.08")
def test_reset_through_device_status_clears_the_queues(balloon):
    w.probe_common(balloon())


@pytest.mark.clause("pci.device.common.03", "pci.device.common.04")
def test_feature_words_follow_their_selects(balloon):
    w.probe_common(balloon())


@pytest.mark.clause("pci.device.common.14", "pci.device.common.15")
def test_queue_sizes_are_powers_of_2_or_0(balloon):
    w.probe_common(balloon())


@pytest.mark.clause("pci.device.layout.01")
def test_64_bit_queue_addresses_take_independent_halves(balloon):
    w.probe_common(balloon())


@pytest.mark.clause("pci.device.common.06")
def test_config_generation_changes_with_the_config(balloon):
    w.probe_generation(balloon())


@pytest.mark.clause("pci.device.common.09", "pci.device.common.10")
def test_queue_reset_reads_0_after_reset_and_enable(balloon):
    w.probe_queue_reset(balloon())


@pytest.mark.clause("pci.device.common.11", "pci.device.common.13")
def test_queue_reset_returns_the_queue_to_its_defaults(balloon):
    w.probe_queue_reset(balloon())


@pytest.mark.clause("pci.device.isr.02", "pci.device.isr.03")
def test_isr_shows_why_the_line_was_raised(balloon):
    w.probe_interrupts(balloon())


@pytest.mark.clause("pci.device.isr.04")
def test_pci_status_interrupt_bit_mirrors_isr(balloon):
    w.probe_interrupts(balloon())


@pytest.mark.clause("pci.device.cfg-access.03", "pci.device.cfg-access.02")
def test_pci_cfg_window_reaches_the_bar(balloon):
    w.probe_cfg_window(balloon())


@pytest.mark.clause("pci.device.common.06")
def test_config_generation_changes_before_driver_ok(balloon):
    w.probe_generation(balloon(), live=False)


@pytest.mark.clause("pci.device.legacy.08")
@pytest.mark.requires(transport=["pci-transitional", "pci-legacy"])
def test_legacy_interface_is_in_io_bar0(balloon):
    w.walk(balloon())


@pytest.mark.clause("pci.device.legacy.04")
def test_legacy_header_holds_device_status(balloon):
    w.probe_legacy(balloon())


@pytest.mark.clause("pci.device.legacy.06", "pci.device.legacy.05")
def test_legacy_config_follows_the_header_at_any_width(balloon):
    w.probe_legacy(balloon())
