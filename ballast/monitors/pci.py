"""Monitors of the pci clauses (see ballast.monitors.base)."""

from __future__ import annotations

from ballast.monitors.base import Monitor
from ballast.monitors.events import Event
from ballast.virtio.features import Feature, has
from ballast.virtio.layout import (
    PCI_CAP_ID_VNDR,
    STATUS_CAP_LIST,
    TRANSITIONAL_PCI_DEVICE_IDS,
    CapType,
)

# --- judging the device

TRANSITIONAL_IDS = range(0x1000, 0x1040)
MODERN_IDS = range(0x1040, 0x1080)
HEADER_END = 0x40  # capabilities live after the standard header
VIRTIO_CAP_LEN = 16  # struct virtio_pci_cap
EXTENDED_CAP_LEN = {CapType.NOTIFY: 20, CapType.PCI_CFG: 20, CapType.SHARED_MEMORY: 24}
PRESENCE = {
    CapType.COMMON: "pci.device.common.02",
    CapType.NOTIFY: "pci.device.notify.01",
    CapType.ISR: "pci.device.isr.01",
    CapType.PCI_CFG: "pci.device.cfg-access.01",
}
ALIGNMENT = {  # cfg_type -> (clause, alignment of cap.offset)
    CapType.COMMON: ("pci.device.common.01", 4),
    CapType.DEVICE: ("pci.device.devcfg.01", 4),
    CapType.NOTIFY: ("pci.device.notify.02", 2),
}
KNOWN_TYPES = frozenset(CapType) - {CapType.VENDOR}  # vendor data has its own layout
NOTIFY_WIDTH = 2  # a notification without VIRTIO_F_NOTIFICATION_DATA is 16 bits


def transitional_id(device_id: int) -> bool:
    return device_id in TRANSITIONAL_IDS


