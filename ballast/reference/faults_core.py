"""Seeded bugs for the core chapter: device status, feature bits, reset, configuration
space and initialization (see ballast.reference.faults)."""

from __future__ import annotations

from ballast.reference.fault import Fault

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
]
