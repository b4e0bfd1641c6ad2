"""Monitors judging the driver on the core rules: feature bits it must ignore or accept,
FAILED and what follows it, status bits and resets, optional config fields, exposed
buffers, legacy feature bits and virtqueue reset."""

from __future__ import annotations

from ballast.monitors.base import Monitor, MonitorContext
from ballast.monitors.core_device import (
    ACK,
    DRIVER_OK,
    FEATURES_OK,
    VERSION_1,
    bits_of,
    defined_bits,
)
from ballast.monitors.events import Event
from ballast.virtio.features import Feature
from ballast.virtio.status import Status

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
