"""Monitors of the core rules a balloon link exercises: device status, feature negotiation,
initialization order, reset, used buffer notifications and transport registers."""

from __future__ import annotations

from ballast.monitors.base import Monitor, MonitorContext
from ballast.monitors.events import Event
from ballast.virtio.features import Feature
from ballast.virtio.status import Status

ACK, DRIVER, FEATURES_OK, DRIVER_OK = (
    int(Status.ACKNOWLEDGE),
    int(Status.DRIVER),
    int(Status.FEATURES_OK),
    int(Status.DRIVER_OK),
)
NEEDS_RESET = int(Status.DEVICE_NEEDS_RESET)
VERSION_1 = 1 << Feature.VIRTIO_F_VERSION_1


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


class MmioDriverAccessMonitor(Monitor):
    """Register access widths and alignment the MMIO register block saw."""

    judges = "driver"
    clauses = ("mmio.driver.registers.04",)

    def on_register_misuse(self, event: Event) -> None:
        if event["block"].startswith("mmio"):
            self.violation(
                "mmio.driver.registers.04", f"{event['register']}: {event['problem']}", event
            )

    def on_status_written(self, event: Event) -> None:
        if self.ctx.transport != "mmio":
            self.not_applicable("mmio.driver.registers.04", "not an MMIO link")
        else:
            self.exercised("mmio.driver.registers.04")


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


class DeviceStatusMonitor(Monitor):
    """What the device does around the driver's DRIVER_OK, when a ring breaks
    (DEVICE_NEEDS_RESET) and after a reset, from the driver's rings, interrupts and status
    reads."""

    judges = "device"
    clauses = (
        "core.device.status.01",
        "core.device.status.02",
        "core.device.status.03",
        "core.device.reset.02",
    )

    def __init__(self, ctx: MonitorContext) -> None:
        # The driver's status and the quiet period after it reset a live device: a driver
        # reset restarts the per-link state, so these live outside reset_state.
        self._status = 0
        self._quiet: Event | None = None  # the reset of a live device, until re-initialization
        self._asked: Event | None = None  # a host request the quiet device must not answer
        super().__init__(ctx)

    def reset_state(self) -> None:
        super().reset_state()
        self._early = False  # a buffer was available before DRIVER_OK
        self._legacy = False  # legacy links may use the device before DRIVER_OK
        self._broken: Event | None = None  # the driver broke a ring; not yet judged
        self._stuck: Event | None = None  # ... and the status showed no DEVICE_NEEDS_RESET
        self._config_irq: Event | None = None

    def on_device_features_seen(self, event: Event) -> None:
        self._legacy = bool(event.data.get("legacy"))
        if self._legacy:
            self.not_applicable("core.device.status.01", "legacy link (core.device.legacy.05)")

    def on_status_set(self, event: Event) -> None:
        value = event["value"]
        started = value & DRIVER_OK and not self._status & DRIVER_OK
        if started and self._early and not self._legacy:
            self.exercised("core.device.status.01")
        self._status = value
        self._quiet = None

    def on_driver_reset(self, event: Event) -> None:
        if self._status & DRIVER_OK:
            self._quiet, self._asked = event, None
        self._status = 0

    def on_statsq_submitted(self, event: Event) -> None:
        if not self._status & DRIVER_OK:
            self._early = True

    def on_host_action(self, event: Event) -> None:
        if self._quiet is not None and event["action"] in ("set_target", "request_stats"):
            self._asked = event

    def on_used_buffer(self, event: Event) -> None:
        if self._quiet is not None:
            self.violation(
                "core.device.reset.02",
                f"queue {event['queue']} buffer {event['head']} used after a reset",
                self._quiet,
                event,
            )
        elif not self._status & DRIVER_OK and not self._legacy:
            self.violation(
                "core.device.status.01",
                f"queue {event['queue']} buffer {event['head']} used before DRIVER_OK",
                event,
            )
        elif self._stuck is not None:
            self.not_applicable(
                "core.device.status.02", "the device went on serving: no error state"
            )

    def on_interrupt(self, event: Event) -> None:
        reasons = event["reasons"]
        if self._quiet is not None:
            if reasons:
                self.violation(
                    "core.device.reset.02",
                    f"{'/'.join(reasons)} notification after a reset",
                    self._quiet,
                    *[e for e in (self._asked,) if e is not None],
                    event,
                )
            elif self._asked is not None:
                self.exercised("core.device.reset.02")
            return
        if "vring" in reasons and not self._status & DRIVER_OK and not self._legacy:
            self.violation(
                "core.device.status.01", "used buffer notification before DRIVER_OK", event
            )
        if "config" in reasons and self._broken is not None:
            self._config_irq = event

    def on_ring_broken(self, event: Event) -> None:
        self._broken, self._stuck, self._config_irq = event, None, None

    def on_device_status_read(self, event: Event) -> None:
        broken = self._broken
        if broken is None:
            return
        self._broken = None
        if not event["value"] & NEEDS_RESET:
            self._stuck = broken
            return
        self.exercised("core.device.status.02")
        if not self._status & DRIVER_OK:
            return
        if self._config_irq is None:
            self.violation(
                "core.device.status.03",
                "DEVICE_NEEDS_RESET set without a configuration change notification",
                broken,
                event,
            )
        else:
            self.exercised("core.device.status.03")

    def on_request_unanswered(self, event: Event) -> None:
        if self._stuck is not None:
            self.violation(
                "core.device.status.02",
                "the device stopped serving after a broken ring, without DEVICE_NEEDS_RESET",
                self._stuck,
                event,
            )


