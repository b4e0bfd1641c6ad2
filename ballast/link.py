"""One virtio link under observation: an in-process machine, a balloon device and a
balloon driver on one transport, an event log, and the clause monitors watching it.

This is what every reference-pair test builds; targets that replace one side (QEMU's
device, Linux's driver) provide the same pieces.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from ballast.machine.machine import InProcessMachine
from ballast.monitors import ALL_MONITORS
from ballast.monitors.base import Monitor, MonitorContext, NegotiationTracker
from ballast.monitors.events import Event, EventLog, Kind
from ballast.monitors.verdicts import Finding
from ballast.reference.device import BalloonDevice, DeviceOptions
from ballast.reference.driver import BalloonDriver, DriverPolicy
from ballast.spec.catalogue import Catalogue, load_catalogue
from ballast.virtio.transport import Transport, TransportError, open_transport
from ballast.virtio.transport.mmio import MMIO_STRIDE

MMIO_BASE = 0xFEB00000
MMIO_IRQ = 5
PCI_SLOT = 3


@dataclass(frozen=True)
class TransportSpec:
    """How a transport name maps to a device-side model and a driver-side transport."""

    name: str
    bus: str  # "pci" | "mmio"
    mode: str | int  # PCI mode ("modern", "legacy", "transitional") or MMIO version
    driver_kind: str  # "pci-modern" | "pci-legacy" | "mmio"
    legacy: bool


TRANSPORTS = {
    t.name: t
    for t in (
        TransportSpec("pci-modern", "pci", "modern", "pci-modern", False),
        TransportSpec("pci-transitional", "pci", "transitional", "pci-modern", False),
        TransportSpec("pci-legacy", "pci", "legacy", "pci-legacy", True),
        TransportSpec("mmio-v2", "mmio", 2, "mmio", False),
        TransportSpec("mmio-v1", "mmio", 1, "mmio", True),
    )
}


class UnclaimedTransport:
    """The driver's transport when it claimed no device: every use raises why."""

    def __init__(self, error: TransportError) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Any:
        raise self._error


class LinkLike(Protocol):
    """What a harness needs of a link, whoever implements the device side.

    ``device`` is the device's host interface (set_target, request_stats, read_stats,
    read_actual, start_hinting, stop_hinting, finish_hinting, hinted_pages), emitting
    observer ``"host"`` HOST_ACTION events; ``driver`` drives the driver side; ``machine``
    is the Bus the driver uses.
    """

    events: EventLog
    device: Any
    driver: Any
    machine: Any
    artifacts: dict[str, str]

    def findings(self) -> list[Finding]: ...

    def close(self) -> None: ...


@dataclass
class LinkConfig:
    transport: str = "pci-modern"
    big_endian: bool = False  # only meaningful on legacy transports
    memory_size: int = 64 << 20
    device: DeviceOptions = field(default_factory=DeviceOptions)
    driver: DriverPolicy = field(default_factory=DriverPolicy)
    interpretations: dict[str, str] = field(default_factory=dict)


class Link:
    """Reference device and reference driver (either possibly a seeded-bug variant) on an
    in-process machine, with every monitor attached."""

    def __init__(
        self, config: LinkConfig, catalogue: Catalogue | None = None, device_slot: int | None = None
    ) -> None:
        """``device_slot``: the PCI slot of a device under test, opened even if its IDs are
        wrong (see :func:`~ballast.virtio.transport.open_pci`)."""
        self.config = config
        self._device_slot = device_slot
        spec = TRANSPORTS[config.transport]
        self.spec = spec
        self.events = EventLog()
        endian = "big" if config.big_endian else "little"
        self.machine = InProcessMachine(config.memory_size, endian, self.events)
        self.device = BalloonDevice(self.machine.memory, self.events, config.device)
        self.ctx = MonitorContext(
            catalogue or load_catalogue(),
            self.events,
            watch=self._watch,
            unwatch=self._unwatch,
            read_memory=self._backdoor_read,
            interpretations=config.interpretations,
            transport=spec.bus,
        )
        self.ctx.driver_transitional = config.driver.transitional
        self._tracker = NegotiationTracker(self.ctx)
        self.monitors: list[Monitor] = [m(self.ctx) for m in ALL_MONITORS]
        self.events.subscribe(self._dispatch)
        self.transport = self._open(spec, config)  # watched: the probe is judged too
        self.driver = BalloonDriver(
            self.machine, self.transport, self.events, config.driver, big_endian=config.big_endian
        )
        self.artifacts: dict[str, str] = {}

    def _open(self, spec: TransportSpec, config: LinkConfig) -> Transport:
        """Plug the device in and let the driver's transport find it.  A driver that
        claims no device gets a transport that raises why on first use, so the test
        still ends with what the monitors saw of the probe."""
        faults = config.driver.faults
        try:
            if spec.bus == "pci":
                self.machine.attach_pci(
                    self.device,
                    spec.mode,  # type: ignore[arg-type]
                    slot=PCI_SLOT,
                    options=config.device.pci,
                )
                kind = spec.driver_kind if config.driver.transitional else "pci-modern"
                return open_transport(self.machine, kind, faults=faults, slot=self._device_slot)
            options = config.device
            slots = 1
            if options.mmio_decoy:  # the decoy takes the first slot, the balloon the next
                self.machine.attach_mmio_decoy(options.mmio_decoy, MMIO_BASE)  # type: ignore[arg-type]
                slots = 2
            self.machine.attach_mmio(
                self.device,
                MMIO_BASE + MMIO_STRIDE * (slots - 1),
                spec.mode,  # type: ignore[arg-type]
                MMIO_IRQ,
                options.mmio_interrupt_noise,
            )
            return open_transport(
                self.machine,
                "mmio",
                base=MMIO_BASE,
                count=slots,
                irq_line=MMIO_IRQ,
                faults=faults,
            )
        except TransportError as error:
            return cast(Transport, UnclaimedTransport(error))

    # -- backdoor -------------------------------------------------------------------------

    def _watch(self, pfns: Iterable[int]) -> None:
        self.machine.memory.watch(pfns, self._on_access)

    def _unwatch(self, pfns: Iterable[int]) -> None:
        self.machine.memory.unwatch(pfns, self._on_access)

    def _on_access(self, pfn: int, access: str, actor: str) -> None:
        if actor != "backdoor":
            self.events.emit("backdoor", Kind.PAGE_ACCESS, pfn=pfn, access=access, actor=actor)

    def _backdoor_read(self, addr: int, size: int) -> bytes:
        return self.machine.memory.read(addr, size, actor="backdoor")

    def _dispatch(self, event: Event) -> None:
        self._tracker.feed(event)
        for monitor in self.monitors:
            monitor.feed(event)

    # -- results --------------------------------------------------------------------------

    def close(self) -> None:
        """Nothing to release: the machine lives in this process."""

    def findings(self) -> list[Finding]:
        """Finish every monitor and collect what each found."""
        found: list[Finding] = []
        for monitor in self.monitors:
            monitor.finish()
            found.extend(monitor.findings())
        return found
