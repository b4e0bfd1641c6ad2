"""One link with QEMU's balloon device as the device side: a fresh QEMU, the reference
driver over qtest, the host interface over QMP, and the device monitors watching.

Why a fresh QEMU per link rather than a pool reset between tests: a device reset does
not return QEMU to a clean state.  ``num_pages`` and ``actual`` survive it (QEMU's reset
handler leaves them alone), the free page hint command ID keeps counting, the stats
polling timer and the last ``guest-stats`` stay, a migration may be under way, and pages
the previous test inflated stay discarded.  A start costs ~25-60 ms (see
``bench/bench_qemu_suite.py``), which buys tests that cannot see each other.

Guest RAM: the driver keeps rings and request buffers in its private area and inflates
only pool pages (``MemoryLayout``); QEMU discards inflated pages, so the link refuses a
layout whose pool does not fit the RAM it starts QEMU with.

Only the monitors that judge the device are attached.  A monitor judging the driver
reads what the *device* side observed (status writes, buffers made available), and QEMU
reports none of that over qtest; fed only the host's and the driver's own events it would
judge the reference driver without evidence.  Monitors read guest RAM through QEMU's
memfd (``ram``) and watch pages through ``watch`` (guest accesses seen on the driver's
bus, QEMU's writes found by content).

The driver's bus is layered, one job per layer: ``DeferringBus`` (holds notifications
when a test asks) over ``WatchingBus`` (reports guest accesses to watched pages) over
``GuardedBus`` (turns a dead or silent QEMU into CRASH/TIMEOUT) over ``QtestBus``.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from ballast.errors import NotSupported
from ballast.link import TRANSPORTS, LinkConfig
from ballast.monitors import ALL_MONITORS
from ballast.monitors.base import Monitor, MonitorContext, NegotiationTracker
from ballast.monitors.events import Event, EventLog
from ballast.monitors.verdicts import Finding
from ballast.reference import balloon as b
from ballast.reference.driver import BalloonDriver
from ballast.spec.catalogue import Catalogue, load_catalogue
from ballast.targets.qemu.asyncq import HintQueueDrain
from ballast.targets.qemu.bus import QtestBus
from ballast.targets.qemu.deferral import DeferringBus, notify_window
from ballast.targets.qemu.guard import GuardedBus, PeerGuard
from ballast.targets.qemu.host import QemuHost
from ballast.targets.qemu.lines import BALLOON_ID, PCI_SLOT, device_line
from ballast.targets.qemu.machines import microvm_irq_route, q35_intx_route
from ballast.targets.qemu.process import QemuProcess
from ballast.targets.qemu.properties import QemuProperties
from ballast.targets.qemu.ram import SharedRam, ram_args
from ballast.targets.qemu.settings import QemuSettings
from ballast.targets.qemu.watch import PageWatch, WatchingBus
from ballast.virtio.transport import Transport, open_transport
from ballast.virtio.transport.mmio import MMIO_STRIDE, QEMU_MICROVM_BASE, MmioTransport, probe

MiB = 1 << 20
HINT_QUEUE = 3
"""QEMU's free_page_vq: queues are numbered densely and it follows the three fixed ones."""


