"""The legacy virtio-pci interface: the header in BAR0 I/O space (transport-pci.tex,
"Legacy Interfaces: A Note on PCI Device Layout"), without MSI-X."""

from __future__ import annotations

from ballast.virtio.layout import LEGACY_PCI_QUEUE_ALIGN, TRANSITIONAL_PCI_DEVICE_IDS, Legacy
from ballast.virtio.transport.base import (
    BaseTransport,
    TransportError,
    check_legacy_features,
    interrupt_reasons,
    legacy_placement,
)
from ballast.virtio.transport.pci import PciFunction

LEGACY_BAR = 0


class PciLegacyTransport(BaseTransport):
    """Driver side of a transitional/legacy virtio-pci function whose BAR0 is assigned.

    Legacy PCI cannot negotiate the queue size and places each ring at a 4096-byte page
    number, so :meth:`setup_queue` only accepts the maximum size in the legacy layout."""

    name = "pci-legacy"
    legacy = True

    def __init__(
        self, function: PciFunction, irq_line: int | None, faults: frozenset[str] = frozenset()
    ) -> None:
        if function.device_id not in TRANSITIONAL_PCI_DEVICE_IDS.values():
            raise TransportError(f"{function} is not transitional: it has no legacy interface")
        self._faults = faults
        self._looked = False
        bar = LEGACY_BAR
        if "pci_legacy_last_io_bar" in faults:  # fault: the last I/O region, not BAR0
            bar = max(i for i, info in function.bars.items() if info.io)
        header = function.window(bar)
        # fault pci_legacy_msix_offset: config placed as if MSI-X were on (0x18)
        config = function.window(bar, Legacy.CONFIG + 4 * ("pci_legacy_msix_offset" in faults))
        super().__init__(function.bus, config, irq_line, config_aligned=False)
        self.function = function
        self._header = header
        self._pfns: dict[int, int] = {}

    def reset(self) -> None:
        """Before first driving the device, a transitional driver looks for the virtio
        capabilities; the legacy interface is the way to drive a device without them
        (or one it chose to drive so)."""
        if not self._looked:
            self._looked = True
            skip = "pci_legacy_skip_caps" in self._faults
            caps = {} if skip else self.function.virtio_caps()
            if not caps and "pci_legacy_refuse_without_caps" in self._faults:
                raise TransportError(f"{self.function} has no virtio capabilities")  # fault
        super().reset()

    def get_status(self) -> int:
        return self._header.read(Legacy.DEVICE_STATUS, 1)

    def set_status(self, value: int) -> None:
        self._header.write(Legacy.DEVICE_STATUS, 1, value)

    def device_features(self) -> int:
        return self._header.read(Legacy.DEVICE_FEATURES, 4)

    def set_driver_features(self, features: int) -> None:
        check_legacy_features(features)
        self._header.write(Legacy.DRIVER_FEATURES, 4, features)

    def queue_max_size(self, index: int) -> int:
        self._header.write(Legacy.QUEUE_SELECT, 2, index)
        return self._header.read(Legacy.QUEUE_SIZE, 2)

    def setup_queue(self, index: int, size: int, desc: int, avail: int, used: int) -> None:
        maximum = self.queue_max_size(index)
        if size != maximum:
            raise TransportError(
                f"legacy PCI queue {index} has fixed size {maximum}; cannot use {size}"
            )
        pfn, _ = legacy_placement(
            size, desc, avail, used, LEGACY_PCI_QUEUE_ALIGN, LEGACY_PCI_QUEUE_ALIGN
        )
        self._pfns[index] = pfn

    def enable_queue(self, index: int) -> None:
        """Writing the Queue Address is what makes a legacy queue live."""
        pfn = self._pfns.get(index)
        if pfn is None:
            raise TransportError(f"queue {index} was not set up")
        self._header.write(Legacy.QUEUE_SELECT, 2, index)
        self._header.write(Legacy.QUEUE_ADDRESS, 4, pfn)

    def notify(self, index: int) -> None:
        self._header.write(Legacy.QUEUE_NOTIFY, 2, index)

    def read_isr(self) -> int:
        """One read of ISR status (which clears it on a conforming device)."""
        return self._header.read(Legacy.ISR_STATUS, 1)

    def ack_interrupt(self) -> set[str]:
        return interrupt_reasons(self.read_isr())
