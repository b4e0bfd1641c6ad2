"""Monitors of the memory statistics virtqueue (balloon chapter, "Memory Statistics")."""

from __future__ import annotations

from ballast.monitors.base import Monitor, MonitorContext
from ballast.monitors.events import Event
from ballast.reference import balloon as b
from ballast.reference.balloon import Queue
from ballast.virtio.features import Feature

STATS = Feature.VIRTIO_BALLOON_F_STATS_VQ


def known_tags(ctx: MonitorContext) -> set[int]:
    """Stats tags a device recognises under the chosen ``stats-tags`` reading."""
    tags = set(b.STAT_TAGS)
    if ctx.interpretations.get("stats-tags") == "linux-6.12":
        tags |= set(b.LINUX_612_TAGS)
    return tags


class DriverStatsMonitor(Monitor):
    judges = "driver"
    clauses = (
        "balloon.driver.stats.01",
        "balloon.driver.stats.02",
        "balloon.driver.stats.03",
        "balloon.driver.stats.04",
        "balloon.driver.stats.05",
        "balloon.driver.stats.08",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._live = False
        self._buffers = 0
        self._refill_owed: Event | None = None
        self._subset: frozenset[int] | None = None
        self._multiple = int(self.ctx.interpretations.get("stats-buffer-multiple", "10"))

    def on_driver_ok_seen(self, event: Event) -> None:
        self._live = True
        if not self.negotiated(STATS):
            for clause in self.clauses:
                self.not_applicable(clause, "VIRTIO_BALLOON_F_STATS_VQ not negotiated")

    def on_stats_buffer(self, event: Event) -> None:
        self._buffers += 1
        self._refill_owed = None
        self.exercised("balloon.driver.stats.02")
        if event["held_before"]:
            self.violation(
                "balloon.driver.stats.01",
                "a second stats buffer was made available while one was held",
                event,
            )
        else:
            self.exercised("balloon.driver.stats.01")
        length, entries = event["length"], event["entries"]
        if length % self._multiple:
            self.violation(
                "balloon.driver.stats.05",
                f"stats buffer of {length} bytes is not a multiple of {self._multiple}",
                event,
            )
        else:
            self.exercised("balloon.driver.stats.05")
        tags = [tag for tag, _ in entries]
        if not tags or len(set(tags)) != len(tags):
            self.violation(
                "balloon.driver.stats.04",
                "stats buffer not initialized: "
                + ("no entries" if not tags else f"repeated tags {sorted(tags)}"),
                event,
            )
            return
        self.exercised("balloon.driver.stats.04")
        subset = frozenset(tags)
        if self._subset is None:
            self._subset = subset
        elif subset != self._subset:
            self.violation(
                "balloon.driver.stats.08",
                f"tags {sorted(subset)} differ from the first buffer's {sorted(self._subset)}",
                event,
            )
        else:
            self.exercised("balloon.driver.stats.08")

    def on_buffer_used(self, event: Event) -> None:
        if event["role"] == Queue.STATS:
            self._refill_owed = event

    def finish(self) -> None:
        if not self._live or not self.negotiated(STATS):
            return
        if self._buffers == 0:
            self.violation(
                "balloon.driver.stats.02",
                "no stats buffer was made available after initialization",
                {"buffers": 0},
            )
        if self._refill_owed is not None:
            self.violation(
                "balloon.driver.stats.03",
                "the device used the stats buffer and no new one followed",
                self._refill_owed,
            )
        elif self._buffers > 1:
            self.exercised("balloon.driver.stats.03")


class DeviceStatsMonitor(Monitor):
    """What the device reports through its host interface must reflect what the driver
    sent, whatever the tag order and with unknown tags skipped."""

    judges = "device"
    clauses = (
        "balloon.device.stats.01",
        "balloon.device.stats.02",
        "balloon.driver.stats.06",
        "balloon.driver.stats.07",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._sent: list[tuple[int, int]] | None = None
        self._submissions = 0

    def on_statsq_submitted(self, event: Event) -> None:
        self._submissions += 1
        if self.legacy_link and self._submissions == 1:
            return  # the device should ignore the first legacy buffer (legacy monitor)
        self._sent = event["request"]["entries"]
        self._sent_event = event

    def on_host_action(self, event: Event) -> None:
        if event["action"] != "read_stats" or self._sent is None:
            return
        reported: dict[int, int] = event["stats"]
        known = known_tags(self.ctx)
        sent = self._sent
        missing = [(t, v) for t, v in sent if t in known and reported.get(t) != v]
        tags = [t for t, _ in sent]
        known_order = [t for t in tags if t in known]
        unordered = known_order != sorted(known_order)
        first_unknown = next((i for i, t in enumerate(tags) if t not in known), None)
        evidence = (self._sent_event, event)
        if first_unknown is not None:
            after = [t for t, _ in missing if tags.index(t) > first_unknown]
            if after:
                self.violation(
                    "balloon.device.stats.01",
                    f"tags {after} after unknown tag {tags[first_unknown]} were not taken",
                    *evidence,
                )
            else:
                self.exercised("balloon.device.stats.01")
        if unordered:
            if missing:
                for clause in ("balloon.device.stats.02", "balloon.driver.stats.06"):
                    self.violation(
                        clause,
                        f"entries sent out of tag order were dropped: {[t for t, _ in missing]}",
                        *evidence,
                    )
            else:
                self.exercised("balloon.device.stats.02")
                self.exercised("balloon.driver.stats.06")
        if len(set(tags) & known) < len(known):
            if missing and not unordered and first_unknown is None:
                self.violation(
                    "balloon.driver.stats.07",
                    f"a subset of statistics was not taken: {[t for t, _ in missing]}",
                    *evidence,
                )
            elif not missing:
                self.exercised("balloon.driver.stats.07")
