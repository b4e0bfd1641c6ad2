"""Monitors of the pci clauses (see ballast.monitors.base)."""

from __future__ import annotations

from ballast.monitors.base import Monitor, MonitorContext
from ballast.monitors.events import Event
from ballast.reference import balloon as b
from ballast.virtio.features import Feature, has
from ballast.virtio.layout import (
    ISR_CONFIG,
    ISR_VRING,
    MODERN_PCI_DEVICE_BASE,
    PCI_CAP_ID_VNDR,
    STATUS_CAP_LIST,
    STATUS_INTERRUPT,
    TRANSITIONAL_PCI_DEVICE_IDS,
    VIRTIO_PCI_VENDOR,
    CapType,
    PciCfg,
)
from ballast.virtio.status import Status

# --- judging the driver

DRIVER_OK = int(Status.DRIVER_OK)
READ_ONLY_COMMON = frozenset(
    (
        "device_feature",
        "num_queues",
        "config_generation",
        "queue_notify_off",
        "queue_notif_config_data",
    )
)
BALLOON_FIELD_WIDTH = 4  # every field of the balloon's device configuration is a le32
QUEUE_ADDRESSES = frozenset(("desc", "avail", "used"))
NOTIFY_WIDTH = 2


class PciDriverRegisterMonitor(Monitor):
    """What the driver does with the modern interface's registers, as the device's
    register model saw it: access widths, read-only fields, queue setup order, the reset
    handshake and notifications."""

    judges = "driver"
    clauses = (
        "pci.driver.layout.01",
        "pci.driver.common.01",
        "pci.driver.common.03",
        "pci.driver.common.04",
        "pci.driver.common.05",
        "pci.driver.common.06",
        "pci.driver.common.07",
        "pci.driver.avail-notify.01",
        "pci.driver.avail-notify.03",
    )

    def __init__(self, ctx: MonitorContext) -> None:
        # kept across device resets: the reset handshake spans one
        self._legacy = False
        self._reset_write: Event | None = None  # status 0, not yet seen to read back 0
        self._reset_seen = False
        super().__init__(ctx)

    def reset_state(self) -> None:
        super().reset_state()
        self._placed: dict[int, set[str]] = {}  # queue -> address fields written
        self._resetting: dict[int, Event] = {}  # queue reset not yet seen to read back 0
        self._reset_done: set[int] = set()  # queues whose reset the driver saw complete

    @property
    def _modern_pci(self) -> bool:
        return self.ctx.transport == "pci" and not self._legacy

    # -- status: the reset handshake, and where the link stands -----------------------------

    def on_status_written(self, event: Event) -> None:
        self._legacy = bool(event.data.get("legacy"))
        if self.ctx.transport != "pci":
            for clause in self.clauses:
                self.not_applicable(clause, "not a PCI link")
            return
        if self._legacy:
            for clause in self.clauses:
                self.not_applicable(clause, "legacy interface: no common configuration")
            return
        value = event["value"]
        if value == 0:
            self._reset_write = event
            self._reset_seen = False
            return
        if self._reset_write is not None:
            if self._reset_seen:
                self.exercised("pci.driver.common.05")
            else:
                self.violation(
                    "pci.driver.common.05",
                    f"status {value:#x} written after a reset without reading status 0 back",
                    self._reset_write,
                    event,
                )
            self._reset_write = None
        if value & DRIVER_OK and not event["previous"] & DRIVER_OK:
            self.exercised("pci.driver.common.01")

    def on_status_read(self, event: Event) -> None:
        if self._reset_write is not None and event["value"] == 0:
            self._reset_seen = True

    # -- register widths and read-only fields -------------------------------------------

    def on_register_misuse(self, event: Event) -> None:
        if event["block"] != "pci-common":
            return
        problem, register = event["problem"], event["register"]
        if problem == "width":
            self.violation(
                "pci.driver.layout.01", f"{register}: {event['width']}-byte access", event
            )
        elif problem == "write-to-read-only" and register in READ_ONLY_COMMON:
            self.violation("pci.driver.common.01", f"driver wrote {register}", event)

    def on_config_read(self, event: Event) -> None:
        self._config_access(event)

    def on_config_written(self, event: Event) -> None:
        self._config_access(event)

    def _config_access(self, event: Event) -> None:
        if not self._modern_pci:
            return
        offset, size = event["offset"], event["size"]
        if size != BALLOON_FIELD_WIDTH or offset % BALLOON_FIELD_WIDTH:
            self.violation(
                "pci.driver.layout.01",
                f"{size}-byte device configuration access at offset {offset:#x} "
                "(the balloon's fields are 32 bits wide)",
                event,
            )
        else:
            self.exercised("pci.driver.layout.01")

    # -- queue configuration ------------------------------------------------------------

    def on_queue_field_written(self, event: Event) -> None:
        if not self._modern_pci:
            return
        index, field = event["index"], event["field"]
        self._check_reset_seen(index, event)
        if event["enabled"]:
            self.violation(
                "pci.driver.common.04", f"queue {index}: {field} written while enabled", event
            )
        if field in QUEUE_ADDRESSES:
            self._placed.setdefault(index, set()).add(field)
        if field == "size":
            size = event["value"]
            if size <= 0 or size & (size - 1):
                self.violation(
                    "pci.driver.common.03", f"queue {index}: queue_size {size} written", event
                )
            elif self.negotiated(Feature.VIRTIO_F_RING_PACKED) is not True:
                self.exercised("pci.driver.common.03")

    def on_queue_enabled(self, event: Event) -> None:
        if not self._modern_pci:
            return
        index = event["index"]
        self._check_reset_seen(index, event)
        if not event["enabled"]:
            self.violation(
                "pci.driver.common.06", f"queue {index}: 0 written to queue_enable", event
            )
            return
        self.exercised("pci.driver.common.06")
        if index in self._reset_done:
            self._reset_done.discard(index)
            self.exercised("pci.driver.common.07")
        missing = sorted(QUEUE_ADDRESSES - self._placed.pop(index, set()))
        if missing:
            self.violation(
                "pci.driver.common.04",
                f"queue {index} enabled before {', '.join(missing)} was written",
                event,
            )
        else:
            self.exercised("pci.driver.common.04")

    def on_queue_reset(self, event: Event) -> None:
        self._placed.pop(event["index"], None)
        if self.negotiated(Feature.VIRTIO_F_RING_RESET) is False:
            self.not_applicable("pci.driver.common.07", "VIRTIO_F_RING_RESET not negotiated")
        elif self._modern_pci:
            self._resetting[event["index"]] = event

    def on_queue_reset_read(self, event: Event) -> None:
        index = event["index"]
        if event["value"] == 0 and self._resetting.pop(index, None) is not None:
            self._reset_done.add(index)

    def _check_reset_seen(self, index: int, event: Event) -> None:
        """Setting a queue up again is taking its reset as complete."""
        reset = self._resetting.pop(index, None)
        if reset is not None:
            self.violation(
                "pci.driver.common.07",
                f"queue {index} set up again before queue_reset read back 0",
                reset,
                event,
            )

    # -- notifications ------------------------------------------------------------------

    def on_queue_notified(self, event: Event) -> None:
        if not self._modern_pci:
            return
        if self.negotiated(Feature.VIRTIO_F_NOTIFICATION_DATA):
            self.not_applicable("pci.driver.avail-notify.01", "NOTIFICATION_DATA negotiated")
            self.not_applicable("pci.driver.avail-notify.03", "NOTIFICATION_DATA negotiated")
            return
        index, value, width = event["index"], event["value"], event.data.get("width", 0)
        if width and width != NOTIFY_WIDTH:
            self.violation(
                "pci.driver.avail-notify.01", f"queue {index}: {width}-byte notification", event
            )
        elif width:
            self.exercised("pci.driver.avail-notify.01")
        if self.negotiated(Feature.VIRTIO_F_NOTIF_CONFIG_DATA):
            self.not_applicable("pci.driver.avail-notify.03", "NOTIF_CONFIG_DATA negotiated")
        elif value != index:
            self.violation(
                "pci.driver.avail-notify.03",
                f"queue {index} notified with value {value:#x}",
                event,
            )
        else:
            self.exercised("pci.driver.avail-notify.03")