# Feature bits a balloon device may offer (devices bits, then the reserved ones defined for
# the interface in use); SR-IOV and admin virtqueues exist on PCI only.
BALLOON_BITS = frozenset(range(6))
LEGACY_BITS = BALLOON_BITS | {24, 27, 28, 29, 30}
MODERN_BITS = BALLOON_BITS | {28, 29, *range(32, 42), 43}
PCI_ONLY_BITS = frozenset({Feature.VIRTIO_F_SR_IOV, Feature.VIRTIO_F_ADMIN_VQ})
TELL_HOST = 1 << Feature.VIRTIO_BALLOON_F_MUST_TELL_HOST
LEGACY_REQUIRED = (Feature.VIRTIO_F_ANY_LAYOUT, Feature.VIRTIO_F_UNUSED)


def defined_bits(legacy: bool, bus: str) -> frozenset[int]:
    """The feature bits defined for a balloon on this interface and bus."""
    if legacy:
        return LEGACY_BITS
    return MODERN_BITS if bus != "mmio" else MODERN_BITS - PCI_ONLY_BITS


def bits_of(value: int) -> list[int]:
    return [n for n in range(64) if value >> n & 1]


class DeviceFeaturesMonitor(Monitor):
    """The device's feature offer and its FEATURES_OK decisions, as the driver reads them."""

    judges = "device"
    clauses = (
        "core.device.features.02",
        "core.device.features.04",
        "core.device.features.05",
        "core.device.reserved.01",
        "core.device.legacy.08",
    )

    def __init__(self, ctx: MonitorContext) -> None:
        self._negotiated_before: set[int] = set()  # feature sets accepted since power-on
        super().__init__(ctx)

    def reset_state(self) -> None:
        super().reset_state()
        self._offered = 0
        self._legacy = False

    def on_device_features_seen(self, event: Event) -> None:
        value, legacy = event["value"], event.data.get("legacy", False)
        self._offered, self._legacy = value, legacy
        undefined = [n for n in bits_of(value) if n not in defined_bits(legacy, self.ctx.transport)]
        if undefined:
            self.violation(
                "core.device.features.04", f"offers undefined feature bit(s) {undefined}", event
            )
        else:
            self.exercised("core.device.features.04")
        if legacy:
            self.not_applicable("core.device.reserved.01", "legacy interface (32 feature bits)")
            missing = [n for n in LEGACY_REQUIRED if not value >> n & 1]
            if missing:
                names = ", ".join(f"{f.name} ({int(f)})" for f in missing)
                self.violation("core.device.legacy.08", f"legacy offer lacks {names}", event)
            else:
                self.exercised("core.device.legacy.08")
        elif value & VERSION_1:
            self.exercised("core.device.reserved.01")
        else:
            self.violation("core.device.reserved.01", "VIRTIO_F_VERSION_1 not offered", event)
        if not legacy:
            self.not_applicable("core.device.legacy.08", "the link uses the modern interface")

    def on_features_ok_readback(self, event: Event) -> None:
        written, accepted = event.data.get("features", 0), event["accepted"]
        if not self._valid(written):
            return
        if written in self._negotiated_before:
            clause = "core.device.features.05"
            problem = "FEATURES_OK refused for a feature set it accepted before a reset"
        else:
            clause = "core.device.features.02"
            problem = "FEATURES_OK refused for a valid subset of the offer"
        if accepted:
            self.exercised(clause)
            self._negotiated_before.add(written)
        else:
            self.violation(clause, f"{problem}: {written:#x}", event)

    def _valid(self, features: int) -> bool:
        """A subset of the offer with VERSION_1 and, where offered, MUST_TELL_HOST (which
        the device may insist on: balloon.device.features.01)."""
        offered = self._offered
        return (
            not features & ~offered
            and bool(features & VERSION_1)
            and bool(features & TELL_HOST or not offered & TELL_HOST)
        )


