"""Protocol events and the clause monitors that turn them into verdicts."""

from __future__ import annotations

from ballast.monitors.balloon_legacy import (
    DeviceLegacyMonitor,
    DriverFeaturesMonitor,
    DriverLegacyMonitor,
)
from ballast.monitors.balloon_operation import (
    DeviceAckMonitor,
    DriverOperationMonitor,
    PageContentToleranceMonitor,
)
from ballast.monitors.balloon_pages import (
    DeviceHintingMonitor,
    DeviceReportingMonitor,
    DriverHintingMonitor,
    PoisonMonitor,
    ReportingMonitor,
)
from ballast.monitors.balloon_stats import DeviceStatsMonitor, DriverStatsMonitor
from ballast.monitors.base import Monitor
from ballast.monitors.core import MONITORS as CORE_MONITORS
from ballast.monitors.mmio import MONITORS as MMIO_MONITORS
from ballast.monitors.pci import MONITORS as PCI_MONITORS
from ballast.monitors.split import MONITORS as SPLIT_MONITORS

ALL_MONITORS: tuple[type[Monitor], ...] = (
    DriverOperationMonitor,
    PageContentToleranceMonitor,
    DeviceAckMonitor,
    DriverStatsMonitor,
    DeviceStatsMonitor,
    DriverHintingMonitor,
    DeviceHintingMonitor,
    PoisonMonitor,
    ReportingMonitor,
    DeviceReportingMonitor,
    DriverFeaturesMonitor,
    DriverLegacyMonitor,
    DeviceLegacyMonitor,
    *CORE_MONITORS,
    *SPLIT_MONITORS,
    *PCI_MONITORS,
    *MMIO_MONITORS,
)


def monitored_clauses() -> dict[str, type[Monitor]]:
    """Clause ID -> the one monitor that owns it."""
    return {clause: monitor for monitor in ALL_MONITORS for clause in monitor.clauses}
