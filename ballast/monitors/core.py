"""Monitors of the core rules a balloon link exercises: device status, feature negotiation,
initialization order, reset and used buffer notifications (the rest of the core chapter is
in core_device and core_driver)."""

from __future__ import annotations

from ballast.monitors.base import Monitor
from ballast.monitors.core_device import (
    ACK,
    DRIVER,
    DRIVER_OK,
    FEATURES_OK,
    NEEDS_RESET,
    VERSION_1,
    DeviceEarlyConfigMonitor,
    DeviceFeaturesMonitor,
    DeviceLegacyInitMonitor,
    DeviceQueueResetMonitor,
    DeviceStatusMonitor,
)
from ballast.monitors.core_driver import (
    DriverCleanupMonitor,
    DriverConfigAccessMonitor,
    DriverFailureMonitor,
    DriverFeatureBitsMonitor,
    DriverLegacyFeaturesMonitor,
    DriverNeedsResetMonitor,
    DriverQueueResetMonitor,
    DriverResetWaitMonitor,
    DriverStatusStepsMonitor,
)
from ballast.monitors.events import Event
from ballast.virtio.features import Feature


class DriverInitMonitor(Monitor):
    """The driver's status writes, feature writes, config writes and notifications, checked
    against the initialization sequence."""

    judges = "driver"
    clauses = (
        "core.driver.status.02",
        "core.driver.init.01",
        "core.driver.init.03",
        "core.driver.init.04",
        "core.driver.init.07",
        "core.driver.features.01",
        "core.driver.reserved.01",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self.status = 0
        self.offered = [0, 0]
        self.legacy = False
        self.modern_offered = False

    def on_features_read(self, event: Event) -> None:
        if event["select"] < 2:
            self.offered[event["select"]] = event["value"]

    def on_status_written(self, event: Event) -> None:
        self.legacy = event.data.get("legacy", self.legacy)
        value, previous = event["value"], event["previous"] & ~NEEDS_RESET
        if value == 0:
            self.status = 0
            return
        cleared = previous & ~value
        if cleared:
            self.violation(
                "core.driver.status.02",
                f"status write {value:#x} clears bit(s) {cleared:#x}",
                event,
            )
        elif previous:
            self.exercised("core.driver.status.02")
        added = value & ~previous
        order = [
            (DRIVER, ACK, "DRIVER before ACKNOWLEDGE"),
            (FEATURES_OK, DRIVER, "FEATURES_OK before DRIVER"),
            (DRIVER_OK, DRIVER, "DRIVER_OK before DRIVER"),
        ]
        if not self.legacy:
            order.append((DRIVER_OK, FEATURES_OK, "DRIVER_OK before FEATURES_OK"))
        wrong = [what for bit, needs, what in order if added & bit and not value & needs]
        if wrong:
            self.violation("core.driver.init.01", f"status {value:#x}: {wrong[0]}", event)
        elif added & DRIVER_OK:
            self.exercised("core.driver.init.01")
        self.status = value

    def on_device_reset(self, event: Event) -> None:
        self.status = 0

    def on_driver_features_written(self, event: Event) -> None:
        if self.status & FEATURES_OK:
            self.violation(
                "core.driver.init.04", "driver features written after FEATURES_OK", event
            )
        select = event["select"]
        if select < 2:
            unoffered = event["value"] & ~self.offered[select]
            if unoffered:
                self.violation(
                    "core.driver.features.01",
                    f"accepted bit(s) {unoffered << 32 * select:#x} not offered",
                    event,
                )
            else:
                self.exercised("core.driver.features.01")

    def on_features_ok_decided(self, event: Event) -> None:
        self.exercised("core.driver.init.04")
        offered_v1 = self.offered[1] & 1
        if offered_v1 and not event["features"] & VERSION_1:
            self.violation(
                "core.driver.reserved.01", "VIRTIO_F_VERSION_1 offered but not accepted", event
            )
        elif offered_v1:
            self.exercised("core.driver.reserved.01")

    def on_driver_ok_seen(self, event: Event) -> None:
        self.legacy = event["legacy"]
        if self.legacy:
            self.not_applicable("core.driver.reserved.01", "legacy link")
            self.not_applicable("core.driver.init.03", "legacy link (writes allowed)")

    def on_config_written(self, event: Event) -> None:
        status = event["status"]
        if status & DRIVER and not status & FEATURES_OK and not self.legacy:
            if self.offered[1] & 1:  # a modern device: the legacy exception cannot apply
                self.violation(
                    "core.driver.init.03", "device configuration written before FEATURES_OK", event
                )
        elif status & FEATURES_OK:
            self.exercised("core.driver.init.03")

    def on_queue_notified(self, event: Event) -> None:
        if not self.status & DRIVER_OK:
            self.violation(
                "core.driver.init.07", f"queue {event['index']} notified before DRIVER_OK", event
            )
        else:
            self.exercised("core.driver.init.07")


class DeviceCoreMonitor(Monitor):
    """Device status after reset, FEATURES_OK decisions, buffer use before DRIVER_OK and
    used buffer notifications, as the driver sees them."""

    judges = "device"
    clauses = (
        "core.device.reset.01",
        "core.device.features.03",
        "split.device.used-suppression.03",
        "pci.device.isr.05",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._reset_pending: Event | None = None
        self._offered = 0
        self._used_without_event_idx: list[Event] = []
        self._vring_interrupts = 0

    def on_driver_reset(self, event: Event) -> None:
        self._reset_pending = event

    def on_device_status_read(self, event: Event) -> None:
        if self._reset_pending is None:
            return
        if event["value"] != 0:
            self.violation(
                "core.device.reset.01",
                f"status reads {event['value']:#x} after a reset",
                self._reset_pending,
                event,
            )
        else:
            self.exercised("core.device.reset.01")
        self._reset_pending = None

    def on_device_features_seen(self, event: Event) -> None:
        self._offered = event["value"]

    def on_features_ok_readback(self, event: Event) -> None:
        written = event.data.get("features", 0)
        if written & ~self._offered:
            if event["accepted"]:
                self.violation(
                    "core.device.features.03",
                    f"FEATURES_OK kept for features {written:#x} with unoffered bits",
                    event,
                )
            else:
                self.exercised("core.device.features.03")

    def on_used_buffer(self, event: Event) -> None:
        if self.negotiated(Feature.VIRTIO_F_EVENT_IDX) is False:
            self._used_without_event_idx.append(event)

    def on_interrupt(self, event: Event) -> None:
        if "vring" in event["reasons"]:
            self._vring_interrupts += 1

    def on_isr_read(self, event: Event) -> None:
        if event.data.get("repeat") and event["value"]:
            self.violation(
                "pci.device.isr.05",
                f"ISR reads {event['value']:#x} again right after a read",
                event,
            )
        elif event.data.get("repeat"):
            self.exercised("pci.device.isr.05")

    def finish(self) -> None:
        """The driver never sets VIRTQ_AVAIL_F_NO_INTERRUPT: without EVENT_IDX every used
        buffer must come with a notification, so none at all is a violation."""
        if not self._used_without_event_idx:
            return
        if self._vring_interrupts == 0:
            self.violation(
                "split.device.used-suppression.03",
                f"{len(self._used_without_event_idx)} buffer(s) used with flags 0 and "
                "no used buffer notification",
                self._used_without_event_idx[0],
            )
        else:
            self.exercised("split.device.used-suppression.03")


class ConfigGenerationMonitor(Monitor):
    """Multi-field config reads bracketed by config_generation reads (the loop the core
    chapter recommends), judged from the order of the device's register accesses."""

    judges = "driver"
    clauses = ("core.driver.config.02",)

    def reset_state(self) -> None:
        super().reset_state()
        self._group: list[Event] = []
        self._led = False  # the current group of reads started after a generation read
        self._legacy = False

    def on_generation_read(self, event: Event) -> None:
        self._close(trailing=True)
        self._led = True

    def on_config_read(self, event: Event) -> None:
        self._group.append(event)

    def on_status_written(self, event: Event) -> None:
        self._legacy = bool(event.data.get("legacy"))
        if self._legacy:
            self.not_applicable("core.driver.config.02", "legacy link: no config_generation")
        self._close(trailing=False)

    def on_queue_notified(self, event: Event) -> None:
        self._close(trailing=False)

    def on_config_written(self, event: Event) -> None:
        self._close(trailing=False)

    def _close(self, trailing: bool) -> None:
        fields = {e["offset"] // 4 for e in self._group}
        if len(fields) > 1 and not self._legacy:
            if self._led and trailing:
                self.exercised("core.driver.config.02")
            else:
                offsets = sorted(e["offset"] for e in self._group)
                self.violation(
                    "core.driver.config.02",
                    f"config fields at offsets {offsets} read without config_generation "
                    "before and after",
                    *self._group[:2],
                )
        self._group = []
        self._led = False

    def finish(self) -> None:
        self._close(trailing=False)


MONITORS: tuple[type[Monitor], ...] = (
    DriverInitMonitor,
    DeviceCoreMonitor,
    ConfigGenerationMonitor,
    DeviceStatusMonitor,
    DeviceFeaturesMonitor,
    DeviceEarlyConfigMonitor,
    DeviceLegacyInitMonitor,
    DriverFeatureBitsMonitor,
    DriverFailureMonitor,
    DriverLegacyFeaturesMonitor,
    DriverResetWaitMonitor,
    DriverStatusStepsMonitor,
    DriverNeedsResetMonitor,
    DriverConfigAccessMonitor,
    DriverCleanupMonitor,
    DriverQueueResetMonitor,
    DeviceQueueResetMonitor,
)