class DeviceEarlyConfigMonitor(Monitor):
    """Device configuration read before FEATURES_OK, against what the host set: the
    device's duty, and what a driver using its permission to read early relies on."""

    judges = "device"
    clauses = ("core.device.config.01", "core.driver.init.02")

    def reset_state(self) -> None:
        super().reset_state()
        self._target: int | None = None

    def on_host_action(self, event: Event) -> None:
        if event["action"] == "set_target":
            self._target = event["num_pages"]

    def on_config_seen(self, event: Event) -> None:
        status = event.data.get("status")
        if status is None or status & FEATURES_OK or event["field"] != "num_pages":
            return
        if self._target is None:
            return
        for clause in self.clauses:
            if event["value"] == self._target:
                self.exercised(clause)
            else:
                self.violation(
                    clause,
                    f"num_pages reads {event['value']} before FEATURES_OK; the host set "
                    f"{self._target}",
                    event,
                )


class DeviceLegacyInitMonitor(Monitor):
    """A legacy link's looser initialization: config written before the features are
    read takes effect (the host reads it back), and requests made before DRIVER_OK are
    answered."""

    judges = "device"
    clauses = ("core.device.legacy.04", "core.device.legacy.05")

    def reset_state(self) -> None:
        super().reset_state()
        self._status = 0
        self._features_seen = False
        self._early_write: Event | None = None
        self._read_back: Event | None = None
        self._early_requests: dict[int, Event] = {}

    def on_status_set(self, event: Event) -> None:
        self._status = event["value"]

    def on_actual_written(self, event: Event) -> None:
        if event["complete"] and self._status and not self._features_seen:
            self._early_write = event

    def on_host_action(self, event: Event) -> None:
        if event["action"] == "read_actual" and self._early_write is not None:
            self._read_back = event

    def on_device_features_seen(self, event: Event) -> None:
        self._features_seen = True
        if not event.data.get("legacy"):
            for clause in self.clauses:
                self.not_applicable(clause, "the link uses the modern interface")
            return
        write, read = self._early_write, self._read_back
        if write is None or read is None:
            return
        if read["actual"] == write["value"]:
            self.exercised("core.device.legacy.04")
        else:
            self.violation(
                "core.device.legacy.04",
                f"actual written as {write['value']} before the features were read; the host"
                f" reads {read['actual']}",
                write,
                read,
            )

    def on_inflateq_submitted(self, event: Event) -> None:
        if self._status and not self._status & DRIVER_OK:
            self._early_requests[event["head"]] = event

    def on_used_buffer(self, event: Event) -> None:
        if event["role"] == "inflateq" and self._early_requests.pop(event["head"], None):
            self.exercised("core.device.legacy.05")

    def on_request_unanswered(self, event: Event) -> None:
        early = self._early_requests.get(event["head"])
        if event["role"] == "inflateq" and early is not None:
            self.violation(
                "core.device.legacy.05", "a request made before DRIVER_OK unanswered", early, event
            )


