"""The modern virtio-pci interface, located through the virtio capabilities (wherever
the device put its structures: any BAR, memory or I/O)."""

from __future__ import annotations

from ballast.virtio.layout import CapType, Common
from ballast.virtio.transport.base import (
    BaseTransport,
    TransportError,
    Window,
    feature_words,
    interrupt_reasons,
    read_features,
    wait_for_zero,
    write_address,
    write_features,
)
from ballast.virtio.transport.pci import CfgWindow, PciFunction, VirtioCap

_REQUIRED = (CapType.COMMON, CapType.NOTIFY, CapType.ISR)
_WORDS = feature_words(legacy=False)


class PciModernTransport(BaseTransport):
    """Driver side of a modern (or transitional, used the modern way) virtio-pci
    function whose BARs are assigned."""

    name = "pci-modern"
    legacy = False

    def __init__(
        self, function: PciFunction, irq_line: int | None, faults: frozenset[str] = frozenset()
    ) -> None:
        # fault pci_caps_unchecked: never looks at the capability list
        caps = {} if "pci_caps_unchecked" in faults else function.virtio_caps(faults)
        missing = [t.name for t in _REQUIRED if t not in caps]
        if len(missing) == len(_REQUIRED):
            raise TransportError(
                f"{function} lacks virtio capabilities {missing}: not a modern device"
            )
        device = caps.get(CapType.DEVICE)
        config = None if device is None else function.window(device.bar, device.offset)
        super().__init__(function.bus, config, irq_line)
        self.function = function
        common, notify, isr = (_structure(function, caps, t) for t in _REQUIRED)
        self._common, self._isr, self._notify = common, isr, notify
        notify_cap = caps.get(CapType.NOTIFY)
        self._multiplier = 0 if notify_cap is None else notify_cap.multiplier
        self._notify_offsets: dict[int, int] = {}
        self.faults = faults  # seeded bugs of the reference driver (pci.driver.*)
        self.high_half_first = False
        """Write each 64-bit queue address high half first (a permitted order)."""

    def use_cfg_window(self) -> None:
        """Reach the device-specific configuration through the PCI configuration access
        capability from now on (as firmware without BAR mappings does)."""
        caps = self.function.virtio_caps()
        window, device = caps.get(CapType.PCI_CFG), caps.get(CapType.DEVICE)
        if window is None or device is None:
            raise TransportError(f"{self.function} has no PCI configuration access capability")
        self._config = CfgWindow(self.function, window.pointer, device, self.faults)

    def get_status(self) -> int:
        return self._common.read(Common.DEVICE_STATUS, 1)

    def set_status(self, value: int) -> None:
        self._common.write(Common.DEVICE_STATUS, 1, value)

    def device_features(self) -> int:
        common = self._common
        return read_features(common, Common.DEVICE_FEATURE_SELECT, Common.DEVICE_FEATURE, _WORDS)

    def set_driver_features(self, features: int) -> None:
        common = self._common
        write_features(
            common, Common.DRIVER_FEATURE_SELECT, Common.DRIVER_FEATURE, features, _WORDS
        )

    def config_generation(self) -> int:
        return self._common.read(Common.CONFIG_GENERATION, 1)

    def num_queues(self) -> int:
        return self._common.read(Common.NUM_QUEUES, 2)

    def _select(self, index: int) -> None:
        self._common.write(Common.QUEUE_SELECT, 2, index)

    def queue_max_size(self, index: int) -> int:
        """``queue_size`` of the queue, which shows the maximum until the driver writes a
        smaller size."""
        self._select(index)
        return self._common.read(Common.QUEUE_SIZE, 2)

    def setup_queue(self, index: int, size: int, desc: int, avail: int, used: int) -> None:
        self._select(index)
        if "pci_queue_enable_zero" in self.faults:
            self._common.write(Common.QUEUE_ENABLE, 2, 0)  # fault: "disables" it first
        if "pci_queue_size_not_pow2" in self.faults:
            self._common.write(Common.QUEUE_SIZE, 2, size - 1)  # fault: then corrected
        self._common.write(Common.QUEUE_SIZE, 2, size)
        for register, address in (
            (Common.QUEUE_DESC_LO, desc),
            (Common.QUEUE_DRIVER_LO, avail),
            (Common.QUEUE_DEVICE_LO, used),
        ):
            write_address(self._common, register, address, self.high_half_first)

    def enable_queue(self, index: int) -> None:
        self._select(index)
        self._notify_offsets[index] = offset = self._notify_offset()
        if "pci_write_notify_off" in self.faults:
            self._common.write(Common.QUEUE_NOTIFY_OFF, 2, offset // (self._multiplier or 1))
        self._common.write(Common.QUEUE_ENABLE, 2, 1)

    def _notify_offset(self) -> int:
        """Offset of the selected queue's Queue Notify address in the notify window."""
        return self._common.read(Common.QUEUE_NOTIFY_OFF, 2) * self._multiplier

    def reset_queue(self, index: int, check: bool = True) -> None:
        self._select(index)
        self._common.write(Common.QUEUE_RESET, 2, 1)
        if "pci_queue_reset_no_wait" in self.faults or not check:
            self._notify_offsets.pop(index, None)
            return  # fault (or the caller's wish): the reset taken as done at once
        wait_for_zero(
            self.bus, lambda: self._common.read(Common.QUEUE_RESET, 2), f"reset of queue {index}"
        )
        self._notify_offsets.pop(index, None)

    def notify(self, index: int) -> None:
        offset = self._notify_offsets.get(index)
        if offset is None:  # a queue not enabled through this transport
            self._select(index)
            offset = self._notify_offset()
        if "pci_notify_32bit" in self.faults:
            self._notify.write(offset, 4, index)  # fault: a 32-bit notification
        else:
            value = index + 1 if "pci_notify_wrong_value" in self.faults else index
            self._notify.write(offset, 2, value)

    def read_isr(self) -> int:
        """One read of ISR status (which clears it on a conforming device)."""
        return self._isr.read(0, 1)

    def ack_interrupt(self) -> set[str]:
        return interrupt_reasons(self.read_isr())


class _Absent:
    """A required structure the device does not present: the transport still opens (so
    a test can walk the capabilities and report what is missing) and fails on use."""

    def __init__(self, what: str) -> None:
        self._what = what

    def read(self, offset: int, width: int) -> int:
        raise TransportError(self._what)

    def write(self, offset: int, width: int, value: int) -> None:
        raise TransportError(self._what)


def _structure(
    function: PciFunction, caps: dict[int, VirtioCap], cfg_type: CapType
) -> Window | _Absent:
    cap = caps.get(cfg_type)
    if cap is None:
        return _Absent(f"{function} lacks the virtio {cfg_type.name} capability")
    return function.window(cap.bar, cap.offset)
