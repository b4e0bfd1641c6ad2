"""Protocol events: what one side of a virtio link observed of the other.

Every event records its *observer*: the device side reports what the driver did (status
writes, buffers made available, config writes) and the driver side reports what the device
did (used buffers, config contents, interrupts).  The backdoor (guest memory, registers)
reports as observer ``backdoor``.  A monitor that judges a driver clause therefore reads
``observer == "device"`` and ``"backdoor"`` events only, never the driver's own account.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Observer = Literal["device", "driver", "backdoor", "host"]


@dataclass(frozen=True, slots=True)
class Event:
    """One observation. ``kind`` is one of the constants in :class:`Kind`."""

    seq: int
    observer: Observer
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


class Kind:
    """The closed set of event kinds (the ``data`` keys each carries are listed)."""

    # observed by the device side (what the driver did)
    STATUS_WRITTEN = "status_written"  # value, previous, legacy (the interface in use)
    DEVICE_RESET = "device_reset"  # cause: "driver" | "host"
    FEATURES_READ = "features_read"  # select, value
    DRIVER_FEATURES_WRITTEN = "driver_features_written"  # select, value
    FEATURES_OK_DECIDED = "features_ok_decided"  # features, accepted
    QUEUE_CONFIGURED = "queue_configured"  # index, size, desc, avail, used
    QUEUE_ENABLED = "queue_enabled"  # index, enabled
    QUEUE_RESET = "queue_reset"  # index
    QUEUE_NOTIFIED = "queue_notified"  # index, value (the notification value written)
    QUEUE_FIELD_WRITTEN = "queue_field_written"  # index, field, value, enabled
    REGISTER_MISUSE = "register_misuse"  # block, register, offset, width, problem
    CONFIG_READ = "config_read"  # offset, size, value
    GENERATION_READ = "generation_read"  # value
    CONFIG_WRITTEN = "config_written"  # offset, size, value, status
    # queue, role, head, out: [(addr, len)], in_: [(addr, len)], indirect (from a table)
    AVAIL_BUFFER = "avail_buffer"
    RING_ERROR = "ring_error"  # queue, rule, detail: the driver broke a split-ring rule
    DRIVER_OK_SEEN = "driver_ok_seen"  # negotiated, legacy
    BUFFER_USED = "buffer_used"  # queue, role, head, written (the device's own acknowledgement)
    BALLOON_INFLATE = "balloon_inflate"  # head, pfns, length
    BALLOON_DEFLATE = "balloon_deflate"  # head, pfns, length
    STATS_BUFFER = "stats_buffer"  # head, length, entries, held_before, number
    HINT_COMMAND = "hint_command"  # head, length, cmd_id, current
    HINT_PAGES = "hint_pages"  # head, pfns, cmd_id, current, matches
    REPORT_BUFFER = "report_buffer"  # head, ranges
    # observed by the driver side (what the device did, and what the driver settled on)
    DRIVER_NEGOTIATED = "driver_negotiated"  # features, legacy: accepted by the device
    # role, head, request: a buffer the driver is about to make available; request is
    # {"pfns"} (inflateq/deflateq), {"entries"} (statsq), {"cmd_id"} or {"cmd_id", "pfns"}
    # (free_page_vq), {"ranges", "poison_val"} (reporting_vq).  Monitors handle it as
    # on_<role>_submitted.
    REQUEST_SUBMITTED = "request_submitted"
    ACTUAL_WRITTEN = "actual_written"  # value, complete: what the driver wrote to actual
    USED_BUFFER = "used_buffer"  # queue, head, len
    INTERRUPT = "interrupt"  # reason: "vring" | "config"
    DEVICE_STATUS_READ = "device_status_read"  # value
    DEVICE_FEATURES_SEEN = "device_features_seen"  # value
    CONFIG_SEEN = "config_seen"  # field, value, generation
    FEATURES_OK_READBACK = "features_ok_readback"  # status, accepted, features (as written)
    QUEUE_SIZE_SEEN = "queue_size_seen"  # index, role, max_size
    DRIVER_RESET = "driver_reset"  # (no data): the driver reset the device; a status read follows
    REQUEST_UNANSWERED = "request_unanswered"  # queue, role, head, waited (seconds)
    GUEST_DATA_CORRUPTED = "guest_data_corrupted"  # pfn, expected, found, when
    HINT_RELEASED_EARLY = "hint_released_early"  # pfns: hinted pages reused before DONE
    ISR_READ = "isr_read"  # value, repeat (a second read right after the first)
    # PCI, what the driver read of the function (suites/pci_walk.py): the config header,
    # each capability of the list (fields as raw little-endian integers), and registers
    # of the virtio structures (register: a common cfg field name, "isr" or
    # "config_generation"; queue: queue_select in force, or None)
    PCI_FUNCTION_SEEN = "pci_function_seen"  # vendor_id, device_id, revision,
    #   subsystem_vendor_id, subsystem_id, header_type, status, interrupt_pin,
    #   bars: {index: "io" | "memory"} of the implemented BARs
    PCI_CAP_SEEN = "pci_cap_seen"  # pointer, cap_id, next, cap_len, cfg_type, bar, offset,
    #   length, extra (the le32 after the struct: notify_off_multiplier, pci_cfg_data)
    PCI_CAPS_WALKED = "pci_caps_walked"  # count, looped (a pointer came round again)
    PCI_REGISTER_SEEN = "pci_register_seen"  # block, register, value, queue, access:
    #   "read" | "write" (the driver's own account of what it wrote); block "common",
    #   "isr", "device", "legacy" (BAR0 header), "config" (PCI header), "pci_cfg" (through
    #   that window) or "intx" (register "level": the line); device config reads of the
    #   legacy header also carry offset (into the device config) and width
    # backdoor
    PAGE_ACCESS = "page_access"  # pfn, access: "read" | "write", actor: "guest" | "host"
    # host-side actions (the test harness driving the device's host interface)
    HOST_ACTION = "host_action"  # action, args


class EventLog:
    """An append-only, ordered record of events shared by both sides of one link."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._subscribers: list[Callable[[Event], None]] = []

    def emit(self, observer: Observer, kind: str, **data: Any) -> Event:
        event = Event(len(self._events), observer, kind, data)
        self._events.append(event)
        for subscriber in self._subscribers:
            subscriber(event)
        return event

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        self._subscribers.append(callback)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def of(self, kind: str, observer: Observer | None = None) -> list[Event]:
        return [
            e
            for e in self._events
            if e.kind == kind and (observer is None or e.observer == observer)
        ]
