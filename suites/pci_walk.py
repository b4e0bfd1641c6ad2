"""Driver-side probes of a virtio-pci function for the pci.device suites.

The test plays the driver: it reads the configuration header, walks the capability list
and reads (or writes) registers of the virtio structures through the same windows the
reference transport uses, and reports each value it saw as a driver-observed event, so
the monitors in ``ballast.monitors.pci`` judge the device - the reference one or QEMU's
over qtest - from what a driver can see.
"""

from __future__ import annotations

from ballast.harness import Harness
from ballast.monitors.events import Kind
from ballast.reference.balloon import NUM_PAGES
from ballast.reference.driver import DEFAULT_ACCEPT
from ballast.virtio.layout import PCI_CAP_ID_VNDR, Cap, CapType, Common, Legacy, PciCfg
from ballast.virtio.status import Status
from ballast.virtio.transport.base import RESET_POLLS, Window
from ballast.virtio.transport.pci import PciFunction
from suites.scenarios import start


def function(h: Harness) -> PciFunction:
    """The PCI function the link's driver opened."""
    return h.driver.transport.function


def walk(h: Harness) -> None:
    """Read the header and every capability (stopping where a pointer comes round
    again), the offered features, then num_queues and each queue's size and notify
    offset."""
    f = function(h)
    h.events.emit(
        "driver",
        Kind.PCI_FUNCTION_SEEN,
        vendor_id=f.cfg_read(PciCfg.VENDOR_ID, 2),
        device_id=f.cfg_read(PciCfg.DEVICE_ID, 2),
        revision=f.cfg_read(PciCfg.REVISION, 1),
        subsystem_vendor_id=f.cfg_read(PciCfg.SUBSYSTEM_VENDOR_ID, 2),
        subsystem_id=f.cfg_read(PciCfg.SUBSYSTEM_ID, 2),
        header_type=f.cfg_read(PciCfg.HEADER_TYPE, 1),
        status=f.cfg_read(PciCfg.STATUS, 2),
        interrupt_pin=f.cfg_read(PciCfg.INTERRUPT_PIN, 1),
        bars={bar.index: "io" if bar.io else "memory" for bar in f.bars.values()},
    )
    seen: set[int] = set()
    looped = False
    for pointer, cap_id in f.capabilities():
        if pointer in seen:
            looped = True
            break
        seen.add(pointer)
        fields: dict[str, int] = {}
        if cap_id == PCI_CAP_ID_VNDR:
            fields = {
                "cap_len": f.cfg_read(pointer + Cap.LEN, 1),
                "cfg_type": f.cfg_read(pointer + Cap.CFG_TYPE, 1),
                "bar": f.cfg_read(pointer + Cap.BAR, 1),
                "offset": f.cfg_read(pointer + Cap.OFFSET, 4),
                "length": f.cfg_read(pointer + Cap.LENGTH, 4),
                "extra": f.cfg_read(pointer + Cap.NOTIFY_MULTIPLIER, 4),
            }
        h.events.emit(
            "driver",
            Kind.PCI_CAP_SEEN,
            pointer=pointer,
            cap_id=cap_id,
            next=f.cfg_read(pointer + Cap.NEXT, 1),
            **fields,
        )
    common = structure(h, CapType.COMMON)
    # the offer decides which notify rules apply (read only where 32-bit reads align)
    if common is not None and not common.base % 4:
        offered = 0
        for word in (0, 1):
            common.write(Common.DEVICE_FEATURE_SELECT, 4, word)
            offered |= common.read(Common.DEVICE_FEATURE, 4) << 32 * word
        h.events.emit("driver", Kind.DEVICE_FEATURES_SEEN, value=offered)
    h.events.emit("driver", Kind.PCI_CAPS_WALKED, count=len(seen), looped=looped)
    if common is None:
        return
    for index in range(common.read(Common.NUM_QUEUES, 2)):
        common.write(Common.QUEUE_SELECT, 2, index)
        if common.read(Common.QUEUE_SIZE, 2):
            common.read(Common.QUEUE_NOTIFY_OFF, 2)


class Registers:
    """A register window, each access reported as PCI_REGISTER_SEEN (``name`` defaults
    to the offset's name in the common configuration)."""

    def __init__(self, h: Harness, window: Window | _CfgWindow, block: str) -> None:
        self._h = h
        self._window = window
        self.base = window.base
        self.block = block
        self.queue: int | None = None

    def read(self, offset: int, width: int, name: str | None = None) -> int:
        value = self._window.read(offset, width)
        self._emit(name or Common(offset).name.lower(), value, "read")
        return value

    def write(self, offset: int, width: int, value: int, name: str | None = None) -> None:
        self._window.write(offset, width, value)
        if self.block == "common" and offset == Common.QUEUE_SELECT:
            self.queue = value
        self._emit(name or Common(offset).name.lower(), value, "write")

    def _emit(self, register: str, value: int, access: str) -> None:
        report(self._h, self.block, register, value, access, self.queue)


