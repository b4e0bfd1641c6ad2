"""Monitors of the mmio clauses (see ballast.monitors.base).

Driver clauses are judged from the register block's account of every control register
access (``MMIO_ACCESS``, with the slot's base), so the order of accesses, not only their
effect, is visible; device clauses from what the driver's transport read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ballast.monitors.base import Monitor
from ballast.monitors.events import Event
from ballast.virtio.features import Feature
from ballast.virtio.layout import ISR_CONFIG, ISR_VRING, MMIO_MAGIC, MMIO_QUEUE_LAYOUT, Mmio
from ballast.virtio.status import Status

DEFINED_INTERRUPTS = ISR_VRING | ISR_CONFIG
IDENTITY = (Mmio.MAGIC_VALUE, Mmio.VERSION, Mmio.DEVICE_ID)
CONFIG_FIELD_WIDTH = 4  # every balloon config field is 32 bits wide
MISUSE_CLAUSES = {
    "undefined": "mmio.driver.registers.01",
    "write-to-read-only": "mmio.driver.registers.02",
    "read-of-write-only": "mmio.driver.registers.03",
    "width": "mmio.driver.registers.04",
}
_DRIVER_OK = int(Status.DRIVER_OK)
_FAILED = int(Status.FAILED)


def _is(event: Event, offset: int, write: bool) -> bool:
    return event["offset"] == offset and event["write"] == write


class MmioDriverAccessMonitor(Monitor):
    """What the register block saw: undefined offsets, writes to read-only and reads of
    write-only registers, control register widths; and device config access widths."""

    judges = "driver"
    clauses = (*MISUSE_CLAUSES.values(), "mmio.driver.registers.05")

    def on_register_misuse(self, event: Event) -> None:
        if event["block"].startswith("mmio"):
            where = event["register"] or f"offset {event['offset']:#x}"
            self.violation(MISUSE_CLAUSES[event["problem"]], f"{where}: {event['problem']}", event)

    def on_status_written(self, event: Event) -> None:
        for clause in MISUSE_CLAUSES.values():
            if self.ctx.transport != "mmio":
                self.not_applicable(clause, "not an MMIO link")
            else:
                self.exercised(clause)

    def on_config_read(self, event: Event) -> None:
        self._config_access(event)

    def on_config_written(self, event: Event) -> None:
        self._config_access(event)

    def _config_access(self, event: Event) -> None:
        if self.ctx.transport != "mmio":
            self.not_applicable("mmio.driver.registers.05", "not an MMIO link")
        elif event["size"] != CONFIG_FIELD_WIDTH or event["offset"] % CONFIG_FIELD_WIDTH:
            self.violation(
                "mmio.driver.registers.05",
                f"{event['size']}-byte config access at {event['offset']:#x} to a 32-bit field",
                event,
            )
        else:
            self.exercised("mmio.driver.registers.05")


@dataclass
class _Slot:
    """What the driver read of one slot's identity before touching anything else."""

    read: dict[int, int] = field(default_factory=dict)
    started: bool = False  # the driver went beyond the identity registers
    violated: set[str] = field(default_factory=set)

    @property
    def valid(self) -> bool:
        """MagicValue and Version read and acceptable (Version 1 is the legacy interface)."""
        return self.read.get(Mmio.MAGIC_VALUE) == MMIO_MAGIC and self.read.get(Mmio.VERSION) in (
            1,
            2,
        )

    def must_ignore(self) -> list[str]:
        """The clauses that make the driver leave this slot alone, by what it read."""
        if Mmio.MAGIC_VALUE in self.read and self.read[Mmio.MAGIC_VALUE] != MMIO_MAGIC:
            return ["mmio.driver.registers.06"]
        if Mmio.VERSION in self.read and self.read[Mmio.VERSION] not in (1, 2):
            return ["mmio.driver.registers.08"]
        if self.valid and self.read.get(Mmio.DEVICE_ID) == 0:
            return ["mmio.driver.init.04", "mmio.driver.registers.10", "mmio.driver.init.03"]
        return []


