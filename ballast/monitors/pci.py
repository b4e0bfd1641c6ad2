"""Monitors of the pci clauses (see ballast.monitors.base)."""

from __future__ import annotations

from ballast.monitors.base import Monitor, MonitorContext
from ballast.monitors.events import Event
from ballast.reference import balloon as b
from ballast.virtio.features import Feature
from ballast.virtio.layout import (
    ISR_CONFIG,
    ISR_VRING,
    MODERN_PCI_DEVICE_BASE,
    TRANSITIONAL_PCI_DEVICE_IDS,
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


MONITORS: tuple[type[Monitor], ...] = (
    PciQueueRestartMonitor,
    PciLegacyWidthMonitor,
    PciDriverRegisterMonitor,
    PciDriverProbeMonitor,
    PciDriverInterruptMonitor,
    PciDriverCfgWindowMonitor,
    PciDriverLegacyConfigMonitor,
)
