"""QEMU's balloon device as a target.

The target (``QEMU``, a ``QemuTarget``) opens ``QemuLink``s: a fresh QEMU per test with
the reference driver over qtest, the host interface (``QemuHost``) over QMP, and the
device monitors watching.  ``QemuSettings`` (from ``qemu_options``/``settings_from_options``)
say which binary, extra arguments and machines; ``QemuProperties`` map the reference
device's feature bits onto ``-device`` properties.

Underneath: ``QemuProcess`` starts QEMU (TCG, parked-CPU firmware, qtest and QMP on Unix
sockets the harness listens on) and guarantees it never outlives the run; ``QtestClient``
and ``QmpClient`` speak the two protocols with timeouts and typed errors; ``QtestBus`` puts
the ``Bus`` protocol on top of qtest so driver-side transports run unchanged; ``machines``
holds the measured facts about where q35 and microvm put the device and its interrupt.
``QemuHung``/``QemuCrashed`` are what a link raises when QEMU stops answering or dies.
"""

from __future__ import annotations

from ballast.targets.qemu.bus import QtestBus
from ballast.targets.qemu.errors import (
    QemuCrashed,
    QemuError,
    QemuHung,
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
from ballast.targets.qemu.host import QemuHost
from ballast.targets.qemu.link import QemuLink
from ballast.targets.qemu.machines import (
    IrqRoute,
    microvm_irq_route,
    microvm_transport_base,
    q35_intx_route,
)
from ballast.targets.qemu.process import QemuProcess, build_argv, find_qemu, qemu_version
from ballast.targets.qemu.properties import QemuProperties
from ballast.targets.qemu.qmp import QmpClient
from ballast.targets.qemu.qtest import HistoryEntry, QtestClient
from ballast.targets.qemu.settings import QemuSettings, qemu_options, settings_from_options
from ballast.targets.qemu.target import QEMU, QemuTarget

__all__ = [
    "QEMU",
    "HistoryEntry",
    "IrqRoute",
    "QemuCrashed",
    "QemuError",
    "QemuHost",
    "QemuHung",
    "QemuLink",
    "QemuNotFound",
    "QemuProcess",
    "QemuProperties",
    "QemuSettings",
    "QemuStartError",
    "QemuTarget",
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
    "qemu_options",
    "qemu_version",
    "settings_from_options",
]
