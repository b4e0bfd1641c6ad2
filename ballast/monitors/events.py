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
    # value, previous, legacy (the interface in use), reset_pending (the device still shows
    # an earlier reset as under way: the driver has not read status 0 since)
    STATUS_WRITTEN = "status_written"
    DEVICE_RESET = "device_reset"  # cause: "driver" | "host"
    FEATURES_READ = "features_read"  # select, value
    DRIVER_FEATURES_WRITTEN = "driver_features_written"  # select, value
    FEATURES_OK_DECIDED = "features_ok_decided"  # features, accepted
    QUEUE_CONFIGURED = "queue_configured"  # index, size, desc, avail, used
    QUEUE_ENABLED = "queue_enabled"  # index, enabled
    QUEUE_RESET = "queue_reset"  # index
    QUEUE_RESET_READ = "queue_reset_read"  # index, value: the driver read queue_reset back
    # (no data): the device set DEVICE_NEEDS_RESET (its own state: what the driver must heed)
    NEEDS_RESET_SET = "needs_reset_set"
    # index, value (the notification value written), width (bytes written; 0 where the
    # transport does not say)
    QUEUE_NOTIFIED = "queue_notified"
    QUEUE_FIELD_WRITTEN = "queue_field_written"  # index, field, value, enabled
    REGISTER_MISUSE = "register_misuse"  # block, register, offset, width, problem
    CONFIG_READ = "config_read"  # offset, size, value
    GENERATION_READ = "generation_read"  # value
    CONFIG_WRITTEN = "config_written"  # offset, size, value, status
    STATUS_READ = "status_read"  # value: the driver read device status (PCI)
    ISR_CLEARED = "isr_cleared"  # value: the driver read (and so cleared) ISR status (PCI)
    # offset, width, value, write, cap: an access to the function's PCI configuration space
    # (cap: cfg_type of the virtio capability it falls in, or None)
    PCI_CONFIG_ACCESS = "pci_config_access"
    # vendor, device, revision, modern (has virtio capabilities), quirks (the permitted
    # oddities the function presents, PciOptions names): the driver read the function's IDs
    PCI_ID_READ = "pci_id_read"
    # bar, offset, length, write, covered (the window lies inside a structure another
    # virtio capability names): the driver accessed pci_cfg_data of the PCI cfg capability
    PCI_CFG_WINDOW = "pci_cfg_window"
    # cfg_type, offset: the driver used a structure through a later capability of its type
    PCI_LATER_INSTANCE_USED = "pci_later_instance_used"
    # queue, role, head, out: [(addr, len)], in_: [(addr, len)], indirect (from a table)
    # avail_flags, used_event: the avail ring's suppression fields as the device read them
    AVAIL_BUFFER = "avail_buffer"
    USED_RING_SEEN = "used_ring_seen"  # queue, flags: the used ring when the device took it up
    # queue, old, new, notified, flags, avail_event: the avail idx moved from old to new
    # since the device last served the queue, with a notification or not (found polling),
    # and the used ring's flags and avail_event the driver had to go by
    AVAIL_WINDOW = "avail_window"
    RING_ERROR = "ring_error"  # queue, rule, detail: the driver broke a split-ring rule
    DRIVER_OK_SEEN = "driver_ok_seen"  # negotiated, legacy
    BUFFER_USED = "buffer_used"  # queue, role, head, written (the device's own acknowledgement)
    BALLOON_INFLATE = "balloon_inflate"  # head, pfns, length
    BALLOON_DEFLATE = "balloon_deflate"  # head, pfns, length
    STATS_BUFFER = "stats_buffer"  # head, length, entries, held_before, number
    HINT_COMMAND = "hint_command"  # head, length, cmd_id, current
    HINT_PAGES = "hint_pages"  # head, pfns, cmd_id, current, matches
    REPORT_BUFFER = "report_buffer"  # head, ranges
    # base, register (None: no register there), offset, write, value (read or written),
    # queue (QueueSel at the time): a driver access to a virtio-mmio control register.
    # Not QueueNotify (see QUEUE_NOTIFIED).  InterruptACK writes also carry status (the
    # last InterruptStatus read since the previous ACK or reset, None if none) and seen
    # (the event bits of all those reads); an InterruptStatus read is reported on its own
    # (with repeat: an earlier read since the ACK showed events) only if it is such a
    # repeat or shows undefined bits.
    MMIO_ACCESS = "mmio_access"
    # queue, head, intact, at ("use" | "reset"): whether a buffer the device held still had
    # the descriptors it had when made available
    EXPOSED_BUFFER_CHECKED = "exposed_buffer_checked"
    # observed by the driver side (what the device did, and what the driver settled on)
    DRIVER_NEGOTIATED = "driver_negotiated"  # features, legacy: accepted by the device
    # role, head, request: a buffer the driver is about to make available; request is
    # {"pfns"} (inflateq/deflateq), {"entries"} (statsq), {"cmd_id"} or {"cmd_id", "pfns"}
    # (free_page_vq), {"ranges", "poison_val"} (reporting_vq).  Monitors handle it as
    # on_<role>_submitted.
    REQUEST_SUBMITTED = "request_submitted"
    ACTUAL_WRITTEN = "actual_written"  # value, complete: what the driver wrote to actual
    USED_BUFFER = "used_buffer"  # queue, head, len
    # index, role, size, desc, avail, used, big_endian (ring byte order): the driver's layout
    RING_PLACED = "ring_placed"
    # queue, head, out, in_: [(addr, len)], tables: [(addr, len)] the descriptor entries
    # (and indirect table) written for it, indirect_after (direct descriptors chained before
    # the indirect one, None without a table): the driver's own account of a buffer it exposed
    BUFFER_EXPOSED = "buffer_exposed"
    # queue, flags, used_event: the driver fixed the avail ring's suppression fields
    SUPPRESSION_HELD = "suppression_held"
    INTERRUPT = "interrupt"  # reason: "vring" | "config"
    DEVICE_STATUS_READ = "device_status_read"  # value
    DEVICE_FEATURES_SEEN = "device_features_seen"  # value, legacy (the interface in use)
    # field, value, generation; status (the driver's status) when read during initialization
    CONFIG_SEEN = "config_seen"
    FEATURES_OK_READBACK = "features_ok_readback"  # status, accepted, features (as written)
    QUEUE_SIZE_SEEN = "queue_size_seen"  # index, role, max_size
    DRIVER_RESET = "driver_reset"  # (no data): the driver reset the device; a status read follows
    REQUEST_UNANSWERED = "request_unanswered"  # queue, role, head, waited (seconds)
    GUEST_DATA_CORRUPTED = "guest_data_corrupted"  # pfn, expected, found, when
    HINT_RELEASED_EARLY = "hint_released_early"  # pfns: hinted pages reused before DONE
    ISR_READ = "isr_read"  # value, repeat (a second read right after the first)
    MMIO_IDENTITY_SEEN = "mmio_identity_seen"  # magic, version, device_id (as read)
    INTERRUPT_STATUS_SEEN = "interrupt_status_seen"  # value: MMIO InterruptStatus as read
    INTERRUPT_ACKED = "interrupt_acked"  # mask: what the driver wrote to InterruptACK
    MMIO_RESET_STATE = "mmio_reset_state"  # interrupt_status, ready: {queue: QueueReady}
    # when: "after-reset" | "enabled", values: {queue: QueueReset as read}
    QUEUE_RESET_VALUES = "queue_reset_values"
    QUEUE_RESET_SEEN = "queue_reset_seen"  # index, ready: QueueReady once QueueReset read 0
    QUEUE_REENABLED = "queue_reenabled"  # index, relocated, ready: QueueReady read back
    # index, used: buffers the device used of a request made available and notified on a
    # queue the driver had stopped (QueueReady written 0 and read back 0)
    STOPPED_QUEUE_KICKED = "stopped_queue_kicked"
    # either side: a notification the observer sent with nothing new in it (queue: None
    # for a used buffer notification on a transport that does not name the queue)
    NOTIFY_SENT = "notify_sent"  # queue, spurious
    # index: the driver wrote the queue's 64-bit addresses high half first
    QUEUE_HALVES_HIGH_FIRST = "queue_halves_high_first"
    # offset, width, natural, pieced: a 32-bit config field read whole and in width-byte
    # pieces (put together in bus order) through the legacy interface
    CONFIG_PIECES_SEEN = "config_pieces_seen"
    USED_RING_ERROR = "used_ring_error"  # queue, rule, detail: a used ring the driver rejected
    STATUS_SET = "status_set"  # value: a device status the driver wrote (its own account)
    # index, role, phase ("reset": seen reset, "enabled": live again), size; moved (the
    # ring placed elsewhere, "enabled" only): the driver's own account of a queue reset
    DRIVER_QUEUE_RESET = "driver_queue_reset"
    # queue, rule: the driver side broke a ring rule on purpose (a test provoking an error)
    RING_BROKEN = "ring_broken"
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
