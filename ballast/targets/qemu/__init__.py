"""QEMU's balloon device as a target: the process and protocol layer.

``QemuProcess`` starts QEMU (TCG, parked-CPU firmware, qtest and QMP on Unix sockets the
harness listens on) and guarantees it never outlives the run; ``QtestClient`` and
``QmpClient`` speak the two protocols with timeouts and typed errors; ``QtestBus`` puts
the ``Bus`` protocol on top of qtest so driver-side transports run unchanged; ``machines``
holds the measured facts about where q35 and microvm put the device and its interrupt.
"""

from __future__ import annotations

from ballast.targets.qemu.bus import QtestBus
from ballast.targets.qemu.errors import (
    QemuError,
    QemuNotFound,
    QemuStartError,
    QmpCommandError,
    QmpDisconnected,
    QmpError,
    QmpTimeout,
    QtestArgumentError,
    QtestDisconnected,
    QtestError,
    QtestTimeout,
)
from ballast.targets.qemu.machines import (
    IrqRoute,
    microvm_irq_route,
    microvm_transport_base,
    q35_intx_route,
)
from ballast.targets.qemu.process import QemuProcess, build_argv, find_qemu, qemu_version
from ballast.targets.qemu.qmp import QmpClient
from ballast.targets.qemu.qtest import HistoryEntry, QtestClient

__all__ = [
    "HistoryEntry",
    "IrqRoute",
    "QemuError",
    "QemuNotFound",
    "QemuProcess",
    "QemuStartError",
    "QmpClient",
    "QmpCommandError",
    "QmpDisconnected",
    "QmpError",
    "QmpTimeout",
    "QtestArgumentError",
    "QtestBus",
    "QtestClient",
    "QtestDisconnected",
    "QtestError",
    "QtestTimeout",
    "build_argv",
    "find_qemu",
    "microvm_irq_route",
    "microvm_transport_base",
    "q35_intx_route",
    "qemu_version",
]