def report(
    h: Harness,
    block: str,
    register: str,
    value: int,
    access: str = "read",
    queue: int | None = None,
    **where: int,
) -> None:
    """One register access as the driver saw it (PCI_REGISTER_SEEN)."""
    h.events.emit(
        "driver",
        Kind.PCI_REGISTER_SEEN,
        block=block,
        register=register,
        value=value,
        queue=queue,
        access=access,
        **where,
    )


def structure(h: Harness, cfg_type: CapType) -> Registers | None:
    """The first usable structure of ``cfg_type`` (as the reference driver picks it), or
    None if the device presents none."""
    f = function(h)
    cap = f.virtio_caps().get(cfg_type)
    if cap is None:
        return None
    return Registers(h, f.window(cap.bar, cap.offset), cfg_type.name.lower())


RING_BASE = 0x100000  # guest RAM the probe points queues at (never used: no DRIVER_OK)
_ADDRESS_PAIRS = (
    (Common.QUEUE_DESC_LO, Common.QUEUE_DESC_HI),
    (Common.QUEUE_DRIVER_LO, Common.QUEUE_DRIVER_HI),
    (Common.QUEUE_DEVICE_LO, Common.QUEUE_DEVICE_HI),
)
_EXTRA_SELECTS = (2, 3)  # feature words past the 64 defined bits
_ABSENT_QUEUES = 2  # queue indices probed past num_queues


def reset(common: Registers) -> None:
    """Write 0 to device_status and read it until it shows 0 (bounded)."""
    common.write(Common.DEVICE_STATUS, 1, 0)
    for _ in range(RESET_POLLS):
        if common.read(Common.DEVICE_STATUS, 1) == 0:
            return


def negotiate(h: Harness, common: Registers) -> int:
    """Reset, read every feature word (selects past bit 63 too), accept what the
    reference driver accepts, read the driver features back and set FEATURES_OK;
    reported as DRIVER_NEGOTIATED like the reference driver does."""
    reset(common)
    offered = []
    for select in (0, 1, *_EXTRA_SELECTS):
        common.write(Common.DEVICE_FEATURE_SELECT, 4, select)
        offered.append(common.read(Common.DEVICE_FEATURE, 4))
    features = (offered[0] | offered[1] << 32) & DEFAULT_ACCEPT
    status = Status.ACKNOWLEDGE | Status.DRIVER
    common.write(Common.DEVICE_STATUS, 1, status)
    for select in (0, 1):
        common.write(Common.DRIVER_FEATURE_SELECT, 4, select)
        common.write(Common.DRIVER_FEATURE, 4, features >> 32 * select & 0xFFFFFFFF)
    for select in (0, 1):
        common.write(Common.DRIVER_FEATURE_SELECT, 4, select)
        common.read(Common.DRIVER_FEATURE, 4)
    common.write(Common.DEVICE_STATUS, 1, status | Status.FEATURES_OK)
    if not common.read(Common.DEVICE_STATUS, 1) & Status.FEATURES_OK:
        features = 0
    h.events.emit("driver", Kind.DRIVER_NEGOTIATED, features=features, legacy=False)
    return features