class MmioProbeMonitor(Monitor):
    """The start of each slot's life: MagicValue and Version read first, then DeviceID,
    and nothing more of a slot whose identity says the driver must ignore it."""

    judges = "driver"
    clauses = (
        "mmio.driver.init.01",
        "mmio.driver.init.02",
        "mmio.driver.init.03",
        "mmio.driver.init.04",
        "mmio.driver.registers.06",
        "mmio.driver.registers.08",
        "mmio.driver.registers.10",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._slots: dict[int, _Slot] = {}  # kept across device resets
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def on_mmio_access(self, event: Event) -> None:
        slot = self._slots.setdefault(event["base"], _Slot())
        offset = event["offset"]
        if offset in IDENTITY and not event["write"]:
            slot.read.setdefault(offset, event["value"])
            return
        if not slot.started:
            slot.started = True
            self._judge_start(slot, event)
        for clause in slot.must_ignore():
            if clause == "mmio.driver.registers.10" and not event["write"]:
                continue  # reading is not yet acting on it
            if clause == "mmio.driver.init.03" and not _is(event, Mmio.STATUS, True):
                continue  # initialization starts with a status write
            if clause not in slot.violated:
                slot.violated.add(clause)
                self.violation(
                    clause,
                    f"{event['register'] or hex(offset)} accessed at {event['base']:#x} "
                    f"after reading {self._identity(slot)}",
                    event,
                )

    def _judge_start(self, slot: _Slot, event: Event) -> None:
        missing = [r.name for r in IDENTITY[:2] if r not in slot.read]
        if missing:
            self.violation(
                "mmio.driver.init.01", f"{event['register']} accessed before {missing}", event
            )
        else:
            self.exercised("mmio.driver.init.01")
        if slot.valid and Mmio.DEVICE_ID not in slot.read:
            self.violation(
                "mmio.driver.init.02", f"{event['register']} accessed before DeviceID", event
            )
        elif slot.valid:
            self.exercised("mmio.driver.init.02")

    @staticmethod
    def _identity(slot: _Slot) -> str:
        return ", ".join(f"{Mmio(k).name}={v:#x}" for k, v in sorted(slot.read.items()))

    def finish(self) -> None:
        """A slot the driver had to ignore and left alone: that is the clause met."""
        for slot in self._slots.values():
            for clause in slot.must_ignore():
                if clause not in slot.violated:
                    self.exercised(clause)


class MmioInterruptMonitor(Monitor):
    """InterruptStatus reads and InterruptACK writes of a live device: read before
    acknowledging, acknowledge what was read (defined bits only) before reading again, and
    carry on through undefined bits.  The register block folds ordinary reads into the ACK
    that follows them (``Kind.MMIO_ACCESS``)."""

    judges = "driver"
    clauses = (
        "mmio.driver.notify.01",
        "mmio.driver.notify.03",
        "mmio.driver.registers.18",
        "mmio.driver.registers.19",
        "mmio.driver.registers.20",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._live: set[int] = set()  # bases the driver set DRIVER_OK on
        self._noise: Event | None = None  # a read with undefined bits, driver not yet on
        self._noise_acked = False  # ... and the ACK of that interrupt came

    def on_mmio_access(self, event: Event) -> None:
        if _is(event, Mmio.STATUS, True):
            self._status(event)
        elif event["base"] not in self._live:
            return
        elif _is(event, Mmio.INTERRUPT_STATUS, False):
            self._read(event)
        elif _is(event, Mmio.INTERRUPT_ACK, True):
            self._ack(event)

    def _status(self, event: Event) -> None:
        value = event["value"]
        if self._noise is not None and (value == 0 or value & _FAILED):
            self.violation(
                "mmio.driver.registers.18",
                f"status {value:#x} written after InterruptStatus showed undefined bits",
                self._noise,
                event,
            )
            self._noise = None
        if value & _DRIVER_OK:
            self._live.add(event["base"])
        elif value == 0:
            self._live.discard(event["base"])

    def _read(self, event: Event) -> None:
        if event["repeat"]:
            self.violation(
                "mmio.driver.notify.03",
                "InterruptStatus read again without acknowledging the events it showed",
                event,
            )
        self._carried_on()
        if event["value"] & ~DEFINED_INTERRUPTS:
            self._noise, self._noise_acked = event, False

    def _carried_on(self) -> None:
        """A further interrupt after one with undefined bits: the driver ignored them."""
        if self._noise is not None and self._noise_acked:
            self.exercised("mmio.driver.registers.18")
            self._noise = None

    def _ack(self, event: Event) -> None:
        mask, status = event["value"], event["status"]
        if status is None:
            self.violation(
                "mmio.driver.notify.01", f"InterruptACK {mask:#x} without reading the status", event
            )
        else:
            self.exercised("mmio.driver.notify.01")
            handled = status & DEFINED_INTERRUPTS
            if handled & ~mask or mask & DEFINED_INTERRUPTS & ~event["seen"]:
                self.violation(
                    "mmio.driver.registers.19",
                    f"InterruptACK {mask:#x} after reading InterruptStatus {status:#x}",
                    event,
                )
            else:
                self.exercised("mmio.driver.registers.19")
            if handled:
                self.exercised("mmio.driver.notify.03")
        if mask & ~DEFINED_INTERRUPTS:
            self.violation("mmio.driver.registers.20", f"InterruptACK {mask:#x}", event)
        else:
            self.exercised("mmio.driver.registers.20")
        self._carried_on()
        if self._noise is not None:
            self._noise_acked = True


@dataclass
class _QueueState:
    """Per slot: which selectors were written since the last reset, what QueueSizeMax
    showed, and which queues are ready."""

    device_select: bool = False
    driver_select: bool = False
    max_size: dict[int, int] = field(default_factory=dict)
    ready: set[int] = field(default_factory=set)


class MmioQueueRulesMonitor(Monitor):
    """Feature selectors before feature registers, QueueSize within QueueSizeMax, and no
    queue layout register touched while the queue is ready."""

    judges = "driver"
    clauses = (
        "mmio.driver.registers.12",
        "mmio.driver.registers.13",
        "mmio.driver.registers.14",
        "mmio.driver.registers.15",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._slots: dict[int, _QueueState] = {}

    def on_mmio_access(self, event: Event) -> None:
        state = self._slots.setdefault(event["base"], _QueueState())
        offset, write, value, queue = (
            event["offset"],
            event["write"],
            event["value"],
            event["queue"],
        )
        if offset == Mmio.STATUS and write and value == 0:
            self._slots[event["base"]] = _QueueState()
        elif offset == Mmio.DEVICE_FEATURES_SEL and write:
            state.device_select = True
        elif offset == Mmio.DRIVER_FEATURES_SEL and write:
            state.driver_select = True
        elif offset == Mmio.DEVICE_FEATURES and not write:
            self._selected("mmio.driver.registers.12", state.device_select, event)
        elif offset == Mmio.DRIVER_FEATURES and write:
            self._selected("mmio.driver.registers.13", state.driver_select, event)
        elif offset == Mmio.QUEUE_SIZE_MAX and not write:
            state.max_size[queue] = value
        elif offset == Mmio.QUEUE_RESET and write and value == 1:
            state.ready.discard(queue)  # touching it before the reset is done: registers.21
        elif offset == Mmio.QUEUE_READY and write:
            if value:
                state.ready.add(queue)
                self.exercised("mmio.driver.registers.15")
            else:
                state.ready.discard(queue)
        if offset in MMIO_QUEUE_LAYOUT and queue in state.ready:
            self.violation(
                "mmio.driver.registers.15",
                f"{event['register']} of ready queue {queue} accessed",
                event,
            )
        if offset == Mmio.QUEUE_SIZE and write and queue in state.max_size:
            if value > state.max_size[queue]:
                self.violation(
                    "mmio.driver.registers.14",
                    f"QueueSize {value} for queue {queue} whose QueueSizeMax is "
                    f"{state.max_size[queue]}",
                    event,
                )
            else:
                self.exercised("mmio.driver.registers.14")

    def _selected(self, clause: str, selected: bool, event: Event) -> None:
        if selected:
            self.exercised(clause)
        else:
            self.violation(clause, f"{event['register']} accessed before its selector", event)


class MmioQueueResetMonitor(Monitor):
    """After writing 1 to QueueReset, nothing of the queue's layout is touched (nor the
    queue enabled) before QueueReset read back 0."""

    judges = "driver"
    clauses = ("mmio.driver.registers.21",)

    def reset_state(self) -> None:
        super().reset_state()
        self._pending: dict[int, Event] = {}  # queue -> its QueueReset write

    def on_mmio_access(self, event: Event) -> None:
        offset, write, queue = event["offset"], event["write"], event["queue"]
        if _is(event, Mmio.STATUS, True) and event["value"] == 0:
            self._pending.clear()
        elif offset == Mmio.QUEUE_RESET and write and event["value"] == 1:
            self._pending[queue] = event
        elif offset == Mmio.QUEUE_RESET and not write and event["value"] == 0:
            if self._pending.pop(queue, None) is not None:
                self.exercised("mmio.driver.registers.21")
        elif queue in self._pending and (
            offset in MMIO_QUEUE_LAYOUT or _is(event, Mmio.QUEUE_READY, True)
        ):
            self.violation(
                "mmio.driver.registers.21",
                f"queue {queue}: {event['register']} written before QueueReset read back 0",
                self._pending.pop(queue),
                event,
            )


class MmioQueueStopMonitor(Monitor):
    """A write of 0 to QueueReady is read back before the driver writes anything else."""

    judges = "driver"
    clauses = ("mmio.driver.registers.17",)

    def reset_state(self) -> None:
        super().reset_state()
        self._stopping: Event | None = None  # the QueueReady 0 write not yet read back

    def on_mmio_access(self, event: Event) -> None:
        stopping = self._stopping
        if _is(event, Mmio.QUEUE_READY, True) and event["value"] == 0:
            self._stopping = event
        elif stopping is None:
            return
        elif _is(event, Mmio.QUEUE_READY, False) and event["queue"] == stopping["queue"]:
            self.exercised("mmio.driver.registers.17")
            self._stopping = None
        elif event["write"] and not _is(event, Mmio.QUEUE_SEL, True):
            self._unread(event)

    def _unread(self, *evidence: Event) -> None:
        assert self._stopping is not None
        self.violation(
            "mmio.driver.registers.17",
            f"QueueReady 0 for queue {self._stopping['queue']} not read back",
            self._stopping,
            *evidence,
        )
        self._stopping = None

    def finish(self) -> None:
        if self._stopping is not None:
            self._unread()


class MmioDeviceQueueResetMonitor(Monitor):
    """QueueReset and QueueReady as the driver read them around device and queue resets,
    and whether the device serves a queue the driver reset and enabled again (in place, or
    with a new layout: the driver MAYs the device must tolerate)."""

    judges = "device"
    clauses = (
        "mmio.device.registers.08",
        "mmio.device.registers.09",
        "mmio.device.registers.10",
        "mmio.device.registers.12",
        "mmio.driver.registers.22",
        "mmio.driver.registers.23",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._restarted: dict[int, str] = {}  # queue -> the clause its service answers

    def on_queue_reset_values(self, event: Event) -> None:
        clause = {"after-reset": "mmio.device.registers.08", "enabled": "mmio.device.registers.09"}[
            event["when"]
        ]
        if not self.negotiated(Feature.VIRTIO_F_RING_RESET):
            self.not_applicable(clause, "VIRTIO_F_RING_RESET not negotiated")
            return
        set_ = sorted(q for q, value in event["values"].items() if value)
        if set_:
            self.violation(clause, f"QueueReset reads non-zero for queue(s) {set_}", event)
        else:
            self.exercised(clause)

    def on_queue_reset_seen(self, event: Event) -> None:
        if event["ready"]:
            self.violation(
                "mmio.device.registers.12",
                f"queue {event['index']}: QueueReady reads {event['ready']} once QueueReset "
                "reads 0",
                event,
            )
        else:
            self.exercised("mmio.device.registers.12")

    def on_queue_reenabled(self, event: Event) -> None:
        if not event["ready"]:
            self.violation(
                "mmio.driver.registers.22",
                f"queue {event['index']} reads QueueReady 0 after being enabled again",
                event,
            )
            return
        self.exercised("mmio.driver.registers.22")
        relocated = event["relocated"]
        clause = "mmio.driver.registers.23" if relocated else "mmio.device.registers.10"
        self._restarted[event["index"]] = clause

    def on_used_buffer(self, event: Event) -> None:
        clause = self._restarted.pop(event["queue"], None)
        if clause is not None:
            self.exercised(clause)

    def on_request_unanswered(self, event: Event) -> None:
        clause = self._restarted.pop(event["queue"], None)
        if clause is not None:
            self.violation(
                clause,
                f"queue {event['queue']} reset and enabled again does not use a request",
                event,
            )


_DRIVER = int(Status.DRIVER)
_FEATURES_OK = int(Status.FEATURES_OK)


@dataclass
class _InitState:
    """One slot's initialization so far (since its last reset)."""

    version: int = 2
    status: int = 0
    offer_read: bool = False
    features_written: bool = False
    wrong: Event | None = None  # the first step out of order


class MmioInitOrderMonitor(Monitor):
    """The steps of the core initialization as the register block sees them, in order:
    DRIVER before the device features are read, those before the driver's are written,
    FEATURES_OK (the driver's features on version 1) before a queue goes live, and only
    then DRIVER_OK."""

    judges = "driver"
    clauses = ("mmio.driver.init.06",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._slots: dict[int, _InitState] = {}  # kept across device resets
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def on_mmio_access(self, event: Event) -> None:
        state = self._slots.setdefault(event["base"], _InitState())
        offset, write, value = event["offset"], event["write"], event["value"]
        if offset == Mmio.VERSION and not write:
            state.version = value
        elif offset == Mmio.STATUS and write:
            self._status(event["base"], state, event)
        elif offset == Mmio.DEVICE_FEATURES and not write:
            state.offer_read = True
            self._needs(state, state.status & _DRIVER, event)
        elif offset == Mmio.DRIVER_FEATURES and write:
            state.features_written = True
            self._needs(state, state.offer_read, event)
        elif offset in (Mmio.QUEUE_READY, Mmio.QUEUE_PFN) and write and value:
            live = state.status & _FEATURES_OK if state.version == 2 else True
            self._needs(state, live and state.features_written, event)

    def _status(self, base: int, state: _InitState, event: Event) -> None:
        value = event["value"]
        if value == 0:
            self._slots[base] = _InitState(version=state.version)
            return
        state.status = value
        if value & _DRIVER_OK and not value & _FAILED and state.wrong is None:
            self.exercised("mmio.driver.init.06")

    def _needs(self, state: _InitState, met: object, event: Event) -> None:
        if not met and state.wrong is None:
            state.wrong = event
            self.violation(
                "mmio.driver.init.06",
                f"{event['register']} accessed out of the initialization order "
                f"(status {state.status:#x})",
                event,
            )


class MmioDeviceMonitor(Monitor):
    """The device's registers as the driver's transport read them: identity, interrupt
    status until acknowledged, state after a reset, and the config generation."""

    judges = "device"
    clauses = (
        "mmio.device.registers.01",
        "mmio.device.registers.02",
        "mmio.device.registers.03",
        "mmio.device.registers.04",
        "mmio.device.registers.05",
        "mmio.device.registers.06",
        "mmio.device.registers.07",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._unacked = 0  # defined bits read and not acknowledged since
        self._config: dict[str, Event] = {}  # the last CONFIG_SEEN of each field

    def on_mmio_identity_seen(self, event: Event) -> None:
        if event["magic"] != MMIO_MAGIC:
            self.violation(
                "mmio.device.registers.01", f"MagicValue reads {event['magic']:#x}", event
            )
        else:
            self.exercised("mmio.device.registers.01")
        if self.legacy_link:
            self.not_applicable("mmio.device.registers.02", "legacy link: Version 1")
        elif event["version"] != 2:
            self.violation(
                "mmio.device.registers.02", f"Version reads {event['version']:#x}", event
            )
        else:
            self.exercised("mmio.device.registers.02")

    def on_interrupt_status_seen(self, event: Event) -> None:
        value = event["value"]
        if value & ~DEFINED_INTERRUPTS:
            self.violation("mmio.device.registers.04", f"InterruptStatus reads {value:#x}", event)
        elif value:
            self.exercised("mmio.device.registers.04")
        vanished = self._unacked & ~value
        if vanished:
            self.violation(
                "mmio.device.registers.03",
                f"InterruptStatus bit(s) {vanished:#x} cleared before InterruptACK",
                event,
            )
        elif self._unacked:
            self.exercised("mmio.device.registers.03")
        self._unacked |= value & DEFINED_INTERRUPTS

    def on_interrupt_acked(self, event: Event) -> None:
        self._unacked &= ~event["mask"]

    def on_mmio_reset_state(self, event: Event) -> None:
        ready = sorted(q for q, value in event["ready"].items() if value)
        if event["interrupt_status"] or ready:
            self.violation(
                "mmio.device.registers.05",
                f"after a reset InterruptStatus reads {event['interrupt_status']:#x}, "
                f"QueueReady is set for queue(s) {ready}",
                event,
            )
        else:
            self.exercised("mmio.device.registers.05")

    def on_stopped_queue_kicked(self, event: Event) -> None:
        if event["used"]:
            self.violation(
                "mmio.device.registers.07",
                f"queue {event['index']} used {event['used']} buffer(s) while QueueReady is 0",
                event,
            )
        else:
            self.exercised("mmio.device.registers.07")

    def on_config_seen(self, event: Event) -> None:
        clause = "mmio.device.registers.06"
        if self.ctx.transport != "mmio" or self.legacy_link:
            self.not_applicable(clause, "no ConfigGeneration on this link")
            return
        if event["generation"] is None:
            return
        before = self._config.get(event["field"])
        self._config[event["field"]] = event
        if before is None or before["value"] == event["value"]:
            return
        if before["generation"] == event["generation"]:
            self.violation(
                clause,
                f"{event['field']} changed from {before['value']} to {event['value']} "
                f"under the same ConfigGeneration {event['generation']}",
                before,
                event,
            )
        else:
            self.exercised(clause)


MONITORS: tuple[type[Monitor], ...] = (
    MmioDriverAccessMonitor,
    MmioProbeMonitor,
    MmioInterruptMonitor,
    MmioQueueRulesMonitor,
    MmioQueueResetMonitor,
    MmioQueueStopMonitor,
    MmioInitOrderMonitor,
    MmioDeviceMonitor,
    MmioDeviceQueueResetMonitor,
)