FAILED = int(Status.FAILED)
BALLOON_MASK = (1 << 6) - 1
# Optional configuration fields: byte range and the feature that makes each one exist.
OPTIONAL_CONFIG = (
    (range(8, 12), "free_page_hint_cmd_id", Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT),
    (range(12, 16), "poison_val", Feature.VIRTIO_BALLOON_F_PAGE_POISON),
)


def undefined_mask(legacy: bool, bus: str) -> int:
    """Offered bits the spec does not define for a balloon on this interface and bus."""
    defined = sum(1 << n for n in defined_bits(legacy, bus))
    return ((1 << 32) - 1 if legacy else (1 << 64) - 1) & ~defined


class DriverFeatureBitsMonitor(Monitor):
    """How the driver treats an offer with bits the spec does not define, and one missing
    features it knows (a balloon feature, or VIRTIO_F_VERSION_1 on a modern link); judged
    when the driver resets the device or the test ends."""

    judges = "driver"
    clauses = (
        "core.driver.features.04",
        "core.driver.features.05",
        "core.driver.features.06",
        "core.driver.features.07",
        "core.driver.features.08",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._offered = [0, 0]
        self._read = False
        self._legacy = False
        self._wrote = False
        self._accepted_undefined = False
        self._refused = False
        self._live = False
        self._failed: Event | None = None
        self._after_failed: Event | None = None

    def on_status_written(self, event: Event) -> None:
        value = event["value"]
        self._legacy = bool(event.data.get("legacy"))
        if value == 0:
            self._judge()
            return
        if self._failed is not None:
            self._after_failed = self._after_failed or event
        elif value & FAILED:
            self._failed = event
        self._live = self._live or bool(value & DRIVER_OK)

    def on_features_read(self, event: Event) -> None:
        if event["select"] < 2:
            self._offered[event["select"]] = event["value"]
            self._read = True

    def on_driver_features_written(self, event: Event) -> None:
        select = event["select"]
        self._wrote = True
        if select >= 2:
            return
        undefined = event["value"] << 32 * select & self._undefined()
        if undefined:
            self._accepted_undefined = True
            for clause in ("core.driver.features.05", "core.driver.features.04"):
                self.violation(clause, f"accepted undefined bit(s) {bits_of(undefined)}", event)

    def on_features_ok_decided(self, event: Event) -> None:
        self._refused = self._refused or not event["accepted"]

    def _step(self, event: Event) -> None:
        if self._failed is not None:
            self._after_failed = self._after_failed or event

    on_queue_field_written = on_queue_enabled = on_config_written = _step

    def _undefined(self) -> int:
        return undefined_mask(self._legacy, self.ctx.transport)

    def finish(self) -> None:
        self._judge()

    def _judge(self) -> None:
        if not self._read:
            return
        self._read = False
        offered = self._offered[0] | self._offered[1] << 32
        gave_up = not self._live and not self._refused
        if undefined := offered & self._undefined():
            self._judge_undefined(bits_of(undefined), gave_up)
        if not self._legacy and not offered & VERSION_1:
            self._judge_without_version_1()
        elif offered & BALLOON_MASK != BALLOON_MASK and not self._refused:
            if self._live:
                self.exercised("core.driver.features.06")
            elif gave_up:
                missing = bits_of(BALLOON_MASK & ~offered)
                self.violation(
                    "core.driver.features.06",
                    f"gave up on a device that lacks balloon feature(s) {missing}",
                    *[e for e in (self._failed,) if e is not None],
                )

    def _judge_undefined(self, undefined: list[int], gave_up: bool) -> None:
        if self._wrote and not self._accepted_undefined:
            self.exercised("core.driver.features.05")
        if gave_up:
            for clause in ("core.driver.features.08", "core.driver.features.04"):
                self.violation(
                    clause,
                    f"gave up on a device offering undefined bit(s) {undefined}",
                    *[e for e in (self._failed,) if e is not None],
                )
        elif self._live:
            self.exercised("core.driver.features.08")
            if not self._accepted_undefined:
                self.exercised("core.driver.features.04")

    def _judge_without_version_1(self) -> None:
        clause = "core.driver.features.07"
        if self._live:
            self.not_applicable(clause, "the driver carried on without VIRTIO_F_VERSION_1")
        elif self._failed is None:
            self.violation(clause, "stopped without FAILED: no VIRTIO_F_VERSION_1 offered")
        elif self._after_failed is not None:
            self.violation(clause, "went on after FAILED", self._failed, self._after_failed)
        else:
            self.exercised(clause)


class DriverLegacyFeaturesMonitor(Monitor):
    """The legacy feature bits a transitional driver owes: ANY_LAYOUT accepted when offered,
    bit 30 (UNUSED) left alone."""

    judges = "driver"
    clauses = ("core.driver.legacy.06", "core.driver.legacy.07")

    def reset_state(self) -> None:
        super().reset_state()
        self._offered = 0
        self._legacy = False

    def on_status_written(self, event: Event) -> None:
        self._legacy = bool(event.data.get("legacy"))

    def on_features_read(self, event: Event) -> None:
        if event["select"] == 0:
            self._offered = event["value"]

    def on_driver_features_written(self, event: Event) -> None:
        if event["select"] != 0:
            return
        if not self._legacy:
            for clause in self.clauses:
                self.not_applicable(clause, "the link uses the modern interface")
            return
        value = event["value"]
        for feature, clause, wanted in (
            (Feature.VIRTIO_F_ANY_LAYOUT, "core.driver.legacy.06", True),
            (Feature.VIRTIO_F_UNUSED, "core.driver.legacy.07", False),
        ):
            if not self._offered >> feature & 1:
                continue
            if bool(value >> feature & 1) == wanted:
                self.exercised(clause)
            else:
                done = "declined" if wanted else "accepted"
                self.violation(clause, f"{done} offered {feature.name} ({feature})", event)


class DriverFailureMonitor(Monitor):
    """FAILED and what follows it: no new attempt without a reset, FAILED when FEATURES_OK
    is refused and no further initialization step; FEATURES_OK never set on a legacy
    link."""

    judges = "driver"
    clauses = (
        "core.driver.status.03",
        "core.driver.init.05",
        "core.driver.init.06",
        "core.driver.legacy.05",
    )

    def __init__(self, ctx: MonitorContext) -> None:
        self._gave_up: Event | None = None  # a refusal not met with FAILED, before a reset
        super().__init__(ctx)

    def reset_state(self) -> None:
        super().reset_state()
        self._failed: Event | None = None
        self._refused: Event | None = None
        self._failed_after_refusal = False
        self._continued = False

    def on_status_written(self, event: Event) -> None:
        value = event["value"]
        self._judge_legacy(event)
        if value == 0:
            if self._failed is not None:
                self.exercised("core.driver.status.03")
            self._judge_refusal(reset=True)
            return
        if self._gave_up is not None:
            self.not_applicable("core.driver.init.05", "the driver reset and tried again")
            self._gave_up = None
        if self._failed is not None and not value & FAILED:
            self.violation(
                "core.driver.status.03",
                f"status {value:#x} after FAILED without a reset",
                self._failed,
                event,
            )
        if value & FAILED:
            self._failed = self._failed or event
            self._failed_after_refusal = self._refused is not None
        elif value & DRIVER_OK:
            self._continue(event)

    def _judge_legacy(self, event: Event) -> None:
        clause = "core.driver.legacy.05"
        if not event.data.get("legacy"):
            self.not_applicable(clause, "the link uses the modern interface")
        elif event["value"] & FEATURES_OK:
            self.violation(clause, "FEATURES_OK set on a legacy link", event)
        elif event["value"] & DRIVER_OK:
            self.exercised(clause)

    def on_features_ok_decided(self, event: Event) -> None:
        if not event["accepted"]:
            self._refused = event

    def _continue(self, event: Event) -> None:
        if self._refused is not None:
            self._continued = True
            self.violation(
                "core.driver.init.06",
                f"{event.kind} after the device refused FEATURES_OK",
                self._refused,
                event,
            )

    on_queue_field_written = on_queue_enabled = on_config_written = _continue
    on_queue_notified = _continue

    def _judge_refusal(self, reset: bool) -> None:
        refused = self._refused
        if refused is None:
            return
        self._refused = None
        if not self._continued:
            self.exercised("core.driver.init.06")
        if self._failed_after_refusal:
            self.exercised("core.driver.init.05")
        elif reset:
            self._gave_up = refused
        else:
            self._gave_up_silently(refused)

    def _gave_up_silently(self, refused: Event) -> None:
        self.violation(
            "core.driver.init.05", "gave up on a refused FEATURES_OK without FAILED", refused
        )

    def finish(self) -> None:
        self._judge_refusal(reset=False)
        if self._gave_up is not None:
            self._gave_up_silently(self._gave_up)
            self._gave_up = None


class DriverStatusStepsMonitor(Monitor):
    """Each status bit the driver sets marks a step it has completed: FEATURES_OK after it
    wrote its features, DRIVER_OK after it set up its virtqueues."""

    judges = "driver"
    clauses = ("core.driver.status.01",)

    def reset_state(self) -> None:
        super().reset_state()
        self._features_written = False
        self._queue_live = False

    def on_driver_features_written(self, event: Event) -> None:
        self._features_written = True

    def on_queue_enabled(self, event: Event) -> None:
        self._queue_live = self._queue_live or event["enabled"]

    def on_queue_configured(self, event: Event) -> None:
        self._queue_live = True

    def on_status_written(self, event: Event) -> None:
        added = event["value"] & ~event["previous"]
        missing = []
        if added & FEATURES_OK and not self._features_written:
            missing.append("FEATURES_OK before the driver wrote its features")
        if added & DRIVER_OK and not self._queue_live:
            missing.append("DRIVER_OK before any virtqueue was set up")
        if missing:
            self.violation("core.driver.status.01", "; ".join(missing), event)
        elif added & DRIVER_OK:
            self.exercised("core.driver.status.01")


class DriverNeedsResetMonitor(Monitor):
    """Once the device has set DEVICE_NEEDS_RESET the driver makes no more requests (it
    would be waiting for completions that will not come) until it resets the device."""

    judges = "driver"
    clauses = ("core.driver.status.04",)

    def reset_state(self) -> None:
        super().reset_state()
        self._set: Event | None = None

    def on_needs_reset_set(self, event: Event) -> None:
        self._set = event

    def on_queue_notified(self, event: Event) -> None:
        if self._set is not None:
            self.violation(
                "core.driver.status.04",
                f"queue {event['index']} notified after the device set DEVICE_NEEDS_RESET",
                self._set,
                event,
            )

    def on_status_written(self, event: Event) -> None:
        if event["value"] == 0 and self._set is not None:
            self.exercised("core.driver.status.04")


class DriverResetWaitMonitor(Monitor):
    """After a reset the driver writes no status before the device showed it done (status
    read as 0), judged against a device that takes a few reads to reset."""

    judges = "driver"
    clauses = ("core.driver.reset.01",)

    def on_status_written(self, event: Event) -> None:
        if not event["value"] or "reset_pending" not in event.data:
            return
        if event["reset_pending"]:
            self.violation(
                "core.driver.reset.01",
                f"status {event['value']:#x} written before the reset read back as done",
                event,
            )
        elif event["value"] == ACK and event["previous"] == 0:
            self.exercised("core.driver.reset.01")


class DriverConfigAccessMonitor(Monitor):
    """Accesses to optional configuration fields, against the features the device
    offered."""

    judges = "driver"
    clauses = ("core.driver.config.03",)

    def reset_state(self) -> None:
        super().reset_state()
        self._offered: int | None = None
        self._accessed = False

    def on_features_read(self, event: Event) -> None:
        if event["select"] == 0:
            self._offered = event["value"]

    def _access(self, event: Event) -> None:
        if self._offered is None:
            return
        self._accessed = True
        touched = range(event["offset"], event["offset"] + event["size"])
        for span, name, feature in OPTIONAL_CONFIG:
            if not self._offered >> feature & 1 and set(touched) & set(span):
                self.violation(
                    "core.driver.config.03",
                    f"{event.kind} of {name} although {feature.name} was not offered",
                    event,
                )

    on_config_read = on_config_written = _access

    def finish(self) -> None:
        unoffered = [f for _, _, f in OPTIONAL_CONFIG if not (self._offered or 0) >> f & 1]
        if unoffered and self._accessed:
            self.exercised("core.driver.config.03")


class DriverCleanupMonitor(Monitor):
    """The descriptors of a buffer the device holds, checked by the device when it uses the
    buffer (the queue still live) and when a reset takes it back."""

    judges = "driver"
    clauses = ("core.driver.cleanup.01", "core.driver.cleanup.02")

    def on_exposed_buffer_checked(self, event: Event) -> None:
        live = event["at"] == "use"
        clause = "core.driver.cleanup.01" if live else "core.driver.cleanup.02"
        if event["intact"]:
            self.exercised(clause)
        else:
            when = "while its queue was live" if live else "before the reset"
            self.violation(
                clause, f"queue {event['queue']} buffer {event['head']} altered {when}", event
            )


RING_FIELDS = frozenset({"desc", "avail", "used"})


class DriverQueueResetMonitor(Monitor):
    """A queue reset as the device sees the driver do it: the reset read back as done
    before the queue is touched again, and the ring given anew before it is re-enabled."""

    judges = "driver"
    clauses = ("core.driver.vq-reset.01", "core.driver.vq-reset.03")

    def reset_state(self) -> None:
        super().reset_state()
        self._resets: dict[int, tuple[Event, bool, set[str]]] = {}  # index -> reset, seen, fields

    def on_queue_reset(self, event: Event) -> None:
        self._resets[event["index"]] = (event, False, set())

    def on_queue_reset_read(self, event: Event) -> None:
        found = self._resets.get(event["index"])
        if found is not None and event["value"] == 0:
            self._resets[event["index"]] = (found[0], True, found[2])

    def on_queue_field_written(self, event: Event) -> None:
        found = self._resets.get(event["index"])
        if found is not None:
            self._verified(found, event)
            found[2].add(event["field"])

    def on_queue_enabled(self, event: Event) -> None:
        found = self._resets.pop(event["index"], None)
        if found is None or not event["enabled"]:
            return
        self._verified(found, event)
        missing = sorted(RING_FIELDS - found[2])
        if missing:
            self.violation(
                "core.driver.vq-reset.03",
                f"queue {event['index']} re-enabled without its {', '.join(missing)} address",
                found[0],
                event,
            )
        else:
            self.exercised("core.driver.vq-reset.03")

    def _verified(self, found: tuple[Event, bool, set[str]], event: Event) -> None:
        if found[1]:
            self.exercised("core.driver.vq-reset.01")
        else:
            self.violation(
                "core.driver.vq-reset.01",
                f"queue {event['index']} used again without reading its reset back as done",
                found[0],
                event,
            )

    def finish(self) -> None:
        for reset, seen, _ in self._resets.values():
            if not seen:
                self.violation(
                    "core.driver.vq-reset.01", "a queue reset never read back as done", reset
                )


class DeviceQueueResetMonitor(Monitor):
    """A queue the driver reset (VIRTIO_F_RING_RESET): nothing from it while it is reset
    and nothing from before the reset afterwards; once re-enabled it serves its new ring
    from the start, and at its new size (the ring wraps there without trouble)."""

    judges = "device"
    clauses = (
        "core.device.vq-reset.01",
        "core.device.vq-reset.02",
        "core.device.vq-reset.03",
        "core.driver.vq-reset.02",  # what a driver releasing the reset queue's rings needs
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._reset: dict[int, Event] = {}  # queues reset and not yet live again
        self._asked: Event | None = None
        self._others_used = False
        self._live_again: dict[int, tuple[Event, bool]] = {}  # index -> re-enable, resized
        self._index_of: dict[str, int] = {}
        self._uses: dict[int, int] = {}

    def on_driver_queue_reset(self, event: Event) -> None:
        if self.negotiated(Feature.VIRTIO_F_RING_RESET) is False:
            for clause in self.clauses:
                self.not_applicable(clause, "VIRTIO_F_RING_RESET not negotiated")
            return
        index = event["index"]
        self._index_of[event["role"]] = index
        if event["phase"] == "reset":
            self._reset[index], self._asked, self._others_used = event, None, False
            return
        before = self._reset.pop(index, None)
        resized = before is not None and before["size"] != event["size"]
        self._live_again[index] = (event, resized)
        self._uses[index] = 0

    def on_host_action(self, event: Event) -> None:
        if self._reset and event["action"] == "request_stats":
            self._asked = event

    def on_used_buffer(self, event: Event) -> None:
        index = event["queue"]
        if index in self._reset:
            for clause in ("core.device.vq-reset.01", "core.driver.vq-reset.02"):
                self.violation(
                    clause,
                    f"queue {index} buffer {event['head']} used after the queue was reset",
                    self._reset[index],
                    event,
                )
            return
        self._others_used = True
        if index not in self._live_again:
            return
        enabled, resized = self._live_again[index]
        self._uses[index] += 1
        if not resized:
            self.exercised("core.device.vq-reset.02")
        elif self._uses[index] > enabled["size"]:
            self.exercised("core.device.vq-reset.03")

    def on_used_ring_error(self, event: Event) -> None:
        if event["queue"] in self._live_again:
            self.violation(
                "core.device.vq-reset.01",
                f"queue {event['queue']} re-enabled: {event['detail']} (a buffer from before "
                "the reset came back)",
                self._live_again[event["queue"]][0],
                event,
            )

    def on_interrupt(self, event: Event) -> None:
        if not self._reset or self._asked is None:
            return
        if "vring" in event["reasons"] and not self._others_used:
            self.violation(
                "core.device.vq-reset.01",
                "used buffer notification while a queue was reset (no other queue used any)",
                *self._reset.values(),
                event,
            )
        else:
            self.exercised("core.device.vq-reset.01")
            self.exercised("core.driver.vq-reset.02")

    def _stuck(self, event: Event, index: int | None = None) -> None:
        for queue, (enabled, resized) in self._live_again.items():
            if index is not None and queue != index:
                continue
            clause = "core.device.vq-reset.03" if resized else "core.device.vq-reset.02"
            self.violation(
                clause,
                f"queue {queue} (re-enabled with {enabled['size']} entries) stopped working",
                enabled,
                event,
            )

    def on_request_unanswered(self, event: Event) -> None:
        if event["queue"] in self._live_again:
            self._stuck(event, event["queue"])

    def on_device_status_read(self, event: Event) -> None:
        if self._live_again and event["value"] & NEEDS_RESET:
            self._stuck(event)


MONITORS: tuple[type[Monitor], ...] = (
    DriverInitMonitor,
    DeviceCoreMonitor,
    MmioDriverAccessMonitor,
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