def place_queues(common: Registers) -> list[int]:
    """Read every queue's size (and two past num_queues), halve it, and point each
    existing queue at ring addresses written as independent 32-bit halves (high first,
    read back, then the high half put back to 0); returns the queues placed."""
    queues = common.read(Common.NUM_QUEUES, 2)
    placed = []
    for index in range(queues + _ABSENT_QUEUES):
        common.write(Common.QUEUE_SELECT, 2, index)
        size = common.read(Common.QUEUE_SIZE, 2)
        if not size or index >= queues:
            continue
        common.write(Common.QUEUE_SIZE, 2, max(size // 2, 1))  # not the default
        for n, (low, high) in enumerate(_ADDRESS_PAIRS):
            common.write(high, 4, 1)  # above 4 GiB: read back, never enabled there
            common.write(low, 4, RING_BASE + index * 0x10000 + n * 0x4000)
            common.read(high, 4)
            common.read(low, 4)
            common.write(high, 4, 0)
        placed.append(index)
    return placed


def each_queue(common: Registers, queues: list[int], *registers: Common) -> None:
    """Read 16-bit ``registers`` of each of ``queues``."""
    for index in queues:
        common.write(Common.QUEUE_SELECT, 2, index)
        for register in registers:
            common.read(register, 2)


def _enable(common: Registers, queues: list[int]) -> None:
    for index in queues:
        common.write(Common.QUEUE_SELECT, 2, index)
        common.write(Common.QUEUE_ENABLE, 2, 1)


def _common(h: Harness) -> Registers:
    common = structure(h, CapType.COMMON)
    assert common is not None, "a modern-capable link has a common configuration"
    return common


def probe_common(h: Harness) -> None:
    """Drive the common configuration by hand: negotiation, queue sizes and ring
    addresses, queues enabled, then a reset and queue_enable read back."""
    common = _common(h)
    negotiate(h, common)
    queues = place_queues(common)
    _enable(common, queues)
    reset(common)
    each_queue(common, queues, Common.QUEUE_ENABLE)


def probe_queue_reset(h: Harness) -> None:
    """queue_reset after a device reset, after queue_enable, and through a reset of
    each queue (polled until it reads 0), then the reset queue's queue_enable and
    queue_size."""
    common = _common(h)
    negotiate(h, common)
    queues = place_queues(common)
    each_queue(common, queues, Common.QUEUE_RESET)
    _enable(common, queues)
    each_queue(common, queues, Common.QUEUE_RESET)
    for index in queues:
        common.write(Common.QUEUE_SELECT, 2, index)
        common.write(Common.QUEUE_RESET, 2, 1)
        for _ in range(RESET_POLLS):
            if not common.read(Common.QUEUE_RESET, 2):
                break
        for register in (Common.QUEUE_ENABLE, Common.QUEUE_SIZE):
            common.read(register, 2)


def probe_generation(h: Harness, live: bool = True) -> None:
    """config_generation around reads of num_pages, before and after the host changes
    it; ``live``: once the driver set DRIVER_OK (else on a device just reset)."""
    if live:
        start(h)
    common, config = _common(h), structure(h, CapType.DEVICE)
    assert config is not None, "the balloon has a device-specific configuration"
    for pages in (0, 256):
        if pages:
            h.host.set_target(pages)
        common.read(Common.CONFIG_GENERATION, 1)
        config.read(NUM_PAGES, 4, "num_pages")
    common.read(Common.CONFIG_GENERATION, 1)


def probe_cfg_window(h: Harness) -> None:
    """Read num_queues and write queue_select through the VIRTIO_PCI_CAP_PCI_CFG
    window, each checked against a direct access of the common configuration."""
    f, common = function(h), _common(h)
    pointer = next(
        (
            p
            for p, cap_id in f.capabilities()
            if cap_id == PCI_CAP_ID_VNDR and f.cfg_read(p + Cap.CFG_TYPE, 1) == CapType.PCI_CFG
        ),
        None,
    )
    assert pointer is not None, "no VIRTIO_PCI_CAP_PCI_CFG capability to probe"
    target = f.virtio_caps()[CapType.COMMON]
    window = Registers(h, _CfgWindow(f, pointer, target.bar, target.offset), "pci_cfg")
    common.read(Common.NUM_QUEUES, 2)
    window.read(Common.NUM_QUEUES, 2)
    window.write(Common.QUEUE_SELECT, 2, 1)
    common.read(Common.QUEUE_SELECT, 2)


class _CfgWindow:
    """Accesses to a BAR carried out through the PCI configuration access capability:
    bar, offset and length written first, then pci_cfg_data read or written."""

    def __init__(self, f: PciFunction, pointer: int, bar: int, base: int) -> None:
        self._f, self._pointer, self._bar = f, pointer, bar
        self.base = base

    def _aim(self, offset: int, width: int) -> int:
        f, pointer = self._f, self._pointer
        f.cfg_write(pointer + Cap.BAR, 1, self._bar)
        f.cfg_write(pointer + Cap.OFFSET, 4, self.base + offset)
        f.cfg_write(pointer + Cap.LENGTH, 4, width)
        return pointer + Cap.PCI_CFG_DATA

    def read(self, offset: int, width: int) -> int:
        return self._f.cfg_read(self._aim(offset, width), width)

    def write(self, offset: int, width: int, value: int) -> None:
        self._f.cfg_write(self._aim(offset, width), width, value)


def probe_interrupts(h: Harness) -> None:
    """A virtqueue notification (the device returns the stats buffer) and a
    configuration change notification (the host changes num_pages), each observed from
    the INTx line, the PCI Status register and ISR status before the driver runs."""
    start(h)
    if h.host.request_stats():
        _observe_interrupt(h)
    h.host.set_target(1)
    _observe_interrupt(h)


def _observe_interrupt(h: Harness) -> None:
    f, line = function(h), h.driver.transport.irq_line
    isr = structure(h, CapType.ISR)
    assert isr is not None and line is not None, "an INTx line and an ISR structure"
    for _ in range(RESET_POLLS):
        if h.machine.irq_level(line):
            break
        h.machine.poll(0.001)
    report(h, "intx", "level", int(h.machine.irq_level(line)))
    for _ in range(2):
        report(h, "config", "status", f.cfg_read(PciCfg.STATUS, 2))
        isr.read(0, 1, "isr")
    report(h, "intx", "level", int(h.machine.irq_level(line)))


LEGACY_PAGES = 0x201  # low bytes differ: a narrow read at the wrong offset shows


def probe_legacy(h: Harness) -> None:
    """The legacy header in BAR0 by hand: device status written and read back, then
    num_pages (set by the host) read at 0x14 at every width and offset."""
    f = function(h)
    header = Registers(h, f.window(0), "legacy")
    for status in (0, Status.ACKNOWLEDGE):
        header.write(Legacy.DEVICE_STATUS, 1, status, "device_status")
        header.read(Legacy.DEVICE_STATUS, 1, "device_status")
    h.host.set_target(LEGACY_PAGES)
    window = f.window(0, Legacy.CONFIG)
    for width in (4, 2, 1):
        for offset in range(NUM_PAGES, NUM_PAGES + 4, width):
            value = window.read(offset, width)
            report(h, "legacy", "config", value, offset=offset, width=width)
