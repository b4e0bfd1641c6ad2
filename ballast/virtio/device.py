"""Device-side virtio state shared by every transport (core/content.tex, "Basic Facilities").

The register models in :mod:`ballast.machine` turn bus accesses into calls on
:class:`VirtioDeviceModel`, so status, feature negotiation, queue configuration, config
generation and interrupts behave the same over PCI (modern, legacy) and MMIO (v1, v2).
The model records every driver action as a device-observed event and enforces nothing
the spec leaves to the driver: it only makes the decisions that belong to the device
(FEATURES_OK, resets) and lets monitors judge the rest.

Device-type behaviour lives in a :class:`DeviceBackend`; the model calls it for config
space, feature acceptance, notifications and resets, and the backend calls back
:meth:`VirtioDeviceModel.raise_vring_interrupt`, :meth:`~VirtioDeviceModel.config_changed`
and :meth:`~VirtioDeviceModel.set_needs_reset`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from ballast.monitors.events import EventLog, Kind
from ballast.virtio.features import Feature
from ballast.virtio.layout import ISR_CONFIG, ISR_VRING, LEGACY_PCI_QUEUE_ALIGN
from ballast.virtio.splitq import DESC_SIZE, avail_ring_bytes
from ballast.virtio.status import Status

Endian = Literal["little", "big"]

_VERSION_1 = 1 << Feature.VIRTIO_F_VERSION_1
_DRIVER_OK = int(Status.DRIVER_OK)
_FEATURES_OK = int(Status.FEATURES_OK)
_NEEDS_RESET = int(Status.DEVICE_NEEDS_RESET)
_WORD = 0xFFFFFFFF
# Offered on every legacy interface: ANY_LAYOUT (27) and UNUSED (30), core.device.legacy.08
_LEGACY_OFFER = 1 << Feature.VIRTIO_F_ANY_LAYOUT | 1 << Feature.VIRTIO_F_UNUSED


class InterruptLine(Protocol):
    """The interrupt wire a machine gives a device; level-triggered."""

    def set_level(self, level: bool) -> None: ...


class DeviceBackend(Protocol):
    """Device-type behaviour behind the generic model (the balloon, or a test fake)."""

    device_id: int

    def attach(self, model: VirtioDeviceModel) -> None:
        """Called once by the model's constructor so the backend can call back into it."""

    def host_features(self) -> int:
        """Feature bits the device offers (including VERSION_1 for a modern device)."""

    def queue_max_sizes(self) -> list[int]:
        """Maximum size of each queue by index; 0 marks an absent queue."""

    def config_size(self) -> int: ...

    def config_read(self, offset: int, size: int) -> bytes:
        """``size`` bytes of device config at ``offset``, in the order the bus carries
        them (on legacy links of a big-endian guest that is guest-native order)."""

    def config_write(self, offset: int, data: bytes) -> None: ...

    def accept_features(self, features: int) -> bool:
        """Decide FEATURES_OK for ``features``; False makes the bit not stick."""

    def queue_notify(self, index: int) -> None:
        """The driver notified queue ``index`` (the queue exists; it may be disabled)."""

    def poll(self) -> None:
        """The machine gives the device time (it may look at its rings unnotified)."""

    def driver_ok(self) -> None: ...

    def reset(self) -> None: ...


@dataclass(slots=True)
class QueueConfig:
    """One virtqueue's transport-visible configuration.

    ``epoch`` grows each time the queue is enabled, so a backend holding ring state for
    an earlier life of the queue (before a device or queue reset) can tell it is stale.
    """

    index: int
    max_size: int
    size: int = 0
    desc: int = 0
    avail: int = 0
    used: int = 0
    enabled: bool = False
    legacy_pfn: int = 0
    legacy_align: int = LEGACY_PCI_QUEUE_ALIGN
    epoch: int = 0

    def clear(self) -> None:
        """Back to the reset state (the queue size reads as the maximum again)."""
        self.size = self.max_size
        self.desc = self.avail = self.used = self.legacy_pfn = 0
        self.enabled = False
        self.legacy_align = LEGACY_PCI_QUEUE_ALIGN


def _deliver_now(model: VirtioDeviceModel, index: int) -> None:
    model.backend.queue_notify(index)


def _complete_now(completion: Callable[[], None]) -> None:
    completion()


