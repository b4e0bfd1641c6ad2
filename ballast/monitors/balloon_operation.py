"""Monitors of inflation and deflation (balloon chapter, "Device Operation")."""

from __future__ import annotations

from ballast.monitors.base import Monitor
from ballast.monitors.events import Event
from ballast.monitors.ledger import BalloonLedger
from ballast.reference import balloon as b
from ballast.reference.balloon import Queue
from ballast.virtio.features import Feature
from ballast.virtio.memory import PAGE_SIZE

TELL = Feature.VIRTIO_BALLOON_F_MUST_TELL_HOST
OOM = Feature.VIRTIO_BALLOON_F_DEFLATE_ON_OOM


class _PagesMonitor(Monitor):
    """Shared plumbing: a ledger fed first, and guest page accesses from the backdoor."""

    judges = "driver"

    def reset_state(self) -> None:
        super().reset_state()
        self.ledger = BalloonLedger()

    def feed(self, event: Event) -> None:
        """Handlers see the ledger as it was before the event, then it is brought up to date."""
        super().feed(event)
        if event.observer != self.judges:
            self.ledger.feed(event)


class DriverOperationMonitor(_PagesMonitor):
    """The driver's handling of ballooned pages and of ``actual``."""

    clauses = (
        "balloon.driver.operation.01",
        "balloon.driver.operation.04",
        "balloon.driver.operation.06",
        "balloon.driver.operation.07",
        "balloon.driver.operation.09",
        "balloon.driver.operation.10",
        "balloon.driver.operation.11",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._actual = bytearray(4)
        self._target_events: list[Event] = []
        self._oom_hold = False  # deflated below num_pages on memory pressure (DEFLATE_ON_OOM)

    def on_balloon_inflate(self, event: Event) -> None:
        self.ctx.watch(event["pfns"])

    def on_balloon_deflate(self, event: Event) -> None:
        pfns = event["pfns"]
        early = [p for p in pfns if p in self.ledger.inflating]
        if early:
            self.violation(
                "balloon.driver.operation.10",
                f"deflate request names {len(early)} page(s) whose inflate request "
                f"was not yet acknowledged (e.g. PFN {early[0]:#x})",
                event,
            )
        elif any(p in self.ledger.ballooned for p in pfns):
            self.exercised("balloon.driver.operation.10")
        after = self.ledger.size - sum(1 for p in pfns if p in self.ledger.ballooned)
        if self.negotiated(OOM):
            self.not_applicable("balloon.driver.operation.04", "DEFLATE_ON_OOM negotiated")
            self._oom_hold = self._oom_hold or after < self.ledger.num_pages
        elif after < self.ledger.num_pages:
            self.violation(
                "balloon.driver.operation.04",
                f"deflating to {after} pages, below num_pages {self.ledger.num_pages}, "
                "without DEFLATE_ON_OOM",
                event,
            )
        else:
            self.exercised("balloon.driver.operation.04")

    def on_page_access(self, event: Event) -> None:
        if event["actor"] != "guest":
            return
        pfn = event["pfn"]
        ledger = self.ledger
        if pfn in ledger.inflating:
            self.violation(
                "balloon.driver.operation.09",
                f"guest {event['access']} of PFN {pfn:#x} after it was added to the "
                "inflateq, before the device acknowledged",
                event,
            )
        elif pfn in ledger.deflating:
            if self.negotiated(TELL):
                self.violation(
                    "balloon.driver.operation.07",
                    f"guest {event['access']} of PFN {pfn:#x} before the device "
                    "acknowledged its deflate request (MUST_TELL_HOST)",
                    event,
                )
        elif pfn in ledger.ballooned:
            self.violation(
                "balloon.driver.operation.06",
                f"guest {event['access']} of PFN {pfn:#x}, in the balloon and never "
                "named in a deflate request",
                event,
            )
        elif pfn in ledger.returned:
            ledger.returned.discard(pfn)
            self.ctx.unwatch([pfn])
            self.exercised("balloon.driver.operation.06")
            if self.negotiated(TELL):
                self.exercised("balloon.driver.operation.07")

    def on_buffer_used(self, event: Event) -> None:
        if event["role"] == Queue.INFLATE and self.ledger.pfns_of(Queue.INFLATE, event["head"]):
            self.exercised("balloon.driver.operation.09")

    def on_config_written(self, event: Event) -> None:
        data = event["value"].to_bytes(event["size"], "little")
        for i, byte in enumerate(data):
            if b.ACTUAL <= event["offset"] + i < b.ACTUAL + 4:
                self._actual[event["offset"] + i - b.ACTUAL] = byte
        if int.from_bytes(self._actual, "little") == self.ledger.size and self.ledger.changed:
            self.ledger.changed = False
            self.exercised("balloon.driver.operation.11")

    def on_host_action(self, event: Event) -> None:
        if event["action"] == "set_target":
            # a deflate on OOM holds until the host asks for a different size: asking for
            # the same num_pages again is not a new request to refill (Linux reads it so too)
            if not self._target_events or (
                self._target_events[-1]["num_pages"] != event["num_pages"]
            ):
                self._oom_hold = False
            self._target_events.append(event)

    def finish(self) -> None:
        ledger = self.ledger
        actual = int.from_bytes(self._actual, "little")
        if ledger.changed and actual != ledger.size:
            self.violation(
                "balloon.driver.operation.11",
                f"the balloon holds {ledger.size} pages but actual reads {actual}",
                {"balloon": ledger.size, "actual": actual},
            )
        if ledger.size and not self.negotiated(OOM):
            self.exercised("balloon.driver.operation.04")  # held the balloon throughout
        if self._target_events and not self._oom_hold:
            if ledger.num_pages > ledger.size + len(ledger.inflating):
                self.violation(
                    "balloon.driver.operation.01",
                    f"num_pages is {ledger.num_pages} but the driver supplied only "
                    f"{ledger.size} pages",
                    self._target_events[-1],
                )
            elif ledger.num_pages > 0:
                self.exercised("balloon.driver.operation.01")


class PageContentToleranceMonitor(_PagesMonitor):
    """The device MAY modify ballooned pages: a driver must not rely on their old contents
    (the first guest access to a returned page must not be a read)."""

    clauses = ("balloon.device.operation.01", "balloon.device.operation.02")

    def reset_state(self) -> None:
        super().reset_state()
        self._rewritten: set[int] = set()  # written by the guest while its deflate was pending

    def on_page_access(self, event: Event) -> None:
        pfn = event["pfn"]
        if event["actor"] != "guest":
            return
        if pfn in self.ledger.deflating and event["access"] == "write":
            self._rewritten.add(pfn)
            return
        if pfn not in self.ledger.returned:
            return
        self.ledger.returned.discard(pfn)  # only the first access after the ack tells
        if pfn in self._rewritten:
            self._rewritten.discard(pfn)
            return
        clause = (
            "balloon.device.operation.02"
            if self.negotiated(TELL)
            else "balloon.device.operation.01"
        )
        if event["access"] == "read":
            self.violation(
                clause,
                f"the guest read PFN {pfn:#x} back from the balloon before "
                "writing it: it relies on contents the device may have changed",
                event,
            )
        else:
            self.exercised(clause)

    def on_balloon_inflate(self, event: Event) -> None:
        self.ctx.watch(event["pfns"])


class DeviceAckMonitor(Monitor):
    """Driver MAY clauses whose permission the device must tolerate: judged on whether the
    device acknowledges the requests the permission allows."""

    judges = "device"
    clauses = (
        "balloon.driver.operation.02",
        "balloon.driver.operation.03",
        "balloon.driver.operation.05",
        "balloon.driver.operation.08",
        "balloon.driver.operation.12",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._num_pages = 0
        self._balloon = 0
        self._actual = 0
        self._deflating: set[int] = set()
        self._early_writes: dict[int, Event] = {}

    def on_config_seen(self, event: Event) -> None:
        if event["field"] == "num_pages":
            self._num_pages = event["value"]

    def on_used_buffer(self, event: Event) -> None:
        role, pfns = event["role"], (event.data.get("request") or {}).get("pfns", [])
        if role == Queue.DEFLATE:
            self._deflating.difference_update(pfns)
        if role == Queue.INFLATE:
            if self._balloon >= self._num_pages:
                self.exercised("balloon.driver.operation.03")
            self._balloon += len(pfns)
        elif role == Queue.DEFLATE:
            self.exercised(self._deflate_clause())
            self._balloon -= len(pfns)
        if role in (Queue.INFLATE, Queue.DEFLATE) and self._actual != self._balloon:
            self.exercised("balloon.driver.operation.12")

    def on_actual_written(self, event: Event) -> None:
        self._actual = event["value"]

    def on_deflateq_submitted(self, event: Event) -> None:
        pfns = event["request"]["pfns"]
        self._deflating.update(pfns)
        self.ctx.watch(pfns)

    def on_page_access(self, event: Event) -> None:
        pfn = event["pfn"]
        if event["actor"] == "guest" and event["access"] == "write" and pfn in self._deflating:
            self._early_writes[pfn] = event

    def finish(self) -> None:
        if not self._early_writes or self.negotiated(TELL) or self.ctx.read_memory is None:
            return
        lost = [
            e
            for pfn, e in self._early_writes.items()
            if not any(self.ctx.read_memory(pfn << b.PFN_SHIFT, PAGE_SIZE))
        ]
        if lost:
            self.violation(
                "balloon.driver.operation.08",
                f"data the guest wrote to {len(lost)} page(s) after their deflate "
                "request, before the ack, was lost",
                *lost[:3],
            )
        else:
            self.exercised("balloon.driver.operation.08")

    def on_request_unanswered(self, event: Event) -> None:
        role = event["role"]
        if role == Queue.INFLATE and self._balloon >= self._num_pages:
            self.violation(
                "balloon.driver.operation.03",
                "the device did not acknowledge an inflate request beyond num_pages",
                event,
            )
        elif role == Queue.DEFLATE:
            self.violation(
                self._deflate_clause(),
                "the device did not acknowledge a permitted deflate request",
                event,
            )
        elif role == Queue.INFLATE:
            self.violation(
                "balloon.driver.operation.12",
                "the device stopped acknowledging before actual was updated",
                event,
            )

    def _deflate_clause(self) -> str:
        below_target = self._balloon <= self._num_pages
        return (
            "balloon.driver.operation.05"
            if below_target and self.negotiated(OOM)
            else "balloon.driver.operation.02"
        )
