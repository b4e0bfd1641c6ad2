"""Seeded bugs for the core chapter: device status, feature bits, reset, configuration
space and initialization (see ballast.reference.faults)."""

from __future__ import annotations

from ballast.reference.fault import Fault

STUCK_QUEUE = (
    "a re-enabled queue the device cannot serve leaves the driver's next request"
    " unanswered, whatever actual says; on PCI that is also failing the driver's permission"
    " to re-enable a reset queue"
)

CORE_FAULTS: list[Fault] = [
    # --- reference device ---------------------------------------------------------------
    Fault(
        "consume_before_driver_ok",
        "device",
        "core.device.status.01",
        "uses every available buffer when the driver writes config before DRIVER_OK",
    ),
    Fault(
        "error_without_needs_reset",
        "device",
        "core.device.status.02",
        "does not set DEVICE_NEEDS_RESET when a ring error stops it",
        also=("balloon.driver.operation.12",),
        why_also=(
            "a device stuck without saying so leaves the next request unanswered, which is"
            " how the test tells an error state from a device that tolerated the ring"
        ),
    ),
    Fault(
        "needs_reset_without_notice",
        "device",
        "core.device.status.03",
        "sets DEVICE_NEEDS_RESET without a configuration change notification",
    ),
    Fault(
        "offer_undefined_feature",
        "device",
        "core.device.features.04",
        "offers feature bit 6, which the balloon does not define",
    ),
    Fault(
        "no_version_1",
        "device",
        "core.device.reserved.01",
        "does not offer VIRTIO_F_VERSION_1 on its modern interface",
    ),
    Fault(
        "use_after_reset",
        "device",
        "core.device.reset.02",
        "keeps the stats buffer across a reset and uses it when the host asks for stats",
    ),
    Fault(
        "config_unreadable_before_features_ok",
        "device",
        "core.device.config.01",
        "reads device configuration as zeroes until FEATURES_OK is set",
        also=("core.driver.init.02",),
        why_also=(
            "a driver may read the configuration before FEATURES_OK to decide whether it can"
            " drive the device: the device's duty and the driver's permission are one"
            " behaviour, seen from each side"
        ),
    ),
    Fault(
        "refuse_partial_features",
        "device",
        "core.device.features.02",
        "refuses FEATURES_OK unless the driver accepts every offered feature",
    ),
    Fault(
        "refuse_renegotiation",
        "device",
        "core.device.features.05",
        "refuses FEATURES_OK after the first successful negotiation since power-on",
    ),
    Fault(
        "serve_after_queue_reset",
        "device",
        "core.device.vq-reset.01",
        "still uses the held stats buffer after its queue was reset",
        also=("core.driver.vq-reset.02",),
        why_also=(
            "writing into a reset queue's ring breaks a driver that released it, as it may:"
            " one behaviour, seen from each side"
        ),
    ),
    Fault(
        "keep_ring_state_across_queue_reset",
        "device",
        "core.device.vq-reset.02",
        "keeps a reset queue's ring indices when it is re-enabled",
        also=("balloon.driver.operation.12", "pci.driver.common.08"),
        why_also=STUCK_QUEUE,
    ),
    Fault(
        "ignore_new_queue_size",
        "device",
        "core.device.vq-reset.03",
        "keeps using the maximum queue size for a queue re-enabled smaller",
        also=("balloon.driver.operation.12",),
        why_also=STUCK_QUEUE,
    ),
    Fault(
        "legacy_config_write_needs_features",
        "device",
        "core.device.legacy.04",
        "on a legacy link, drops config writes made before the driver wrote its features",
    ),
    Fault(
        "legacy_wait_for_driver_ok",
        "device",
        "core.device.legacy.05",
        "on a legacy link, ignores notifications until DRIVER_OK",
        also=("balloon.driver.operation.03",),
        why_also=(
            "the early request inflates beyond num_pages (still 0), which the device must"
            " acknowledge as well: an unanswered early inflate is both"
        ),
    ),
    Fault(
        "legacy_no_any_layout",
        "device",
        "core.device.legacy.08",
        "offers neither VIRTIO_F_ANY_LAYOUT nor bit 30 on its legacy interface",
    ),
    # --- reference driver ---------------------------------------------------------------
    Fault(
        "accept_undefined_feature",
        "driver",
        "core.driver.features.05",
        "accepts offered feature bits the spec does not define",
        also=("core.driver.features.04",),
        why_also=("accepting a bit is acting on it, the opposite of ignoring it"),
    ),
    Fault(
        "fail_on_undefined_feature",
        "driver",
        "core.driver.features.08",
        "sets FAILED when the device offers a feature bit the spec does not define",
        also=("core.driver.features.04",),
        why_also=("giving up because of a bit is acting on it, the opposite of ignoring it"),
    ),
    Fault(
        "require_every_feature",
        "driver",
        "core.driver.features.06",
        "gives up (FAILED) when a balloon feature it would accept is not offered",
    ),
    Fault(
        "give_up_silently",
        "driver",
        "core.driver.features.07",
        "stops without setting FAILED when a modern device does not offer VIRTIO_F_VERSION_1",
    ),
    Fault(
        "reinit_without_reset",
        "driver",
        "core.driver.status.03",
        "starts initialization again after FAILED without resetting the device",
        also=("core.driver.status.02",),
        why_also=("writing ACKNOWLEDGE over a status holding FAILED clears FAILED and the rest"),
    ),
    Fault(
        "driver_ok_before_queue_setup",
        "driver",
        "core.driver.status.01",
        "sets DRIVER_OK before it has set up any virtqueue",
    ),
    Fault(
        "no_wait_for_reset",
        "driver",
        "core.driver.reset.01",
        "starts initializing after writing status 0 without reading status 0 back",
        also=("pci.driver.common.05",),
        why_also=(
            "on PCI the same rule is also the common configuration's: wait for device_status to "
            "read 0"
        ),
    ),
    Fault(
        "ignore_needs_reset",
        "driver",
        "core.driver.status.04",
        "goes on making requests after reading DEVICE_NEEDS_RESET",
    ),
    Fault(
        "no_failed_on_refusal",
        "driver",
        "core.driver.init.05",
        "gives up on a refused FEATURES_OK without setting FAILED",
    ),
    Fault(
        "configure_after_refusal",
        "driver",
        "core.driver.init.06",
        "sets up its queues after the device refused FEATURES_OK, then gives up",
    ),
    Fault(
        "legacy_features_ok",
        "driver",
        "core.driver.legacy.05",
        "sets FEATURES_OK (and reads it back) on a legacy link",
    ),
    Fault(
        "decline_any_layout",
        "driver",
        "core.driver.legacy.06",
        "does not accept VIRTIO_F_ANY_LAYOUT on a legacy link",
    ),
    Fault(
        "accept_unused_bit",
        "driver",
        "core.driver.legacy.07",
        "accepts bit 30 (UNUSED) when a legacy device offers it",
    ),
    Fault(
        "read_unoffered_config",
        "driver",
        "core.driver.config.03",
        "reads free_page_hint_cmd_id although VIRTIO_BALLOON_F_FREE_PAGE_HINT was not offered",
        also=("mmio.driver.registers.01",),
        why_also=(
            "on virtio-mmio a config field of an unoffered feature is also a location the register"
            " layout does not describe for this device"
        ),
    ),
    Fault(  # a balloon clause given to this area
        "report_read_back",
        "driver",
        "balloon.driver.reporting.06",
        "reads reported pages back once the device acknowledged them (PAGE_POISON negotiated)",
    ),
    Fault(
        "rewrite_exposed_buffer",
        "driver",
        "core.driver.cleanup.01",
        "shortens the descriptor of the stats buffer the device holds",
    ),
    Fault(
        "free_rings_before_reset",
        "driver",
        "core.driver.cleanup.02",
        "wipes its descriptor tables at removal before resetting the device",
    ),
    Fault(
        "skip_queue_reset_check",
        "driver",
        "core.driver.vq-reset.01",
        "re-enables a reset queue without reading queue_reset back",
        also=("mmio.driver.registers.21", "pci.driver.common.07"),
        why_also=("each transport states the same rule for its queue reset register"),
    ),
    Fault(
        "reenable_without_setup",
        "driver",
        "core.driver.vq-reset.03",
        "re-enables a reset queue without giving its ring addresses again",
        also=("pci.driver.common.04",),
        why_also=(
            "on PCI enabling a queue with no ring given is also enabling it before configuring its"
            " other fields"
        ),
    ),
]
