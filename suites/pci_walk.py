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
from ballast.reference.driver import DEFAULT_ACCEPT
from ballast.virtio.layout import PCI_CAP_ID_VNDR, Cap, CapType, Common, PciCfg
from ballast.virtio.status import Status
from ballast.virtio.transport.base import RESET_POLLS, Window
from ballast.virtio.transport.pci import PciFunction


def function(h: Harness) -> PciFunction:
    """The PCI function the link's driver opened."""
    return h.driver.transport.function


def walk(h: Harness) -> None:
    """Read the header and every capability (stopping where a pointer comes round
    again), then num_queues and each queue's size and notify offset."""
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
    h.events.emit("driver", Kind.PCI_CAPS_WALKED, count=len(seen), looped=looped)
    common = structure(h, CapType.COMMON)
    if common is None:
        return
    if common.base % 4:
        return  # 32-bit fields cannot be read aligned (pci.device.common.01 says why)
    offered = 0
    for word in (0, 1):
        common.write(Common.DEVICE_FEATURE_SELECT, 4, word)
        offered |= common.read(Common.DEVICE_FEATURE, 4) << 32 * word
    h.events.emit("driver", Kind.DEVICE_FEATURES_SEEN, value=offered)
    for index in range(common.read(Common.NUM_QUEUES, 2)):
        common.write(Common.QUEUE_SELECT, 2, index)
        if common.read(Common.QUEUE_SIZE, 2):
            common.read(Common.QUEUE_NOTIFY_OFF, 2)


class Registers:
    """A virtio structure's registers, each access reported as PCI_REGISTER_SEEN."""

    def __init__(self, h: Harness, window: Window, block: str) -> None:
        self._h = h
        self._window = window
        self.base = window.base
        self.block = block
        self.queue: int | None = None

    def read(self, register: Common, width: int) -> int:
        value = self._window.read(register, width)
        self._emit(register, value, "read")
        return value

    def write(self, register: Common, width: int, value: int) -> None:
        self._window.write(register, width, value)
        if register == Common.QUEUE_SELECT:
            self.queue = value
        self._emit(register, value, "write")

    def _emit(self, register: Common, value: int, access: str) -> None:
        self._h.events.emit(
            "driver",
            Kind.PCI_REGISTER_SEEN,
            block=self.block,
            register=register.name.lower(),
            value=value,
            queue=self.queue,
            access=access,
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


def probe_common(h: Harness) -> None:
    """Drive the common configuration by hand: reset, feature words (including selects
    past bit 63), driver features read back, every queue's size (and two past
    num_queues), 64-bit ring addresses as independent halves, queues enabled, then a
    second reset and queue_enable read back."""
    common = structure(h, CapType.COMMON)
    assert common is not None, "a modern-capable link has a common configuration"
    reset(common)
    offered = []
    for select in (0, 1, *_EXTRA_SELECTS):
        common.write(Common.DEVICE_FEATURE_SELECT, 4, select)
        offered.append(common.read(Common.DEVICE_FEATURE, 4))
    status = Status.ACKNOWLEDGE | Status.DRIVER
    common.write(Common.DEVICE_STATUS, 1, status)
    for select in (0, 1):
        common.write(Common.DRIVER_FEATURE_SELECT, 4, select)
        common.write(Common.DRIVER_FEATURE, 4, offered[select] & DEFAULT_ACCEPT >> 32 * select)
    for select in (0, 1):
        common.write(Common.DRIVER_FEATURE_SELECT, 4, select)
        common.read(Common.DRIVER_FEATURE, 4)
    common.write(Common.DEVICE_STATUS, 1, status | Status.FEATURES_OK)
    queues = common.read(Common.NUM_QUEUES, 2)
    live = []
    for index in range(queues + _ABSENT_QUEUES):
        common.write(Common.QUEUE_SELECT, 2, index)
        if not common.read(Common.QUEUE_SIZE, 2) or index >= queues:
            continue
        for n, (low, high) in enumerate(_ADDRESS_PAIRS):
            common.write(low, 4, RING_BASE + index * 0x10000 + n * 0x4000)
            common.write(high, 4, 0)
        for low, high in _ADDRESS_PAIRS:
            common.read(high, 4)
            common.read(low, 4)
        live.append(index)
    for index in live:
        common.write(Common.QUEUE_SELECT, 2, index)
        common.write(Common.QUEUE_ENABLE, 2, 1)
    reset(common)
    for index in live:
        common.write(Common.QUEUE_SELECT, 2, index)
        common.read(Common.QUEUE_ENABLE, 2)
