"""Monitors of the split clauses (see ballast.monitors.base)."""

from __future__ import annotations

from ballast.monitors.base import Monitor
from ballast.monitors.events import Event
from ballast.virtio.features import Feature
from ballast.virtio.splitq import Buffer, QueueRule, need_event
from ballast.virtio.status import Status

INDIRECT = Feature.VIRTIO_F_INDIRECT_DESC
EVENT_IDX = Feature.VIRTIO_F_EVENT_IDX
NEEDS_RESET = int(Status.DEVICE_NEEDS_RESET)
FAILED = int(Status.FAILED)

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
    QueueRule.AVAIL_DECREMENT: "split.driver.avail.01",
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
        # Layout, termination, length and a forward-moving idx are at stake in every
        # chain; the ordering only where a chain has several elements, the table rules
        # only where it used a table.
        for clause in (
            "split.driver.virtqueue.01",
            "split.driver.desc.01",
            "split.driver.indirect.03",
            "split.driver.avail.01",
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


class DriverSuppressionMonitor(Monitor):
    """The notification suppression fields the driver owns: the avail ring's flags as the
    device read them with each chain, and the used ring's flags as the driver left them
    when the device first took the ring up."""

    judges = "driver"
    clauses = (
        "split.driver.used-suppression.01",
        "split.driver.used-suppression.03",
        "split.driver.avail-suppression.01",
    )

    def on_avail_buffer(self, event: Event) -> None:
        event_idx = self.negotiated(EVENT_IDX)
        if event_idx is None or "avail_flags" not in event.data:
            return
        flags = event["avail_flags"]
        clause, allowed = (
            ("split.driver.used-suppression.03", (0,))
            if event_idx
            else ("split.driver.used-suppression.01", (0, 1))
        )
        other = "split.driver.used-suppression.0" + ("1" if event_idx else "3")
        self.not_applicable(other, f"VIRTIO_F_EVENT_IDX {'' if event_idx else 'not '}negotiated")
        if flags in allowed:
            self.exercised(clause)
        else:
            self.violation(clause, f"queue {event['queue']}: avail ring flags {flags:#x}", event)

    def on_used_ring_seen(self, event: Event) -> None:
        if event["flags"]:
            self.violation(
                "split.driver.avail-suppression.01",
                f"queue {event['queue']}: used ring flags {event['flags']:#x} when taken up",
                event,
            )
        else:
            self.exercised("split.driver.avail-suppression.01")


class DriverSpuriousMonitor(Monitor):
    """After a used buffer notification with nothing new in the used ring, the driver must
    carry on: setting FAILED is a violation, a buffer it makes available afterwards shows
    it coped."""

    judges = "driver"
    clauses = ("split.driver.used-suppression.05",)

    def reset_state(self) -> None:
        super().reset_state()
        self._spurious: Event | None = None

    def on_notify_sent(self, event: Event) -> None:
        if event["spurious"]:
            self._spurious = event

    def on_status_written(self, event: Event) -> None:
        if self._spurious is not None and event["value"] & FAILED:
            self.violation(
                "split.driver.used-suppression.05",
                f"status {event['value']:#x} sets FAILED after a spurious notification",
                self._spurious,
                event,
            )

    def on_avail_buffer(self, event: Event) -> None:
        if self._spurious is not None:
            self.exercised("split.driver.used-suppression.05")


class DeviceRingWriteMonitor(Monitor):
    """What the device may only read: each buffer's device-readable elements and the
    descriptor entries (and indirect table) describing it, snapshotted through the backdoor
    when the driver exposes the buffer and compared when the driver reaps it.  The driver
    does not touch either in between, so any change is the device's."""

    judges = "device"
    clauses = ("split.device.desc.01", "split.device.desc.04")

    def reset_state(self) -> None:
        super().reset_state()
        self._snapshots: dict[tuple[int, int], tuple[Event, list[bytes], list[bytes]]] = {}

    def on_buffer_exposed(self, event: Event) -> None:
        if self.ctx.read_memory is None:
            return
        self._snapshots[event["queue"], event["head"]] = (
            event,
            self._read(event["out"]),
            self._read(event["tables"]),
        )

    def on_used_buffer(self, event: Event) -> None:
        snapshot = self._snapshots.pop((event["queue"], event["head"]), None)
        if snapshot is None:
            return
        exposed, out, tables = snapshot
        for clause, ranges, before, what in (
            ("split.device.desc.01", exposed["out"], out, "device-readable element"),
            ("split.device.desc.04", exposed["tables"], tables, "descriptor table range"),
        ):
            if not ranges:
                continue
            now = self._read(ranges)
            changed = [r for r, old, new in zip(ranges, before, now, strict=True) if old != new]
            if changed:
                addr, length = changed[0]
                self.violation(
                    clause,
                    f"queue {event['queue']} buffer {event['head']}: {what} "
                    f"[{addr:#x}, +{length:#x}) changed while the device held it",
                    exposed,
                    event,
                )
            else:
                self.exercised(clause)

    def _read(self, ranges: list[Buffer]) -> list[bytes]:
        assert self.ctx.read_memory is not None
        return [self.ctx.read_memory(addr, length) for addr, length in ranges]


class DeviceUsedFlagsMonitor(Monitor):
    """The used ring's flags, which only the device writes, read through the backdoor each
    time the driver reaps a buffer."""

    judges = "device"
    clauses = ("split.device.avail-suppression.01", "split.device.avail-suppression.03")

    def reset_state(self) -> None:
        super().reset_state()
        self._rings: dict[int, Event] = {}

    def on_ring_placed(self, event: Event) -> None:
        self._rings[event["index"]] = event

    def on_used_buffer(self, event: Event) -> None:
        ring = self._rings.get(event["queue"])
        event_idx = self.negotiated(EVENT_IDX)
        if ring is None or event_idx is None or self.ctx.read_memory is None:
            return
        raw = self.ctx.read_memory(ring["used"], 2)
        flags = int.from_bytes(raw, "big" if ring["big_endian"] else "little")
        clause, allowed = (
            ("split.device.avail-suppression.03", (0,))
            if event_idx
            else ("split.device.avail-suppression.01", (0, 1))
        )
        other = "split.device.avail-suppression.0" + ("1" if event_idx else "3")
        self.not_applicable(other, f"VIRTIO_F_EVENT_IDX {'' if event_idx else 'not '}negotiated")
        if flags in allowed:
            self.exercised(clause)
        else:
            self.violation(clause, f"queue {event['queue']}: used ring flags {flags:#x}", event)


class _KeepsServing(Monitor):
    """Base: once the driver did something the device must take in its stride (``_arm``),
    the device must go on serving: DEVICE_NEEDS_RESET or a request left unanswered is a
    violation of ``clause``; a buffer used afterwards shows it coped."""

    judges = "device"
    clause: str

    def reset_state(self) -> None:
        super().reset_state()
        self._cause: Event | None = None

    def _arm(self, cause: Event) -> None:
        self._cause = cause

    def on_device_status_read(self, event: Event) -> None:
        if self._cause is not None and event["value"] & NEEDS_RESET:
            self._broken(event, f"status {event['value']:#x} sets DEVICE_NEEDS_RESET")

    def on_request_unanswered(self, event: Event) -> None:
        if self._cause is not None:
            self._broken(event, f"{event['role']} request {event['head']} unanswered")

    def on_used_buffer(self, event: Event) -> None:
        if self._cause is not None:
            self.exercised(self.clause)

    def _broken(self, event: Event, what: str) -> None:
        assert self._cause is not None
        self.violation(self.clause, f"after {self._what(self._cause)}: {what}", self._cause, event)

    def _what(self, cause: Event) -> str:
        raise NotImplementedError


class DeviceSpuriousNotifyMonitor(_KeepsServing):
    """A notification that made nothing new available."""

    clause = "split.device.avail-suppression.05"
    clauses = (clause,)

    def on_notify_sent(self, event: Event) -> None:
        if event["spurious"]:
            self._arm(event)

    def _what(self, cause: Event) -> str:
        return f"a spurious notification of queue {cause['queue']}"


class DeviceIndirectChainMonitor(_KeepsServing):
    """A buffer whose indirect table follows zero or more chained direct descriptors."""

    clause = "split.device.indirect.02"
    clauses = (clause,)

    def on_buffer_exposed(self, event: Event) -> None:
        if event.data.get("indirect_after") is not None:
            self._arm(event)

    def _what(self, cause: Event) -> str:
        return (
            f"queue {cause['queue']} buffer {cause['head']} with its indirect table after "
            f"{cause['indirect_after']} direct descriptor(s)"
        )


class DeviceUsedNotifyMonitor(Monitor):
    """Used buffer notifications while the driver holds one queue's avail flags and
    used_event fixed (SUPPRESSION_HELD).  Each host action closes a window: the used idx
    before and after it (read through the backdoor) say which entries the device wrote,
    and the driver's interrupt acknowledgements after it exposed the window's buffer
    whether a notification came (QEMU raises the vring ISR bit with every configuration
    change, which the host action causes before anything is written).  A window in which
    another queue used a buffer, or the fields changed, says nothing and is skipped."""

    judges = "device"
    clauses = (
        "split.device.used-suppression.01",
        "split.device.used-suppression.02",
        "split.device.used-suppression.04",
        "split.device.used-suppression.05",
        "split.device.used-suppression.06",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._rings: dict[int, Event] = {}
        self._held: Event | None = None
        self._old = 0
        self._notified = False
        self._exposed = False
        self._tainted = False

    def on_ring_placed(self, event: Event) -> None:
        self._rings[event["index"]] = event

    def on_suppression_held(self, event: Event) -> None:
        if self.ctx.read_memory is not None and event["queue"] in self._rings:
            self._held = event
            self._open()

    def on_buffer_exposed(self, event: Event) -> None:
        if self._held is not None and event["queue"] == self._held["queue"]:
            self._exposed = True

    def on_used_buffer(self, event: Event) -> None:
        if self._held is not None and event["queue"] != self._held["queue"]:
            self._tainted = True

    def on_interrupt(self, event: Event) -> None:
        if self._exposed and "vring" in event["reasons"]:
            self._notified = True

    def on_host_action(self, event: Event) -> None:
        self._close()

    def finish(self) -> None:
        self._close()

    def _u16(self, offset: int, part: str) -> int:
        assert self._held is not None and self.ctx.read_memory is not None
        ring = self._rings[self._held["queue"]]
        raw = self.ctx.read_memory(ring[part] + offset, 2)
        return int.from_bytes(raw, "big" if ring["big_endian"] else "little")

    def _open(self) -> None:
        self._old = self._u16(2, "used")
        self._notified = self._exposed = self._tainted = False

    def _close(self) -> None:
        held = self._held
        event_idx = self.negotiated(EVENT_IDX)
        if held is None or event_idx is None:
            return
        new, old = self._u16(2, "used"), self._old
        size = self._rings[held["queue"]]["size"]
        flags, used_event = held["flags"], held["used_event"]
        kept = (self._u16(0, "avail"), self._u16(4 + 2 * size, "avail")) == (flags, used_event)
        if new != old and kept and not self._tainted:
            self._judge(event_idx, flags, need_event(used_event, new, old), old, new)
        self._open()

    def _judge(self, event_idx: bool, flags: int, reached: bool, old: int, new: int) -> None:
        """``reached``: the window wrote the entry at used_event."""
        held = self._held
        assert held is not None
        if event_idx and reached:
            clause = "split.device.used-suppression.0" + ("4" if flags & 1 else "5")
        elif event_idx:
            clause = "split.device.used-suppression.06"
        elif flags & 1:
            clause = "split.device.used-suppression.02"
        elif not reached:
            clause = "split.device.used-suppression.01"  # flags ask, used_event would not
        else:
            return  # used_event would not have held a notification back: proves nothing
        must = clause != "split.device.used-suppression.06" and not (flags & 1 and not event_idx)
        if self._notified == must:
            self.exercised(clause)
            return
        self.violation(
            clause,
            f"queue {held['queue']}: used idx {old} -> {new} with avail flags {flags:#x} and "
            f"used_event {held['used_event']}: {'no' if must else 'a'} used buffer notification",
            held,
        )


class DriverNotifyMonitor(Monitor):
    """The driver's available buffer notifications, judged per window the device reports
    (AVAIL_WINDOW): the entries the driver wrote since the device last served the queue,
    whether a notification announced them, and the suppression fields the driver read."""

    judges = "driver"
    clauses = tuple(f"split.driver.avail-suppression.0{n}" for n in range(2, 8))

    def on_avail_window(self, event: Event) -> None:
        event_idx = self.negotiated(EVENT_IDX)
        if event_idx is None:
            return
        flags, avail_event = event["flags"], event["avail_event"]
        reached = need_event(avail_event, event["new"], event["old"])
        if event_idx:
            number = (5 if flags & 1 else 6) if reached else 7
        elif flags & 1:
            number = 3
        else:
            number = 4 if reached else 2  # 2: avail_event would have held it back
        clause = f"split.driver.avail-suppression.0{number}"
        must = number not in (3, 7)
        if event["notified"] == must:
            self.exercised(clause)
            return
        self.violation(
            clause,
            f"queue {event['queue']}: avail idx {event['old']} -> {event['new']} with used "
            f"flags {flags:#x} and avail_event {avail_event}: "
            f"{'no' if must else 'a'} available buffer notification",
            event,
        )


MONITORS: tuple[type[Monitor], ...] = (
    DriverRingMonitor,
    DriverSuppressionMonitor,
    DriverNotifyMonitor,
    DriverSpuriousMonitor,
    DeviceRingWriteMonitor,
    DeviceUsedFlagsMonitor,
    DeviceSpuriousNotifyMonitor,
    DeviceIndirectChainMonitor,
    DeviceUsedNotifyMonitor,
)