class VirtioDeviceModel:
    """Transport-independent state of one virtio device and the device's side of the
    status/feature/queue protocol.

    ``legacy_capable``/``modern_capable`` say which interfaces the transport exposes
    (both: a transitional device).  ``deliver`` runs a driver notification; the machine
    passes one that can hold notifications back until it is polled.
    """

    def __init__(
        self,
        backend: DeviceBackend,
        events: EventLog,
        *,
        legacy_capable: bool,
        modern_capable: bool,
        endian: Endian = "little",
        deliver: Callable[[VirtioDeviceModel, int], None] = _deliver_now,
        complete: Callable[[Callable[[], None]], None] = _complete_now,
    ) -> None:
        if not (legacy_capable or modern_capable):
            raise ValueError("a device needs a legacy or a modern interface")
        self.backend = backend
        self.events = events
        self.legacy_capable = legacy_capable
        self.modern_capable = modern_capable
        self.endian: Endian = endian
        """Guest byte order; legacy links carry most device config in it."""
        self._deliver = deliver
        self.complete = complete
        """Runs a backend's completion (used-ring update + interrupt), maybe later."""
        self._irq: InterruptLine | None = None
        self._legacy_link = not modern_capable
        self.device_id = backend.device_id
        self.faults: frozenset[str] = getattr(backend, "faults", frozenset())
        """Seeded bugs of the generic part (names from ballast.reference.faults)."""
        self._queues = [QueueConfig(i, m, size=m) for i, m in enumerate(backend.queue_max_sizes())]
        self.status = 0
        self._reset_reads = 0  # status reads still showing a reset as under way
        self.isr = 0
        self.config_generation = 0
        self.driver_features = 0
        self.device_feature_select = 0
        self.driver_feature_select = 0
        self.queue_select = 0
        self.device_features = self._offered()
        self._reset_sticks: set[int] = set()  # fault queue_reset_sticks
        self._low_halves: dict[str, int] = {}  # fault queue_address_pairs_only
        backend.attach(self)

    # -- link ---------------------------------------------------------------------------

    def connect_irq(self, line: InterruptLine) -> None:
        """Wire the device's interrupt output (done by the register model that owns it)."""
        self._irq = line
        line.set_level(self.isr != 0)

    def use_interface(self, legacy: bool) -> None:
        """Record which interface the driver is using; only a transitional device has a
        choice, and its config byte order and feature width follow it."""
        if self.legacy_capable and self.modern_capable:
            self._legacy_link = legacy

    @property
    def is_legacy(self) -> bool:
        """Whether the link runs the legacy interface (no FEATURES_OK, 32 feature bits,
        guest-endian config)."""
        return self._legacy_link

    @property
    def negotiated(self) -> int:
        """Driver features restricted to what the device offers."""
        return self.driver_features & self.device_features

    def _offered(self) -> int:
        features = self.backend.host_features()
        if self.modern_capable:
            return features
        legacy = 0 if "legacy_no_any_layout" in self.faults else _LEGACY_OFFER
        return features & _WORD | legacy

    # -- status and reset ----------------------------------------------------------------

    def write_status(self, value: int) -> None:
        """The driver wrote ``device status``: 0 resets; FEATURES_OK is decided here."""
        previous = self.status
        self.events.emit(
            "device",
            Kind.STATUS_WRITTEN,
            value=value,
            previous=previous,
            legacy=self._legacy_link,
            reset_pending=self._reset_reads > 0,
        )
        if value == 0:
            self.reset("driver")
            self._reset_reads = getattr(self.backend, "reset_latency", 0)
            return
        self._reset_reads = 0
        value |= previous & _NEEDS_RESET  # only a reset clears the device's own bit
        deciding = value & _FEATURES_OK and not previous & _FEATURES_OK and not self._legacy_link
        if deciding and not self._accept(self.driver_features):
            value &= ~_FEATURES_OK
        self.status = value
        if value & _DRIVER_OK and not previous & _DRIVER_OK:
            self.backend.driver_ok()

    def read_status(self) -> int:
        """The driver read ``device status`` (recorded: after a reset the driver must see
        0 before it goes on); a device that takes a while to reset (the backend's
        ``reset_latency``) shows a non-zero value for that many reads after a reset."""
        value = self.status
        if self._reset_reads:
            self._reset_reads -= 1
            value |= int(Status.ACKNOWLEDGE)
        self.events.emit("device", Kind.STATUS_READ, value=value)
        return value

    def _accept(self, features: int) -> bool:
        """The device's FEATURES_OK decision: a subset of the offer, VERSION_1 unless the
        device can fall back to legacy, and whatever the backend requires."""
        subset = not features & ~self.device_features or "accept_unoffered_features" in self.faults
        accepted = (
            subset
            and bool(self.legacy_capable or features & _VERSION_1)
            and self.backend.accept_features(features)
        )
        self.events.emit("device", Kind.FEATURES_OK_DECIDED, features=features, accepted=accepted)
        return accepted

    def reset(self, cause: Literal["driver", "host"] = "host") -> None:
        """Device reset: everything the driver configured goes back to its initial state
        (the config generation keeps counting so a reader never sees it repeat)."""
        if "reset_keeps_status" not in self.faults:
            self.status = 0
        self.driver_features = 0
        self.device_feature_select = self.driver_feature_select = self.queue_select = 0
        self._set_isr(0)
        for queue in self._queues:
            queue.clear()
        self._reset_sticks.clear()
        self.device_features = self._offered()
        self.backend.reset()
        self.events.emit("device", Kind.DEVICE_RESET, cause=cause)

    def set_needs_reset(self) -> None:
        """The device hit an error it cannot recover from.  DEVICE_NEEDS_RESET does not
        exist on legacy links; a live driver gets a config change notification."""
        if not self._legacy_link:
            self.status |= _NEEDS_RESET
            self.events.emit("device", Kind.NEEDS_RESET_SET)
        if self.status & _DRIVER_OK and "needs_reset_without_notice" not in self.faults:
            self._set_isr(self.isr | ISR_CONFIG)

    # -- features -------------------------------------------------------------------------

    def read_device_features(self, select: int) -> int:
        """32-bit word ``select`` of the offered features."""
        value = self.device_features >> (32 * select) & _WORD if select < 2 else 0
        self.events.emit("device", Kind.FEATURES_READ, select=select, value=value)
        return value

    def read_driver_features(self, select: int) -> int:
        """32-bit word ``select`` of the driver features as written."""
        return self.driver_features >> (32 * select) & _WORD if select < 2 else 0

    def write_driver_features(self, select: int, value: int, *, legacy: bool = False) -> None:
        """The driver wrote word ``select`` of its features.  The device mirrors what was
        written (the spec allows presenting invalid bits) and judges at FEATURES_OK; a
        legacy write acknowledges no bits above 31."""
        self.events.emit("device", Kind.DRIVER_FEATURES_WRITTEN, select=select, value=value)
        if select >= 2:
            return
        shift = 32 * select
        features = self.driver_features & ~(_WORD << shift) | (value & _WORD) << shift
        self.driver_features = features & _WORD if legacy else features

    # -- queues ---------------------------------------------------------------------------

    @property
    def num_queues(self) -> int:
        """Queues up to the first absent one (QEMU's count; queues are numbered densely)."""
        count = 0
        for queue in self._queues:
            if not queue.max_size:
                break
            count += 1
        return count

    def queue(self, index: int) -> QueueConfig:
        """Queue ``index`` (an absent queue has ``max_size`` 0)."""
        return self._queues[index]

    @property
    def selected_queue(self) -> QueueConfig | None:
        """The queue ``queue_select`` names, or None when it names no existing queue."""
        index = self.queue_select
        if index < len(self._queues) and self._queues[index].max_size:
            return self._queues[index]
        return None

    def read_queue(self, field: str) -> int:
        """A field of the selected queue as a register shows it (0 without a queue)."""
        queue = self.selected_queue
        return 0 if queue is None else int(getattr(queue, field))

    def write_queue(self, field: str, value: int) -> None:
        """The driver wrote a configuration field of the selected queue."""
        queue = self.selected_queue
        enabled = queue is not None and queue.enabled
        self.events.emit(
            "device",
            Kind.QUEUE_FIELD_WRITTEN,
            index=self.queue_select,
            field=field,
            value=value,
            enabled=enabled,
        )
        if queue is not None:
            setattr(queue, field, value)

    def write_queue_half(self, field: str, high: bool, value: int) -> None:
        """The driver wrote one 32-bit half of a 64-bit queue address."""
        queue = self.selected_queue
        current = 0 if queue is None else getattr(queue, field)
        if "queue_address_pairs_only" in self.faults:
            # fault: a low half waits for the high half, which commits the pair
            if not high:
                self._low_halves[field] = value
                return
            value = (value & _WORD) << 32 | self._low_halves.pop(field, 0) & _WORD
            self.write_queue(field, value)
            return
        if high:
            self.write_queue(field, current & _WORD | (value & _WORD) << 32)
        else:
            self.write_queue(field, current & ~_WORD | value & _WORD)

    def write_queue_enable(self, value: int) -> None:
        """1 makes the selected queue live; 0 stops it (MMIO allows that, PCI forbids
        the driver to write it - recorded either way)."""
        queue = self.selected_queue
        if queue is None:
            self.events.emit(
                "device", Kind.QUEUE_ENABLED, index=self.queue_select, enabled=bool(value)
            )
        elif value == 1 and queue.index in self._reset_sticks:
            return  # fault queue_reset_sticks: a queue once reset stays off
        elif value == 1:
            self._enable(queue)
        else:
            queue.enabled = False
            self.events.emit("device", Kind.QUEUE_ENABLED, index=queue.index, enabled=False)

    def write_queue_pfn(self, pfn: int, page_size: int) -> None:
        """Legacy Queue Address/QueuePFN: a non-zero page number places the whole ring in
        the legacy layout and makes it live; 0 stops the queue."""
        self.write_queue("legacy_pfn", pfn)
        queue = self.selected_queue
        if queue is None:
            return
        if pfn == 0:
            queue.enabled = False
            self.events.emit("device", Kind.QUEUE_ENABLED, index=queue.index, enabled=False)
            return
        align = queue.legacy_align or 1
        queue.desc = pfn * page_size
        queue.avail = queue.desc + DESC_SIZE * queue.size
        queue.used = -(-(queue.avail + avail_ring_bytes(queue.size)) // align) * align
        self._enable(queue)

    def _enable(self, queue: QueueConfig) -> None:
        queue.enabled = True
        queue.epoch += 1
        self.events.emit(
            "device",
            Kind.QUEUE_CONFIGURED,
            index=queue.index,
            size=queue.size,
            desc=queue.desc,
            avail=queue.avail,
            used=queue.used,
        )
        self.events.emit("device", Kind.QUEUE_ENABLED, index=queue.index, enabled=True)

    def write_queue_reset(self, value: int) -> None:
        """Writing 1 resets the selected queue; the reset completes at once, so the
        register reads 0 again immediately."""
        queue = self.selected_queue
        if value != 1 or queue is None:
            return
        queue.clear()
        if "queue_reset_sticks" in self.faults:
            self._reset_sticks.add(queue.index)
        self.events.emit("device", Kind.QUEUE_RESET, index=queue.index)

    def read_queue_reset(self) -> int:
        """The driver read queue_reset back (resets complete at once: it reads 0)."""
        self.events.emit("device", Kind.QUEUE_RESET_READ, index=self.queue_select, value=0)
        return 0

    def notify(self, index: int, value: int, width: int = 0) -> None:
        """Available buffer notification for queue ``index`` (``value`` as written, in a
        ``width``-byte access where the transport says)."""
        self.events.emit("device", Kind.QUEUE_NOTIFIED, index=index, value=value, width=width)
        if index < len(self._queues) and self._queues[index].max_size:
            self._deliver(self, index)

    # -- device configuration space -------------------------------------------------------

    def config_read(self, offset: int, size: int) -> bytes:
        """Read device config; beyond its end reads all-ones, as QEMU does."""
        if offset >= 0 and offset + size <= self.backend.config_size():
            data = self.backend.config_read(offset, size)
        else:
            data = b"\xff" * size
        value = int.from_bytes(data, "little")
        self.events.emit("device", Kind.CONFIG_READ, offset=offset, size=size, value=value)
        return data

    def config_write(self, offset: int, data: bytes) -> None:
        """Write device config (recorded with the status, since when the driver may write
        config is a driver rule); beyond its end the write is dropped."""
        size = len(data)
        self.events.emit(
            "device",
            Kind.CONFIG_WRITTEN,
            offset=offset,
            size=size,
            value=int.from_bytes(data, "little"),
            status=self.status,
        )
        if offset >= 0 and offset + size <= self.backend.config_size():
            self.backend.config_write(offset, data)

    def read_generation(self) -> int:
        """The driver read ``config_generation`` (recorded: reading it around multi-field
        config reads is a driver rule)."""
        self.events.emit("device", Kind.GENERATION_READ, value=self.config_generation)
        return self.config_generation

    def config_changed(self) -> None:
        """The backend changed device config: bump the generation and, once the driver
        is live (DRIVER_OK), send a configuration change notification."""
        self.config_generation = (self.config_generation + 1) & 0xFF
        if self.status & _DRIVER_OK:  # fault: the wrong ISR bit for the notification
            self._set_isr(
                self.isr | (ISR_VRING if "isr_config_as_vring" in self.faults else ISR_CONFIG)
            )

    # -- interrupts ----------------------------------------------------------------------

    def raise_vring_interrupt(self, index: int) -> None:
        """Used buffer notification for queue ``index`` (INTx/MMIO have one reason bit
        for all queues, so the index only documents the caller's intent)."""
        self._set_isr(
            self.isr | (ISR_CONFIG if "isr_vring_as_config" in self.faults else ISR_VRING)
        )

    def read_isr(self) -> int:
        """PCI ISR status read: returns the bits and clears them, lowering the line."""
        isr = self.isr
        self.events.emit("device", Kind.ISR_CLEARED, value=isr)
        if isr and "isr_sticky" not in self.faults:
            self._set_isr(0)
        return isr

    def ack_interrupt(self, mask: int) -> None:
        """MMIO InterruptACK: clear the acknowledged bits."""
        self._set_isr(self.isr & ~mask)

    def _set_isr(self, isr: int) -> None:
        self.isr = isr
        if self._irq is not None:
            self._irq.set_level(isr != 0)
