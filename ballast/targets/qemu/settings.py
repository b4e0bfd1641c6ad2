"""Run-wide settings of the QEMU target and the pytest options that set them.

The lead's plugin calls ``qemu_options(parser)`` from ``pytest_addoption`` and hands
``settings_from_options(config.option)`` to ``QEMU.configure``; everything else reads
the settings from the target.  ``BALLAST_QEMU`` (the binary) is honoured by
``find_qemu`` when ``--qemu-binary`` is not given.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ballast.targets.qemu.lines import check_machine

if TYPE_CHECKING:
    import pytest


@dataclass(frozen=True)
class QemuSettings:
    """How every QEMU of a run is started."""

    binary: str | None = None
    """Path or name of ``qemu-system-x86_64``; None: ``$BALLAST_QEMU``, then ``PATH``."""
    extra_args: tuple[str, ...] = ()
    """Appended to every command line (``-trace``, ``-d``, a sanitizer's options...)."""
    pci_machine: str = "q35"
    """``-machine`` for the PCI transports: q35 or a versioned ``pc-q35-*``, with options."""
    mmio_machine: str = "microvm"
    """``-machine`` for the MMIO transports: microvm, with options."""

    def __post_init__(self) -> None:
        check_machine("pci", self.pci_machine)
        check_machine("mmio", self.mmio_machine)


def qemu_options(parser: pytest.Parser) -> None:
    """Add the QEMU target's command-line options."""
    group = parser.getgroup("ballast-qemu", "ballast: QEMU as the device under test")
    group.addoption(
        "--qemu-binary",
        dest="ballast_qemu_binary",
        metavar="PATH",
        help="QEMU to run (default: $BALLAST_QEMU, else qemu-system-x86_64 on PATH)",
    )
    group.addoption(
        "--qemu-arg",
        dest="ballast_qemu_args",
        action="append",
        default=[],
        metavar="ARGS",
        help="extra QEMU arguments, split like a shell does (repeatable), e.g. "
        "--qemu-arg='-trace virtio_balloon_*'",
    )
    group.addoption(
        "--qemu-pci-machine",
        dest="ballast_qemu_pci_machine",
        default="q35",
        metavar="MACHINE",
        help="-machine for PCI transports (default: q35)",
    )
    group.addoption(
        "--qemu-mmio-machine",
        dest="ballast_qemu_mmio_machine",
        default="microvm",
        metavar="MACHINE",
        help="-machine for MMIO transports (default: microvm)",
    )


def settings_from_options(option: Any) -> QemuSettings:
    """The settings from parsed options (``config.option``); raises ``UsageError`` for a
    machine whose interrupt routing ballast does not know."""
    return QemuSettings(
        binary=option.ballast_qemu_binary,
        extra_args=tuple(arg for value in option.ballast_qemu_args for arg in shlex.split(value)),
        pci_machine=option.ballast_qemu_pci_machine,
        mmio_machine=option.ballast_qemu_mmio_machine,
    )