# The clause each permitted oddity of the function (PciOptions) puts to the driver.
QUIRK_CLAUSES = {
    "revision": "pci.driver.discovery.03",
    "reserved_cap": "pci.driver.caps.01",
    "cap_len_extra": "pci.driver.caps.03",
    "reserved_bar_cap": "pci.driver.caps.04",
    "large_lengths": "pci.driver.caps.06",
    "extra_io_bar": "pci.driver.legacy.01",
    "second_instances": "pci.driver.caps.02",
    "subsystem": "pci.device.discovery.03",  # the device's permission the driver must take
}
MODERN_IDS = range(MODERN_PCI_DEVICE_BASE, MODERN_PCI_DEVICE_BASE + 0x40)
TRANSITIONAL_IDS = frozenset(TRANSITIONAL_PCI_DEVICE_IDS.values())
CAP_LIST_BYTES = frozenset((PciCfg.STATUS, PciCfg.CAPABILITIES))  # where the list is found


class PciDriverProbeMonitor(Monitor):
    """How the driver claims the function, from the device's view of its configuration
    space: whether it matched the IDs, drove the device despite the oddities the
    function presented, looked for the virtio capabilities, and left them unwritten.

    A driver claims the function by writing its configuration space (BARs, command) and
    drives it once it writes device status; a function probed but never driven has been
    refused, and the oddity it presented (or, without one, its ID) says which rule."""

    judges = "driver"
    clauses = (
        "pci.driver.discovery.01",
        "pci.driver.discovery.02",
        "pci.driver.discovery.03",
        "pci.device.discovery.03",
        "pci.driver.caps.01",
        "pci.driver.caps.02",
        "pci.driver.caps.03",
        "pci.driver.caps.04",
        "pci.driver.caps.06",
        "pci.driver.caps.08",
        "pci.driver.legacy.01",
        "pci.driver.legacy.04",
        "pci.driver.legacy.05",
        "pci.driver.legacy.06",
        "pci.driver.legacy.07",
    )

    def __init__(self, ctx: MonitorContext) -> None:
        # configuration space outlives device resets: nothing here is reset_state's
        self._probe: Event | None = None
        self._claimed = False
        self._looked = False  # read where the capability list is found
        self._caps_read = False
        self._driven = False
        super().__init__(ctx)

    def on_pci_id_read(self, event: Event) -> None:
        self._probe = event

    def on_pci_config_access(self, event: Event) -> None:
        offset, width, cap = event["offset"], event["width"], event["cap"]
        if not event["write"]:
            self._caps_read = self._caps_read or cap is not None
            self._looked = self._looked or any(
                offset <= spot < offset + width for spot in CAP_LIST_BYTES
            )
            return
        self._claimed = True
        if cap is not None and cap != CapType.PCI_CFG:
            self.violation(
                "pci.driver.caps.08",
                f"driver wrote {width} byte(s) at {offset:#x}, inside a capability of "
                f"cfg_type {cap}",
                event,
            )

    def on_pci_later_instance_used(self, event: Event) -> None:
        self.violation(
            "pci.driver.caps.02",
            f"driver used cfg_type {event['cfg_type']} through a later capability",
            event,
        )

    def on_status_written(self, event: Event) -> None:
        probe = self._probe
        if self._driven or probe is None:
            return
        self._driven = True
        self._exercise(self._id_clause(probe))
        for quirk in probe["quirks"]:
            self._exercise(QUIRK_CLAUSES.get(quirk))
        if self._caps_read:
            self.exercised("pci.driver.caps.08")
        if event.data.get("legacy") and not (self.ctx.driver_transitional or probe["modern"]):
            self.violation(
                "pci.driver.legacy.07",
                "a non-transitional driver drove a device without virtio capabilities "
                "through the legacy interface",
                event,
            )
        elif event.data.get("legacy"):
            if self._looked:
                self.exercised("pci.driver.legacy.04")
            else:
                self.violation(
                    "pci.driver.legacy.04",
                    "driver used the legacy interface without looking for the capabilities",
                    event,
                )
            if not probe["modern"]:
                self.exercised("pci.driver.legacy.05")

    def _exercise(self, clause: str | None) -> None:
        if clause is not None:
            self.exercised(clause)

    @staticmethod
    def _id_clause(probe: Event) -> str | None:
        if probe["device"] in MODERN_IDS:
            return "pci.driver.discovery.01"
        if probe["device"] in TRANSITIONAL_IDS:
            return "pci.driver.discovery.02"
        return None

    def finish(self) -> None:
        probe = self._probe
        if probe is None or self._driven:
            return
        refused = [QUIRK_CLAUSES[q] for q in probe["quirks"] if q in QUIRK_CLAUSES]
        what = f"function {probe['vendor']:04x}:{probe['device']:04x}"
        if refused:
            for clause in refused:
                self.violation(
                    clause, f"{what} presenting {', '.join(probe['quirks'])} never driven", probe
                )
        elif not self._claimed:
            clause = self._id_clause(probe)
            if clause is not None:
                self.violation(clause, f"{what} probed but never claimed", probe)
        elif probe["modern"]:
            return
        elif self.ctx.driver_transitional:
            if self._looked:  # (not looking: the driver was never started)
                self.violation(
                    "pci.driver.legacy.05",
                    f"{what} has no virtio capabilities and was not driven as a legacy device",
                    probe,
                )
        else:
            self.exercised("pci.driver.legacy.07")  # left alone: failed gracefully
            if self._looked:
                self.exercised("pci.driver.legacy.06")
            else:
                self.violation(
                    "pci.driver.legacy.06",
                    f"{what} given up without looking for the virtio capabilities",
                    probe,
                )