class QemuLink:
    """QEMU's device and the reference driver on one transport (``LinkLike``).

    ``device`` is the host interface (``QemuHost``), ``driver`` the reference driver,
    ``machine`` the bus it uses (a ``DeferringBus``: ``defer_notifications`` holds queue
    notifications back until ``poll``); ``process`` is the QEMU behind them, ``ram`` its
    guest RAM as the monitors read it, and ``timings`` how long QEMU's start (``start``),
    opening the device (``open``) and teardown (``close``) took, in seconds.  ``close()``
    always ends QEMU.
    """

    def __init__(
        self,
        config: LinkConfig,
        catalogue: Catalogue | None = None,
        settings: QemuSettings | None = None,
    ) -> None:
        settings = settings or QemuSettings()
        if config.big_endian:
            raise NotSupported(
                "big-endian guests: QEMU's x86 machines are little-endian, so a big-endian "
                "legacy guest cannot be driven over qtest"
            )
        if config.device.faults:
            raise ValueError(f"QEMU has no seeded-bug variants: {sorted(config.device.faults)}")
        _check_memory(config)
        self.config = config
        self.spec = TRANSPORTS[config.transport]
        self.properties = QemuProperties.from_features(config.device.features)
        self.timings: dict[str, float] = {}
        began = time.perf_counter()
        self.process = QemuProcess(
            **launch_options(config, self.properties, settings), binary=settings.binary
        )
        self.timings["start"] = time.perf_counter() - began
        self.artifacts: dict[str, str] = {"qemu-command-line": self.process.command_line}
        self._closed = False
        self.ram: SharedRam | None = None
        began = time.perf_counter()
        try:
            self._wire(config, catalogue or load_catalogue())
        except BaseException:
            self.close()
            raise
        self.timings["open"] = time.perf_counter() - began

    def _wire(self, config: LinkConfig, catalogue: Catalogue) -> None:
        """Everything after QEMU is up: bus, transport, monitors, host, driver."""
        self.guard = PeerGuard(self.process, self.artifacts)
        self.ram = SharedRam(self.process.pid, config.memory_size)
        self.events = EventLog()
        self.watch = PageWatch(self.ram.read, self.events)
        qmp = self.process.qmp
        virtio_path = self.guard.call(qmp.command, "x-query-virtio")[0]["path"]
        drain = None
        if self.properties.free_page_hint:
            command = functools.partial(self.guard.call, qmp.command)
            drain = HintQueueDrain(HINT_QUEUE, command, virtio_path, self.ram.read)
        self.machine = DeferringBus(
            WatchingBus(GuardedBus(QtestBus(self.process.qtest), self.guard), self.watch),
            drain,
        )
        self.transport = self.guard.call(self._open_transport)
        self.machine.window = self.guard.call(notify_window, self.transport)
        self.ctx = MonitorContext(
            catalogue,
            self.events,
            watch=self.watch.watch,
            unwatch=self.watch.unwatch,
            read_memory=self.ram.read,
            interpretations=config.interpretations,
            transport=self.spec.bus,
        )
        self._tracker = NegotiationTracker(self.ctx)
        self.monitors: list[Monitor] = [m(self.ctx) for m in ALL_MONITORS if m.judges == "device"]
        self.events.subscribe(self._dispatch)
        self.device = QemuHost(
            qmp,
            self.events,
            self.guard,
            ram_bytes=config.memory_size,
            balloon_path=f"/machine/peripheral/{BALLOON_ID}",
            virtio_path=virtio_path,
            read_cmd_id=lambda: self.transport.config_read(b.FREE_PAGE_HINT_CMD_ID, 4),
            settle=self.watch.sweep,
        )
        self.driver = BalloonDriver(self.machine, self.transport, self.events, config.driver)

    def _open_transport(self) -> Transport:
        """Find the balloon, intercept its interrupt controller and open it the way the
        transport name says (the driver polls ISR; the intercepted line only lets
        ``poll`` return as soon as QEMU raises it)."""
        qtest = self.process.qtest
        if self.spec.bus == "pci":
            route = q35_intx_route(PCI_SLOT)
            qtest.irq_intercept_in(route.controller)
            return open_transport(self.machine, self.spec.driver_kind, irq_line=route.line)
        found = probe(self.machine)
        if len(found) != 1:
            raise RuntimeError(f"expected one virtio-mmio balloon on microvm, found {found}")
        info = found[0]
        route = microvm_irq_route(self.process.qmp, (info.base - QEMU_MICROVM_BASE) // MMIO_STRIDE)
        qtest.irq_intercept_in(route.controller)
        return MmioTransport(self.machine, info.base, info.version, route.line)

    def _dispatch(self, event: Event) -> None:
        self._tracker.feed(event)
        for monitor in self.monitors:
            monitor.feed(event)

    # -- results --------------------------------------------------------------------------

    def findings(self) -> list[Finding]:
        """Finish every monitor and collect what each found.  Monitors read guest RAM
        through the memfd, which outlives QEMU, so this works after a crash or a hang."""
        self.watch.sweep()
        for monitor in self.monitors:
            monitor.finish()
        self.guard.record()
        return [finding for monitor in self.monitors for finding in monitor.findings()]

    def close(self) -> None:
        """Quit QEMU (kill it if it does not answer), reap it and keep its stderr;
        idempotent, and safe after a failure anywhere in the link."""
        if self._closed:
            return
        self._closed = True
        began = time.perf_counter()
        self.process.close()
        if self.ram is not None:
            self.ram.close()
        self.timings["close"] = time.perf_counter() - began
        guard = getattr(self, "guard", None)
        if guard is not None:
            guard.record()
        else:
            self.artifacts["qemu-stderr"] = self.process.stderr_text()

    def __enter__(self) -> QemuLink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def launch_options(
    config: LinkConfig, properties: QemuProperties, settings: QemuSettings
) -> dict[str, Any]:
    """``QemuProcess`` arguments (all but the binary) for a link with ``config``."""
    line = device_line(
        config.transport,
        properties,
        pci_machine=settings.pci_machine,
        mmio_machine=settings.mmio_machine,
    )
    machine, ram_extra = ram_args(line.machine, config.memory_size)
    return {
        "machine": machine,
        "memory_mib": config.memory_size // MiB,
        "devices": [line.device],
        "extra_args": [*ram_extra, *line.extra_args, *settings.extra_args],
    }


def _check_memory(config: LinkConfig) -> None:
    """QEMU takes RAM in MiB, and the driver's pool must lie inside it."""
    size = config.memory_size
    if size % MiB or size <= 0:
        raise ValueError(f"memory_size {size:#x}: QEMU takes a whole number of MiB")
    layout = config.driver.memory_layout
    if layout.pool_end > size:
        raise ValueError(
            f"the driver's page pool ends at {layout.pool_end:#x}, beyond the guest's "
            f"{size:#x} bytes of RAM: use MemoryLayout.for_ram({size})"
        )
