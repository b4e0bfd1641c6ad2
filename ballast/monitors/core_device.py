"""Monitors judging the device on the core rules: status around DRIVER_OK and
DEVICE_NEEDS_RESET, a quiet device after a reset, its feature offer and FEATURES_OK
decisions, config before FEATURES_OK, legacy initialization and virtqueue reset."""

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
