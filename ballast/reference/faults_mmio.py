"""Seeded bugs for virtio over MMIO (see ballast.reference.faults).

The driver's are register-level bugs of its MMIO transport (``MmioTransport.faults``,
``probe``); the device's live in its register block (ballast.machine.mmio)."""

from __future__ import annotations

from ballast.reference.fault import Fault

_PLACEHOLDER = (
    "a driver that writes to a placeholder both accesses a register beyond DeviceID and "
    "acts on a device it must ignore"
)

_UNANSWERED = (
    "the inflate request the restarted queue never serves is also, to the balloon's "
    "acknowledgement monitor, a device that stops acknowledging before actual is updated; "
    "and a queue reset wrongly through QueueReset is one the core chapter's queue reset "
    "rules (vq-reset) see as well"
)

MMIO_FAULTS: list[Fault] = [
    # --- reference driver: register access rules -----------------------------------------
    Fault(
        "mmio_read_undefined",
        "driver",
        "mmio.driver.registers.01",
        "reads offset 0xf8, where neither version has a register, after each reset",
    ),
    Fault(
        "mmio_write_read_only",
        "driver",
        "mmio.driver.registers.02",
        "writes 0 to the read-only QueueSizeMax before reading it",
    ),
    Fault(
        "mmio_read_write_only",
        "driver",
        "mmio.driver.registers.03",
        "reads the write-only QueueSel back after selecting a queue",
    ),
    Fault(
        "mmio_config_bytewise",
        "driver",
        "mmio.driver.registers.05",
        "reads 32-bit device config fields one byte at a time",
    ),
    Fault(
        "mmio_features_without_select",
        "driver",
        "mmio.driver.registers.12",
        "reads DeviceFeatures once before writing DeviceFeaturesSel",
    ),
    Fault(
        "mmio_driver_features_without_select",
        "driver",
        "mmio.driver.registers.13",
        "writes DriverFeatures once before writing DriverFeaturesSel",
    ),
    Fault(
        "mmio_queue_size_over_max",
        "driver",
        "mmio.driver.registers.14",
        "writes twice the size it uses to QueueSize first (2 x QueueSizeMax at most)",
    ),
    Fault(
        "mmio_rewrite_live_queue",
        "driver",
        "mmio.driver.registers.15",
        "writes QueueSize again right after setting QueueReady",
    ),
    # --- reference driver: probing -------------------------------------------------------
    Fault(
        "mmio_assume_version_2",
        "driver",
        "mmio.driver.init.01",
        "never reads Version: every slot with the right MagicValue is taken as version 2",
    ),
    Fault(
        "mmio_features_before_driver",
        "driver",
        "mmio.driver.init.06",
        "reads the device features right after the reset, before ACKNOWLEDGE and DRIVER",
    ),
    Fault(
        "mmio_skip_magic_check",
        "driver",
        "mmio.driver.registers.06",
        "drives a slot whatever its MagicValue",
    ),
    Fault(
        "mmio_skip_version_check",
        "driver",
        "mmio.driver.registers.08",
        "drives a slot with an unknown Version as version 2",
    ),
    Fault(
        "mmio_skip_device_id",
        "driver",
        "mmio.driver.init.02",
        "takes the first slot with a valid MagicValue and Version without reading DeviceID",
    ),
    Fault(
        "mmio_reset_placeholder",
        "driver",
        "mmio.driver.init.03",
        "writes 0 to Status of a placeholder (DeviceID 0)",
        also=("mmio.driver.init.04", "mmio.driver.registers.10"),
        why_also=_PLACEHOLDER,
    ),
    Fault(
        "mmio_placeholder_vendor_read",
        "driver",
        "mmio.driver.init.04",
        "reads VendorID of a placeholder (DeviceID 0)",
    ),
    Fault(
        "mmio_ack_placeholder",
        "driver",
        "mmio.driver.registers.10",
        "writes InterruptACK of a placeholder (DeviceID 0) to clear it",
        also=("mmio.driver.init.04",),
        why_also=_PLACEHOLDER,
    ),
    # --- reference driver: interrupts ----------------------------------------------------
    Fault(
        "mmio_ack_unread",
        "driver",
        "mmio.driver.notify.01",
        "acknowledges both interrupt bits on the line's level without reading InterruptStatus",
    ),
    Fault(
        "mmio_never_ack",
        "driver",
        "mmio.driver.notify.03",
        "reads InterruptStatus but never writes InterruptACK",
    ),
    Fault(
        "mmio_ack_vring_only",
        "driver",
        "mmio.driver.registers.19",
        "acknowledges only the used buffer bit, never a configuration change it handled",
    ),
    Fault(
        "mmio_ack_echo_status",
        "driver",
        "mmio.driver.registers.20",
        "writes InterruptStatus back to InterruptACK as read, undefined bits included",
    ),
    Fault(
        "mmio_reject_unknown_interrupt",
        "driver",
        "mmio.driver.registers.18",
        "sets FAILED and gives up when InterruptStatus has undefined bits",
        also=("balloon.driver.operation.01",),
        why_also="a driver that gives the device up at its first interrupt inflates nothing",
    ),
    Fault(
        "mmio_queue_reset_no_wait",
        "driver",
        "mmio.driver.registers.21",
        "sets a reset queue up again without reading QueueReset back",
        also=("core.driver.vq-reset.01",),
        why_also="the core chapter states the same rule for every transport",
    ),
    Fault(
        "mmio_stop_without_readback",
        "driver",
        "mmio.driver.registers.17",
        "writes 0 to QueueReady to stop a queue and never reads it back",
    ),
    # --- reference device ----------------------------------------------------------------
    Fault(
        "mmio_bad_magic_live",
        "device",
        "mmio.device.registers.01",
        "MagicValue reads byte-swapped while DRIVER_OK is set",
    ),
    Fault(
        "mmio_version_1_live",
        "device",
        "mmio.device.registers.02",
        "Version reads 1 while DRIVER_OK is set",
    ),
    Fault(
        "mmio_status_clear_on_read",
        "device",
        "mmio.device.registers.03",
        "reading InterruptStatus clears it, as reading ISR does on PCI",
    ),
    Fault(
        "mmio_interrupt_undefined_bits",
        "device",
        "mmio.device.registers.04",
        "sets undefined bit 2 of InterruptStatus with every interrupt",
    ),
    Fault(
        "mmio_ready_survives_reset",
        "device",
        "mmio.device.registers.05",
        "QueueReady reads the last value written, even after a device reset",
    ),
    Fault(
        "mmio_generation_stuck",
        "device",
        "mmio.device.registers.06",
        "ConfigGeneration always reads 0",
    ),
    Fault(
        "mmio_queue_reset_1_after_reset",
        "device",
        "mmio.device.registers.08",
        "QueueReset reads 1 after a device reset until the queue is enabled",
    ),
    Fault(
        "mmio_queue_reset_1_while_ready",
        "device",
        "mmio.device.registers.09",
        "QueueReset reads 1 while the queue is enabled",
    ),
    Fault(
        "mmio_queue_reset_keeps_ring",
        "device",
        "mmio.device.registers.10",
        "keeps a reset queue's ring state (indices) when it is enabled again",
        also=("balloon.driver.operation.12", "core.device.vq-reset.02"),
        why_also=_UNANSWERED,
    ),
    Fault(
        "mmio_queue_reset_keeps_ready",
        "device",
        "mmio.device.registers.12",
        "QueueReady reads 1 after a queue reset until the queue is enabled again",
    ),
    Fault(
        "mmio_queue_reset_refuses_ready",
        "device",
        "mmio.driver.registers.22",
        "ignores QueueReady = 1 for a queue reset since the device reset",
        also=("balloon.driver.operation.12", "core.device.vq-reset.02"),
        why_also=_UNANSWERED,
    ),
    Fault(
        "mmio_queue_reset_keeps_layout",
        "device",
        "mmio.driver.registers.23",
        "keeps a reset queue's layout and drops the driver's new values",
        also=("balloon.driver.operation.12", "core.device.vq-reset.03"),
        why_also=_UNANSWERED,
    ),
    Fault(
        "mmio_serves_stopped_queue",
        "device",
        "mmio.device.registers.07",
        "QueueReady = 0 changes only what the register reads: the queue stays live",
    ),
]
