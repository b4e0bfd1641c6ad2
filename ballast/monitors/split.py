"""Monitors of the split clauses (see ballast.monitors.base)."""

from __future__ import annotations

from ballast.monitors.base import Monitor
from ballast.monitors.events import Event
from ballast.virtio.features import Feature
from ballast.virtio.splitq import QueueRule

INDIRECT = Feature.VIRTIO_F_INDIRECT_DESC

# The split.driver clause each device-side ring check enforces.
RULE_CLAUSES: dict[str, str] = {
    QueueRule.MISALIGNED: "split.driver.virtqueue.01",
    QueueRule.LOOP: "split.driver.desc.01",
    QueueRule.CHAIN_TOO_BIG: "split.driver.desc.01",
    QueueRule.CHAIN_TOO_LONG: "split.driver.indirect.03",
    QueueRule.INDIRECT_NOT_NEGOTIATED: "split.driver.indirect.01",
    QueueRule.NESTED_INDIRECT: "split.driver.indirect.02",
    QueueRule.INDIRECT_WITH_NEXT: "split.driver.indirect.04",
    QueueRule.WRITE_BEFORE_READ: "split.driver.framing.01",
}


class DriverRingMonitor(Monitor):
    """The descriptor chains and ring layout the driver exposes, as the device side checks
    them: it validates every chain it pops and reports a broken rule as RING_ERROR, so a
    chain it took without complaint (AVAIL_BUFFER) kept every rule."""

    judges = "driver"
    clauses = tuple(dict.fromkeys(RULE_CLAUSES.values()))

    def on_ring_error(self, event: Event) -> None:
        clause = RULE_CLAUSES.get(event["rule"])
        if clause is not None:
            self.violation(clause, f"queue {event['queue']}: {event['detail']}", event)

    def on_avail_buffer(self, event: Event) -> None:
        # Layout, termination and length are at stake in every chain; the ordering only
        # where a chain has several elements, the table rules only where it used a table.
        for clause in (
            "split.driver.virtqueue.01",
            "split.driver.desc.01",
            "split.driver.indirect.03",
        ):
            self.exercised(clause)
        indirect = self.negotiated(INDIRECT)
        if indirect:
            self.not_applicable("split.driver.indirect.01", "VIRTIO_F_INDIRECT_DESC negotiated")
        elif indirect is False:
            self.exercised("split.driver.indirect.01")
        if len(event["out"]) + len(event["in_"]) < 2:
            return
        self.exercised("split.driver.framing.01")
        if event.data.get("indirect"):
            self.exercised("split.driver.indirect.02")
            self.exercised("split.driver.indirect.04")


MONITORS: tuple[type[Monitor], ...] = (DriverRingMonitor,)