ISR_BOTH = ISR_VRING | ISR_CONFIG


DRIVER_WRITTEN_FIELDS = (range(b.ACTUAL, b.ACTUAL + 4), range(b.POISON_VAL, b.POISON_VAL + 4))


class PciDriverLegacyConfigMonitor(Monitor):
    """Where a legacy driver writes the device-specific configuration: a balloon driver
    writes only actual and poison_val, so a write elsewhere missed its field - the driver
    did not place the configuration right after the header (at 0x14 without MSI-X)."""

    judges = "driver"
    clauses = ("pci.driver.legacy.03",)

    def reset_state(self) -> None:
        super().reset_state()
        self._legacy = False

    def on_status_written(self, event: Event) -> None:
        self._legacy = self.ctx.transport == "pci" and bool(event.data.get("legacy"))

    def on_config_written(self, event: Event) -> None:
        if not self._legacy:
            return
        offset, size = event["offset"], event["size"]
        inside = any(
            offset in field and offset + size - 1 in field for field in DRIVER_WRITTEN_FIELDS
        )
        if inside:
            self.exercised("pci.driver.legacy.03")
        else:
            self.violation(
                "pci.driver.legacy.03",
                f"{size}-byte write at device configuration offset {offset:#x}, which holds "
                "no field a balloon driver writes",
                event,
            )


