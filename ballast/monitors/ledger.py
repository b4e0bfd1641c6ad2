"""Where every ballooned page is, reconstructed from what the device observed.

Several monitors need the same bookkeeping (which pages are being inflated, are in the
balloon, are being deflated, have just come back); they each keep a ledger fed with the
device-observed events, so no monitor depends on another's state.
"""

from __future__ import annotations

from ballast.monitors.events import Event, Kind
from ballast.reference.balloon import Queue


class BalloonLedger:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget everything: a device reset empties the balloon."""
        self.inflating: dict[int, int] = {}  # pfn -> head of its inflate request
        self.ballooned: set[int] = set()
        self.deflating: dict[int, int] = {}  # pfn -> head of its deflate request
        self.returned: set[int] = set()  # deflate acknowledged, not touched by the guest yet
        self._requests: dict[tuple[str, int], list[int]] = {}
        self.num_pages = 0
        self.changed = False  # balloon size changed since actual last matched it

    @property
    def size(self) -> int:
        """Pages in the balloon as far as the device is concerned (acknowledged inflates,
        not yet acknowledged deflates)."""
        return len(self.ballooned)

    def feed(self, event: Event) -> None:
        if event.observer != "device" and event.kind != Kind.HOST_ACTION:
            return
        kind = event.kind
        if kind == Kind.BALLOON_INFLATE:
            self._requests[(Queue.INFLATE, event["head"])] = event["pfns"]
            for pfn in event["pfns"]:
                self.inflating[pfn] = event["head"]
        elif kind == Kind.BALLOON_DEFLATE:
            self._requests[(Queue.DEFLATE, event["head"])] = event["pfns"]
            for pfn in event["pfns"]:
                self.deflating[pfn] = event["head"]
        elif kind == Kind.BUFFER_USED and event["role"] in (Queue.INFLATE, Queue.DEFLATE):
            pfns = self._requests.pop((event["role"], event["head"]), [])
            self.changed = self.changed or bool(pfns)
            if event["role"] == Queue.INFLATE:
                for pfn in pfns:
                    self.inflating.pop(pfn, None)
                    self.ballooned.add(pfn)
                    self.returned.discard(pfn)
            else:
                for pfn in pfns:
                    self.deflating.pop(pfn, None)
                    if pfn in self.ballooned:
                        self.ballooned.discard(pfn)
                        self.returned.add(pfn)
        elif kind == Kind.HOST_ACTION and event["action"] == "set_target":
            self.num_pages = event["num_pages"]
        elif kind == Kind.DEVICE_RESET:
            self.clear()

    def pfns_of(self, role: str, head: int) -> list[int]:
        return self._requests.get((role, head), [])
