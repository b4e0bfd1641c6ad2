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
from ballast.monitors.core import (
    ConfigGenerationMonitor,
    DeviceCoreMonitor,
    DriverInitMonitor,
    MmioDriverAccessMonitor,
)

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
    DriverInitMonitor,
    DeviceCoreMonitor,
    MmioDriverAccessMonitor,
    ConfigGenerationMonitor,
)


def monitored_clauses() -> dict[str, type[Monitor]]:
    """Clause ID -> the one monitor that owns it."""
    return {clause: monitor for monitor in ALL_MONITORS for clause in monitor.clauses}