class PciDriverInterruptMonitor(Monitor):
    """One INTx interrupt for a configuration change and used buffers at once: after an
    ISR read showing both reasons the device must see the driver read its configuration
    before it takes another interrupt (the used buffers it may reap by polling, which the
    device cannot tell apart)."""

    judges = "driver"
    clauses = ("pci.driver.config-notify.01",)

    def reset_state(self) -> None:
        super().reset_state()
        self._shared: Event | None = None  # an ISR read with both reasons, not yet acted on

    def on_isr_cleared(self, event: Event) -> None:
        if self._shared is not None and event["value"]:
            self.violation(
                "pci.driver.config-notify.01",
                "ISR showed a configuration change with a used buffer notification; the "
                "driver took the next interrupt before reading the configuration",
                self._shared,
                event,
            )
            self._shared = None
        if self.ctx.transport == "pci" and event["value"] & ISR_BOTH == ISR_BOTH:
            self._shared = event

    def on_config_read(self, event: Event) -> None:
        if self._shared is not None:
            self.exercised("pci.driver.config-notify.01")
            self._shared = None

    def on_status_written(self, event: Event) -> None:
        if event["value"] == 0:
            self._shared = None  # a reset: the configuration change is moot

    def finish(self) -> None:
        if self._shared is not None:
            self.violation(
                "pci.driver.config-notify.01",
                "ISR showed a configuration change with a used buffer notification; the "
                "driver never read the configuration after it",
                self._shared,
            )