class DeviceCapabilityMonitor(Monitor):
    """The configuration header and capability list a driver walked, and the notify
    window against every queue's notify offset."""

    judges = "device"
    clauses = (
        "pci.device.general.01",
        *PRESENCE.values(),
        "pci.device.caps.01",
        *(clause for clause, _ in ALIGNMENT.values()),
        "pci.device.notify.03",
        "pci.device.notify.04",
        "pci.device.notify.05",
        "pci.device.notify.06",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._function: Event | None = None
        self._caps: list[Event] = []
        self._offered: int | None = None
        self._short_queues: list[Event] = []
        self._queues_checked = 0

    def on_pci_function_seen(self, event: Event) -> None:
        self._function = event
        self._caps = []

    def on_pci_cap_seen(self, event: Event) -> None:
        self._caps.append(event)

    def on_device_features_seen(self, event: Event) -> None:
        self._offered = event["value"]

    def _virtio_caps(self, cfg_type: int) -> list[Event]:
        return [
            c for c in self._caps if c["cap_id"] == PCI_CAP_ID_VNDR and c["cfg_type"] == cfg_type
        ]

    def on_pci_caps_walked(self, event: Event) -> None:
        function = self._function
        if function is None:
            return
        self._judge_header(function, event)
        virtio = [c for c in self._caps if c["cap_id"] == PCI_CAP_ID_VNDR]
        if not virtio and transitional_id(function["device_id"]):
            for clause in (*PRESENCE.values(), "pci.device.caps.01"):
                self.not_applicable(clause, "a legacy device: no virtio capabilities")
            return
        for cfg_type, clause in PRESENCE.items():
            if self._virtio_caps(cfg_type):
                self.exercised(clause)
            else:
                self.violation(
                    clause, f"no {cfg_type.name} capability among {len(virtio)}", function, event
                )
        self._judge_lengths(virtio)
        for cfg_type, (clause, alignment) in ALIGNMENT.items():
            self._judge_alignment(cfg_type, clause, alignment)
        for cap in self._virtio_caps(CapType.NOTIFY):
            self._judge_notify(cap)

    def _judge_header(self, function: Event, walked: Event) -> None:
        problems = []
        if walked["looped"]:
            problems.append("the capability list loops")
        outside = [c["pointer"] for c in self._caps if c["pointer"] < HEADER_END]
        if outside:
            problems.append(f"capabilities inside the standard header at {outside}")
        if bool(function["status"] & STATUS_CAP_LIST) != bool(self._caps):
            problems.append(f"Status {function['status']:#x} and {len(self._caps)} capabilities")
        if function["header_type"] & 0x7F:
            problems.append(f"header type {function['header_type']:#x} is not type 0")
        if function["interrupt_pin"] > 4:
            problems.append(f"Interrupt Pin {function['interrupt_pin']} is not INTA#-INTD#")
        if problems:
            self.violation("pci.device.general.01", "; ".join(problems), function, walked)
        else:
            self.exercised("pci.device.general.01")

    def _judge_lengths(self, virtio: list[Event]) -> None:
        for cap in virtio:
            if cap["cfg_type"] not in KNOWN_TYPES:
                continue
            needed = EXTENDED_CAP_LEN.get(cap["cfg_type"], VIRTIO_CAP_LEN)
            if cap["cap_len"] < needed:
                self.violation(
                    "pci.device.caps.01",
                    f"{CapType(cap['cfg_type']).name} capability at {cap['pointer']:#x} has "
                    f"cap_len {cap['cap_len']} < {needed}",
                    cap,
                )
            else:
                self.exercised("pci.device.caps.01")

    def _judge_alignment(self, cfg_type: CapType, clause: str, alignment: int) -> None:
        caps = self._virtio_caps(cfg_type)
        if cfg_type == CapType.NOTIFY and self._notification_data(clause):
            return
        for cap in caps:
            if cap["offset"] % alignment:
                self.violation(
                    clause,
                    f"{cfg_type.name} structure at offset {cap['offset']:#x} is not "
                    f"{alignment}-byte aligned",
                    cap,
                )
            else:
                self.exercised(clause)

    def _notification_data(self, *clauses: str) -> bool:
        """Whether the device offers VIRTIO_F_NOTIFICATION_DATA (the notify clauses here
        are for devices that do not); unknown counts as not offered, as on QEMU."""
        offered = self._offered is not None and has(
            self._offered, Feature.VIRTIO_F_NOTIFICATION_DATA
        )
        for clause in clauses if offered else ():
            self.not_applicable(clause, "the device offers VIRTIO_F_NOTIFICATION_DATA")
        return offered

    def _judge_notify(self, cap: Event) -> None:
        if self._notification_data("pci.device.notify.03", "pci.device.notify.04"):
            return
        multiplier = cap["extra"]
        if multiplier and (multiplier & (multiplier - 1) or multiplier % 2):
            self.violation(
                "pci.device.notify.03",
                f"notify_off_multiplier {multiplier} is not 0 or 2^n, n>0",
                cap,
            )
        else:
            self.exercised("pci.device.notify.03")
        if cap["length"] < NOTIFY_WIDTH:
            self.violation("pci.device.notify.04", f"notify cap.length {cap['length']} < 2", cap)
        else:
            self.exercised("pci.device.notify.04")

    def on_pci_register_seen(self, event: Event) -> None:
        if event["register"] != "queue_notify_off" or event["access"] != "read":
            return
        caps = self._virtio_caps(CapType.NOTIFY)
        if not caps or self._notification_data("pci.device.notify.05", "pci.device.notify.06"):
            return
        self._queues_checked += 1
        for cap in caps:
            end = event["value"] * cap["extra"] + NOTIFY_WIDTH
            if cap["length"] < end:
                self.violation(
                    "pci.device.notify.06",
                    f"queue {event['queue']}: notify offset {event['value']} x "
                    f"{cap['extra']} + 2 = {end} > cap.length {cap['length']}",
                    cap,
                    event,
                )
                self._short_queues.append(event)
            else:
                self.exercised("pci.device.notify.06")

    def finish(self) -> None:
        """The window must serve every queue the device has: judged once all were read."""
        if self._short_queues:
            queues = sorted({e["queue"] for e in self._short_queues})
            self.violation(
                "pci.device.notify.05",
                f"the notify window does not reach queue(s) {queues}",
                *self._short_queues[:2],
            )
        elif self._queues_checked:
            self.exercised("pci.device.notify.05")


class DeviceIdentityMonitor(Monitor):
    """Revision and subsystem IDs against the kind of device the Device ID announces."""

    judges = "device"
    clauses = (
        "pci.device.discovery.05",
        "pci.device.discovery.06",
        "pci.device.legacy.01",
        "pci.device.legacy.02",
    )

    def on_pci_function_seen(self, event: Event) -> None:
        device_id = event["device_id"]
        if transitional_id(device_id):
            for clause in ("pci.device.discovery.05", "pci.device.discovery.06"):
                self.not_applicable(clause, f"a transitional device ({device_id:#x})")
            self._expect(event, "pci.device.legacy.01", "revision", event["revision"] == 0)
            device_type = {v: k for k, v in TRANSITIONAL_PCI_DEVICE_IDS.items()}.get(device_id)
            self._expect(
                event, "pci.device.legacy.02", "subsystem_id", event["subsystem_id"] == device_type
            )
            return
        for clause in ("pci.device.legacy.01", "pci.device.legacy.02"):
            self.not_applicable(clause, f"a non-transitional device ({device_id:#x})")
        if device_id in MODERN_IDS:
            self._expect(event, "pci.device.discovery.05", "revision", event["revision"] >= 1)
            self._expect(
                event, "pci.device.discovery.06", "subsystem_id", event["subsystem_id"] >= 0x40
            )

    def _expect(self, event: Event, clause: str, field: str, holds: bool) -> None:
        if holds:
            self.exercised(clause)
        else:
            self.violation(
                clause, f"device {event['device_id']:#x} has {field} {event[field]:#x}", event
            )


_WORD = 0xFFFFFFFF
_PACKED = 1 << (Feature.VIRTIO_F_RING_PACKED - 32)  # in driver feature word 1
_ADDRESS_HALVES = {
    f"queue_{field}_{half}": (f"queue_{field}", half)
    for field in ("desc", "driver", "device")
    for half in ("lo", "hi")
}


class DeviceCommonCfgMonitor(Monitor):
    """The common configuration registers a driver wrote and read back by hand: reset,
    feature words, queue sizes, queue_enable after a reset, 64-bit fields by halves."""

    judges = "device"
    clauses = (
        "pci.device.common.03",
        "pci.device.common.04",
        "pci.device.common.07",
        "pci.device.common.08",
        "pci.device.common.14",
        "pci.device.common.15",
        "pci.device.layout.01",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._selects = {"device_feature_select": 0, "driver_feature_select": 0}
        self._offered: dict[int, int] = {}
        self._written: dict[int, int] = {}
        self._num_queues: int | None = None
        self._reset_write: Event | None = None
        self._reset_reads: list[Event] = []
        self._enabled: set[int] = set()
        self._enabled_before_reset: set[int] = set()
        self._halves: dict[tuple[int | None, str], int] = {}

    def on_pci_register_seen(self, event: Event) -> None:
        if event["block"] != "common":
            return
        handler = getattr(self, f"_{event['access']}_{event['register']}", None)
        if handler is not None:
            handler(event)
        elif event["register"] in _ADDRESS_HALVES:
            self._address_half(event)

    # -- writes ------------------------------------------------------------------------

    def _write_device_status(self, event: Event) -> None:
        if event["value"] == 0:
            self._reset_write, self._reset_reads = event, []
            self._enabled_before_reset, self._enabled = self._enabled, set()
            self._halves.clear()

    def _write_device_feature_select(self, event: Event) -> None:
        self._selects["device_feature_select"] = event["value"]

    def _write_driver_feature_select(self, event: Event) -> None:
        self._selects["driver_feature_select"] = event["value"]

    def _write_driver_feature(self, event: Event) -> None:
        self._written[self._selects["driver_feature_select"]] = event["value"]

    def _write_queue_enable(self, event: Event) -> None:
        if event["value"] == 1:
            self._enabled.add(event["queue"])

    # -- reads -------------------------------------------------------------------------

    def _read_device_status(self, event: Event) -> None:
        if self._reset_write is None:
            return
        if event["value"] == 0:
            self.exercised("pci.device.common.07")
            self._reset_write = None
        else:
            self._reset_reads.append(event)

    def _read_device_feature(self, event: Event) -> None:
        select = self._selects["device_feature_select"]
        if select < 2:
            self._offered[select] = event["value"]
        elif event["value"]:
            self.violation(
                "pci.device.common.03",
                f"device_feature_select {select} presents {event['value']:#x}, not 0",
                event,
            )
        else:
            self.exercised("pci.device.common.03")

    def _read_driver_feature(self, event: Event) -> None:
        select = self._selects["driver_feature_select"]
        if select not in self._written or select not in self._offered:
            return
        valid = self._written[select] & self._offered[select]
        if event["value"] & self._offered[select] != valid:
            self.violation(
                "pci.device.common.04",
                f"driver_feature word {select} presents {event['value']:#x} after "
                f"{self._written[select]:#x} was written (valid bits {valid:#x})",
                event,
            )
        else:
            self.exercised("pci.device.common.04")

    def _read_num_queues(self, event: Event) -> None:
        self._num_queues = event["value"]

    def _read_queue_size(self, event: Event) -> None:
        size, queue = event["value"], event["queue"]
        if self._num_queues is not None and queue is not None and queue >= self._num_queues:
            if size:
                self.violation(
                    "pci.device.common.14",
                    f"queue {queue} (num_queues {self._num_queues}) presents queue_size {size}",
                    event,
                )
            else:
                self.exercised("pci.device.common.14")
        if self._written.get(1, 0) & _PACKED:
            self.not_applicable("pci.device.common.15", "VIRTIO_F_RING_PACKED negotiated")
        elif size & (size - 1):
            self.violation(
                "pci.device.common.15", f"queue {queue} presents queue_size {size}", event
            )
        else:
            self.exercised("pci.device.common.15")

    def _read_queue_enable(self, event: Event) -> None:
        queue = event["queue"]
        if self._reset_write is not None or queue in self._enabled:
            return
        if queue not in self._enabled_before_reset:
            return
        if event["value"]:
            self.violation(
                "pci.device.common.08",
                f"queue {queue} presents queue_enable {event['value']} after a reset",
                event,
            )
        else:
            self.exercised("pci.device.common.08")

    def _address_half(self, event: Event) -> None:
        field, half = _ADDRESS_HALVES[event["register"]]
        key = (event["queue"], event["register"])
        if event["access"] == "write":
            self._halves[key] = event["value"] & _WORD
            return
        other = f"{field}_{'hi' if half == 'lo' else 'lo'}"
        if key not in self._halves or (event["queue"], other) not in self._halves:
            return
        if event["value"] != self._halves[key]:
            self.violation(
                "pci.device.layout.01",
                f"queue {event['queue']}: {event['register']} reads {event['value']:#x} "
                f"after {self._halves[key]:#x} and then the other half were written",
                event,
            )
        else:
            self.exercised("pci.device.layout.01")

    def finish(self) -> None:
        if self._reset_write is not None and self._reset_reads:
            self.violation(
                "pci.device.common.07",
                f"device_status still {self._reset_reads[-1]['value']:#x} after "
                f"{len(self._reset_reads)} reads following a reset",
                self._reset_write,
                self._reset_reads[-1],
            )


MONITORS: tuple[type[Monitor], ...] = (
    DeviceCapabilityMonitor,
    DeviceIdentityMonitor,
    DeviceCommonCfgMonitor,
)
