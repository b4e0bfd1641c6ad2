"""Monitors of the pci clauses (see ballast.monitors.base)."""

from __future__ import annotations

from ballast.monitors.base import Monitor, MonitorContext
from ballast.monitors.events import Event
from ballast.virtio.features import Feature
from ballast.virtio.layout import MODERN_PCI_DEVICE_BASE, TRANSITIONAL_PCI_DEVICE_IDS, PciCfg
from ballast.virtio.status import Status

# --- judging the driver

DRIVER_OK = int(Status.DRIVER_OK)
READ_ONLY_COMMON = frozenset(
    (
        "device_feature",
        "num_queues",
        "config_generation",
        "queue_notify_off",
        "queue_notif_config_data",
    )
)
BALLOON_FIELD_WIDTH = 4  # every field of the balloon's device configuration is a le32
QUEUE_ADDRESSES = frozenset(("desc", "avail", "used"))
NOTIFY_WIDTH = 2


class PciDriverRegisterMonitor(Monitor):
    """What the driver does with the modern interface's registers, as the device's
    register model saw it: access widths, read-only fields, queue setup order, the reset
    handshake and notifications."""

    judges = "driver"
    clauses = (
        "pci.driver.layout.01",
        "pci.driver.common.01",
        "pci.driver.common.03",
        "pci.driver.common.04",
        "pci.driver.common.05",
        "pci.driver.common.06",
        "pci.driver.avail-notify.01",
        "pci.driver.avail-notify.03",
    )

    def __init__(self, ctx: MonitorContext) -> None:
        # kept across device resets: the reset handshake spans one
        self._legacy = False
        self._reset_write: Event | None = None  # status 0, not yet seen to read back 0
        self._reset_seen = False
        super().__init__(ctx)

    def reset_state(self) -> None:
        super().reset_state()
        self._placed: dict[int, set[str]] = {}  # queue -> address fields written

    @property
    def _modern_pci(self) -> bool:
        return self.ctx.transport == "pci" and not self._legacy

    # -- status: the reset handshake, and where the link stands -----------------------------

    def on_status_written(self, event: Event) -> None:
        self._legacy = bool(event.data.get("legacy"))
        if self.ctx.transport != "pci":
            for clause in self.clauses:
                self.not_applicable(clause, "not a PCI link")
            return
        if self._legacy:
            for clause in self.clauses:
                self.not_applicable(clause, "legacy interface: no common configuration")
            return
        value = event["value"]
        if value == 0:
            self._reset_write = event
            self._reset_seen = False
            return
        if self._reset_write is not None:
            if self._reset_seen:
                self.exercised("pci.driver.common.05")
            else:
                self.violation(
                    "pci.driver.common.05",
                    f"status {value:#x} written after a reset without reading status 0 back",
                    self._reset_write,
                    event,
                )
            self._reset_write = None
        if value & DRIVER_OK and not event["previous"] & DRIVER_OK:
            self.exercised("pci.driver.common.01")

    def on_status_read(self, event: Event) -> None:
        if self._reset_write is not None and event["value"] == 0:
            self._reset_seen = True

    # -- register widths and read-only fields -------------------------------------------

    def on_register_misuse(self, event: Event) -> None:
        if event["block"] != "pci-common":
            return
        problem, register = event["problem"], event["register"]
        if problem == "width":
            self.violation(
                "pci.driver.layout.01", f"{register}: {event['width']}-byte access", event
            )
        elif problem == "write-to-read-only" and register in READ_ONLY_COMMON:
            self.violation("pci.driver.common.01", f"driver wrote {register}", event)

    def on_config_read(self, event: Event) -> None:
        self._config_access(event)

    def on_config_written(self, event: Event) -> None:
        self._config_access(event)

    def _config_access(self, event: Event) -> None:
        if not self._modern_pci:
            return
        offset, size = event["offset"], event["size"]
        if size != BALLOON_FIELD_WIDTH or offset % BALLOON_FIELD_WIDTH:
            self.violation(
                "pci.driver.layout.01",
                f"{size}-byte device configuration access at offset {offset:#x} "
                "(the balloon's fields are 32 bits wide)",
                event,
            )
        else:
            self.exercised("pci.driver.layout.01")

    # -- queue configuration ------------------------------------------------------------

    def on_queue_field_written(self, event: Event) -> None:
        if not self._modern_pci:
            return
        index, field = event["index"], event["field"]
        if event["enabled"]:
            self.violation(
                "pci.driver.common.04", f"queue {index}: {field} written while enabled", event
            )
        if field in QUEUE_ADDRESSES:
            self._placed.setdefault(index, set()).add(field)
        if field == "size":
            size = event["value"]
            if size <= 0 or size & (size - 1):
                self.violation(
                    "pci.driver.common.03", f"queue {index}: queue_size {size} written", event
                )
            elif self.negotiated(Feature.VIRTIO_F_RING_PACKED) is not True:
                self.exercised("pci.driver.common.03")

    def on_queue_enabled(self, event: Event) -> None:
        if not self._modern_pci:
            return
        index = event["index"]
        if not event["enabled"]:
            self.violation(
                "pci.driver.common.06", f"queue {index}: 0 written to queue_enable", event
            )
            return
        self.exercised("pci.driver.common.06")
        missing = sorted(QUEUE_ADDRESSES - self._placed.pop(index, set()))
        if missing:
            self.violation(
                "pci.driver.common.04",
                f"queue {index} enabled before {', '.join(missing)} was written",
                event,
            )
        else:
            self.exercised("pci.driver.common.04")

    def on_queue_reset(self, event: Event) -> None:
        self._placed.pop(event["index"], None)

    # -- notifications ------------------------------------------------------------------

    def on_queue_notified(self, event: Event) -> None:
        if not self._modern_pci:
            return
        if self.negotiated(Feature.VIRTIO_F_NOTIFICATION_DATA):
            self.not_applicable("pci.driver.avail-notify.01", "NOTIFICATION_DATA negotiated")
            self.not_applicable("pci.driver.avail-notify.03", "NOTIFICATION_DATA negotiated")
            return
        index, value, width = event["index"], event["value"], event.data.get("width", 0)
        if width and width != NOTIFY_WIDTH:
            self.violation(
                "pci.driver.avail-notify.01", f"queue {index}: {width}-byte notification", event
            )
        elif width:
            self.exercised("pci.driver.avail-notify.01")
        if self.negotiated(Feature.VIRTIO_F_NOTIF_CONFIG_DATA):
            self.not_applicable("pci.driver.avail-notify.03", "NOTIF_CONFIG_DATA negotiated")
        elif value != index:
            self.violation(
                "pci.driver.avail-notify.03",
                f"queue {index} notified with value {value:#x}",
                event,
            )
        else:
            self.exercised("pci.driver.avail-notify.03")


MONITORS: tuple[type[Monitor], ...] = (PciDriverRegisterMonitor,)