class PciDriverCfgWindowMonitor(Monitor):
    """Accesses through the PCI configuration access capability, as the device carried
    them out: aligned to their length, and inside a structure another capability names."""

    judges = "driver"
    clauses = (
        "pci.driver.cfg-access.01",
        "pci.driver.cfg-access.02",
        "pci.driver.cfg-access.03",
    )

    def on_pci_cfg_window(self, event: Event) -> None:
        offset, length = event["offset"], event["length"]
        where = f"BAR{event['bar']} offset {offset:#x} length {length}"
        if not event["covered"]:
            self.violation(
                "pci.driver.cfg-access.03",
                f"pci_cfg_data accessed for {where}, outside every virtio structure",
                event,
            )
            return
        self.exercised("pci.driver.cfg-access.03")
        for clause in ("pci.driver.cfg-access.01", "pci.driver.cfg-access.02"):
            if offset % length:
                self.violation(clause, f"pci_cfg_data accessed for {where}: misaligned", event)
            else:
                self.exercised(clause)


class PciQueueRestartMonitor(Monitor):
    """The device serves a queue the driver set up in a way the spec permits: reset and
    set up again at the same place (common.08) or elsewhere (common.09), or with its
    addresses written high half first (layout.02): requests on it are used."""

    judges = "device"
    clauses = ("pci.driver.common.08", "pci.driver.common.09", "pci.driver.layout.02")

    def reset_state(self) -> None:
        super().reset_state()
        self._restarted: dict[int, str] = {}  # queue -> the clause its set-up exercises

    def on_driver_queue_reset(self, event: Event) -> None:
        if self.ctx.transport != "pci" or event["phase"] != "enabled":
            return  # the same restart on virtio-mmio is mmio.driver.registers.22/.23
        moved = event["moved"]
        self._restarted[event["index"]] = f"pci.driver.common.{'09' if moved else '08'}"

    def on_queue_halves_high_first(self, event: Event) -> None:
        self._restarted[event["index"]] = "pci.driver.layout.02"

    def on_used_buffer(self, event: Event) -> None:
        clause = self._restarted.pop(event["queue"], None)
        if clause is not None:
            self.exercised(clause)

    def on_request_unanswered(self, event: Event) -> None:
        clause = self._restarted.get(event["queue"])
        if clause is not None:
            self.violation(
                clause,
                f"queue {event['queue']} set up as permitted: its request went unanswered",
                event,
            )


class PciLegacyWidthMonitor(Monitor):
    """Config fields read through the legacy interface in narrower pieces must put
    together what a natural read gives."""

    judges = "device"
    clauses = ("pci.driver.legacy.02",)

    def on_config_pieces_seen(self, event: Event) -> None:
        natural, pieced = event["natural"], event["pieced"]
        if natural == pieced:
            self.exercised("pci.driver.legacy.02")
        else:
            self.violation(
                "pci.driver.legacy.02",
                f"config offset {event['offset']:#x}: {event['width']}-byte reads give "
                f"{pieced:#x}, a 32-bit read {natural:#x}",
                event,
            )


# --- judging the device

DEVICE_TYPE = 5  # the balloon: the suites test nothing else
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
TRANSITIONAL = ("pci.device.legacy.01", "pci.device.legacy.02", "pci.device.legacy.03")
NON_TRANSITIONAL = ("pci.device.discovery.04", "pci.device.discovery.05", "pci.device.discovery.06")


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


def transitional(function: Event) -> bool:
    """Whether the device presents a legacy interface: it implements BAR0, which only
    the legacy header uses (judged by its IDs would judge the IDs by themselves)."""
    return 0 in function["bars"]


class DeviceIdentityMonitor(Monitor):
    """Vendor, Device, Revision and Subsystem IDs against the kind of device the
    function is (transitional: it presents the legacy interface in BAR0)."""

    judges = "device"
    clauses = (
        "pci.device.discovery.01",
        "pci.device.discovery.02",
        "pci.device.discovery.04",
        "pci.device.discovery.05",
        "pci.device.discovery.06",
        "pci.device.legacy.01",
        "pci.device.legacy.02",
        "pci.device.legacy.03",
    )

    def on_pci_function_seen(self, event: Event) -> None:
        device_id = event["device_id"]
        self._expect(
            event, "pci.device.discovery.01", "vendor_id", event["vendor_id"] == VIRTIO_PCI_VENDOR
        )
        self._expect(
            event,
            "pci.device.discovery.02",
            "device_id",
            device_id in (MODERN_IDS.start + DEVICE_TYPE, TRANSITIONAL_PCI_DEVICE_IDS[DEVICE_TYPE]),
        )
        if transitional(event):
            for clause in NON_TRANSITIONAL:
                self.not_applicable(clause, "a transitional device (it implements BAR0)")
            self._expect(event, "pci.device.legacy.01", "revision", event["revision"] == 0)
            self._expect(
                event, "pci.device.legacy.02", "subsystem_id", event["subsystem_id"] == DEVICE_TYPE
            )
            self._expect(event, "pci.device.legacy.03", "device_id", transitional_id(device_id))
            return
        for clause in TRANSITIONAL:
            self.not_applicable(clause, "a non-transitional device (no BAR0)")
        self._expect(event, "pci.device.discovery.04", "device_id", device_id in MODERN_IDS)
        self._expect(event, "pci.device.discovery.05", "revision", event["revision"] >= 1)
        self._expect(
            event, "pci.device.discovery.06", "subsystem_id", event["subsystem_id"] >= 0x40
        )

    def _expect(self, event: Event, clause: str, field: str, holds: bool) -> None:
        if holds:
            self.exercised(clause)
        else:
            what = "transitional" if transitional(event) else "non-transitional"
            self.violation(clause, f"{what} device with {field} {event[field]:#x}", event)


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

    def _write_queue_reset(self, event: Event) -> None:
        if event["value"] == 1:  # the queue's addresses go back to their defaults
            self._halves = {k: v for k, v in self._halves.items() if k[0] != event["queue"]}

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


class DeviceQueueResetMonitor(Monitor):
    """queue_reset as a driver reads it after a device reset, after queue_enable and
    through a queue reset, and what the queue presents once that reset completed
    (queue_size back at its maximum, as after a device reset)."""

    judges = "device"
    clauses = (
        "pci.device.common.09",
        "pci.device.common.10",
        "pci.device.common.11",
        "pci.device.common.13",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._device_reset = False  # seen, and queues enabled since:
        self._enabled_since_reset: set[int | None] = set()
        self._enabled: set[int | None] = set()
        self._resetting: dict[int | None, Event] = {}
        self._reset_done: set[int | None] = set()
        self._max_size: dict[int | None, int] = {}

    def on_pci_register_seen(self, event: Event) -> None:
        if event["block"] != "common":
            return
        register, value, queue = event["register"], event["value"], event["queue"]
        if event["access"] == "write":
            self._written(event)
        elif register == "queue_reset":
            self._read_reset(event)
        elif queue in self._reset_done:
            self._read_after_reset(event)
        elif register == "queue_size" and self._untouched(queue):
            self._max_size[queue] = value

    def _written(self, event: Event) -> None:
        register, value, queue = event["register"], event["value"], event["queue"]
        if register == "device_status" and value == 0:
            self.reset_state()
            self._device_reset = True
        elif register == "queue_enable" and value == 1:
            self._enabled_since_reset.add(queue)
            self._reset_done.discard(queue)
            self._enabled.add(queue)
        elif register == "queue_reset" and value == 1:
            self._enabled.discard(queue)
            self._resetting[queue] = event

    def _untouched(self, queue: int | None) -> bool:
        """Not enabled since the last device reset."""
        return self._device_reset and queue not in self._enabled_since_reset

    def _applies(self) -> bool:
        negotiated = self.negotiated(Feature.VIRTIO_F_RING_RESET)
        if negotiated is False:
            for clause in self.clauses:
                self.not_applicable(clause, "VIRTIO_F_RING_RESET not negotiated")
        return bool(negotiated)

    def _read_reset(self, event: Event) -> None:
        queue, value = event["queue"], event["value"]
        if not self._applies():
            return
        if queue in self._resetting:
            if not value:  # complete: what the queue presents now is judged
                del self._resetting[queue]
                self._reset_done.add(queue)
            return
        for clause, situation in (
            ("pci.device.common.09", self._untouched(queue)),
            ("pci.device.common.10", queue in self._enabled),
        ):
            if not situation:
                continue
            if value:
                self.violation(clause, f"queue {queue} presents queue_reset {value}", event)
            else:
                self.exercised(clause)

    def _read_after_reset(self, event: Event) -> None:
        register, value, queue = event["register"], event["value"], event["queue"]
        if register == "queue_enable":
            if value:
                self.violation(
                    "pci.device.common.13",
                    f"queue {queue}: queue_enable {value} once its reset completed",
                    event,
                )
            else:
                self.exercised("pci.device.common.13")
            return
        expected = self._max_size.get(queue)
        if register != "queue_size" or expected is None:
            return
        if value != expected:
            self.violation(
                "pci.device.common.11",
                f"queue {queue}: queue_size {value} after its reset, not the maximum {expected}",
                event,
            )
        else:
            self.exercised("pci.device.common.11")

    def finish(self) -> None:
        for queue, written in self._resetting.items():
            self.violation(
                "pci.device.common.11",
                f"queue {queue}: queue_reset never read 0 after a reset was requested",
                written,
            )


class DeviceGenerationMonitor(Monitor):
    """config_generation after reading a changed device-specific value, against the
    generation the driver saw when it read the old value."""

    judges = "device"
    clauses = ("pci.device.common.06",)

    def reset_state(self) -> None:
        super().reset_state()
        self._generation: Event | None = None  # the latest generation read
        self._values: dict[str, tuple[int, Event | None]] = {}  # value, generation then
        self._changed: tuple[Event, Event] | None = None  # (old generation, changed read)

    def on_pci_register_seen(self, event: Event) -> None:
        if event["access"] != "read":
            return
        if event["block"] == "device":
            register = event["register"]
            old = self._values.get(register)
            if old is not None and old[0] != event["value"] and old[1] is not None:
                self._changed = self._changed or (old[1], event)
            self._values[register] = (event["value"], self._generation)
        elif event["register"] == "config_generation":
            self._generation = event
            if self._changed is None:
                return
            (before, changed), self._changed = self._changed, None
            if event["value"] == before["value"]:
                self.violation(
                    "pci.device.common.06",
                    f"config_generation still {event['value']} after {changed['register']} "
                    "read a changed value",
                    before,
                    changed,
                    event,
                )
            else:
                self.exercised("pci.device.common.06")


class DeviceCfgWindowMonitor(Monitor):
    """Accesses through the PCI configuration access capability against direct
    accesses of the same common configuration register."""

    judges = "device"
    clauses = ("pci.device.cfg-access.02", "pci.device.cfg-access.03")

    def reset_state(self) -> None:
        super().reset_state()
        self._direct: dict[str, Event] = {}
        self._window_write: dict[str, Event] = {}

    def on_pci_register_seen(self, event: Event) -> None:
        block, register = event["block"], event["register"]
        if block == "pci_cfg" and event["access"] == "write":
            self._window_write[register] = event
        elif block == "pci_cfg":
            self._compare("pci.device.cfg-access.03", self._direct.get(register), event)
        elif block == "common" and event["access"] == "read":
            self._direct[register] = event
            self._compare("pci.device.cfg-access.02", self._window_write.pop(register, None), event)

    def _compare(self, clause: str, expected: Event | None, seen: Event) -> None:
        if expected is None:
            return
        if seen["value"] != expected["value"]:
            how = "read" if clause.endswith("03") else "written"
            self.violation(
                clause,
                f"{seen['register']} {how} through pci_cfg_data: {expected['value']:#x} "
                f"and {seen['value']:#x}",
                expected,
                seen,
            )
        else:
            self.exercised(clause)


class DeviceIsrMonitor(Monitor):
    """ISR status and the PCI Status Interrupt bit when the INTx line is asserted after
    the host returned a buffer (a virtqueue notification) or changed the config."""

    judges = "device"
    clauses = ("pci.device.isr.02", "pci.device.isr.03", "pci.device.isr.04")
    _EXPECT = {
        "request_stats": (ISR_VRING, "pci.device.isr.03"),
        "set_target": (ISR_CONFIG, "pci.device.isr.02"),
    }

    def reset_state(self) -> None:
        super().reset_state()
        self._cause: str | None = None
        self._asserted = False
        self._status: Event | None = None

    def on_host_action(self, event: Event) -> None:
        if event["action"] in self._EXPECT:
            self._cause, self._asserted = event["action"], False

    def on_pci_register_seen(self, event: Event) -> None:
        block = event["block"]
        if block == "intx":
            self._asserted = bool(event["value"]) and self._cause is not None
        elif block == "config" and event["register"] == "status":
            self._status = event
        elif block == "isr":
            self._judge_status(event)
            if self._asserted and self._cause is not None:
                bit, clause = self._EXPECT[self._cause]
                if event["value"] & bit:
                    self.exercised(clause)
                else:
                    self.violation(
                        clause,
                        f"INTx asserted after {self._cause} with ISR status {event['value']:#x}",
                        event,
                    )
                self._cause = None
            self._asserted = False

    def _judge_status(self, isr: Event) -> None:
        """The Status register read just before this ISR read shows its OR."""
        status, self._status = self._status, None
        if status is None:
            return
        if bool(status["value"] & STATUS_INTERRUPT) != bool(isr["value"]):
            self.violation(
                "pci.device.isr.04",
                f"PCI Status {status['value']:#x} just before ISR status read {isr['value']:#x}",
                status,
                isr,
            )
        elif isr["value"]:
            self.exercised("pci.device.isr.04")


class DeviceLegacyLayoutMonitor(Monitor):
    """The legacy interface where a transitional device must put it: an I/O BAR0 whose
    header holds device status at its place and the device config right after it, read
    alike at any width."""

    judges = "device"
    clauses = (
        "pci.device.legacy.04",
        "pci.device.legacy.05",
        "pci.device.legacy.06",
        "pci.device.legacy.08",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._status_written: Event | None = None
        self._num_pages: int | None = None
        self._natural: dict[int, Event] = {}  # field offset -> the 32-bit read

    def on_pci_function_seen(self, event: Event) -> None:
        if not (transitional_id(event["device_id"]) or transitional(event)):
            self.not_applicable("pci.device.legacy.08", "not a transitional device")
            return
        kind = event["bars"].get(0)
        if kind == "io":
            self.exercised("pci.device.legacy.08")
        else:
            self.violation("pci.device.legacy.08", f"BAR0 is {kind or 'absent'}", event)

    def on_host_action(self, event: Event) -> None:
        if event["action"] == "set_target":
            self._num_pages = event["num_pages"]

    def on_pci_register_seen(self, event: Event) -> None:
        if event["block"] != "legacy":
            return
        if event["register"] == "device_status":
            self._status(event)
        elif event["register"] == "config" and self._num_pages is not None:
            self._config(event)

    def _status(self, event: Event) -> None:
        if event["access"] == "write":
            self._status_written = event
            return
        written, self._status_written = self._status_written, None
        if written is None:
            return
        if event["value"] != written["value"]:
            self.violation(
                "pci.device.legacy.04",
                f"device status at {0x12:#x} reads {event['value']:#x} after "
                f"{written['value']:#x} was written",
                written,
                event,
            )
        elif written["value"]:
            self.exercised("pci.device.legacy.04")

    def _config(self, event: Event) -> None:
        offset, width, value = event["offset"], event["width"], event["value"]
        field = offset & ~3
        if width == 4:
            self._natural[field] = event
            if field == 0:  # num_pages, the first field: right after the header
                self._expect(
                    "pci.device.legacy.06",
                    value == self._num_pages,
                    f"0x14 reads {value:#x}, num_pages is {self._num_pages:#x}",
                    event,
                )
            return
        natural = self._natural.get(field)
        if natural is None:
            return
        expected = natural["value"].to_bytes(4, "little")[offset - field : offset - field + width]
        self._expect(
            "pci.device.legacy.05",
            value.to_bytes(width, "little") == expected,
            f"{width}-byte read at config offset {offset} gives {value:#x}; the 32-bit read "
            f"gave {natural['value']:#x}",
            natural,
            event,
        )

    def _expect(self, clause: str, holds: bool, message: str, *evidence: Event) -> None:
        if holds:
            self.exercised(clause)
        else:
            self.violation(clause, message, *evidence)


MONITORS: tuple[type[Monitor], ...] = (
    PciQueueRestartMonitor,
    PciLegacyWidthMonitor,
    PciDriverRegisterMonitor,
    PciDriverProbeMonitor,
    PciDriverInterruptMonitor,
    PciDriverCfgWindowMonitor,
    PciDriverLegacyConfigMonitor,
    DeviceCapabilityMonitor,
    DeviceIdentityMonitor,
    DeviceCommonCfgMonitor,
    DeviceQueueResetMonitor,
    DeviceGenerationMonitor,
    DeviceCfgWindowMonitor,
    DeviceIsrMonitor,
    DeviceLegacyLayoutMonitor,
)
