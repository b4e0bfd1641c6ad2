"""QEMU's virtio-balloon as a device target (target API version 1).

``QEMU`` is the instance the registry lists.  It stands in for the device side only: the
driver side of its links is the reference driver, which reaches QEMU over qtest.  It has
no seeded-bug variants (a crashing or hanging QEMU for testing the harness is a test
fake, ``tests/fakes/qemu_fault.py``, not a variant).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from ballast.errors import UsageError
from ballast.link import TRANSPORTS, LinkConfig
from ballast.matrix import Cell
from ballast.spec.catalogue import Catalogue
from ballast.targets.qemu.errors import QemuNotFound
from ballast.targets.qemu.link import QemuLink, launch_options
from ballast.targets.qemu.process import BINARY_ENV, build_argv, find_qemu, qemu_version
from ballast.targets.qemu.properties import QemuProperties
from ballast.targets.qemu.settings import QemuSettings

MISSING = (
    "no QEMU binary: install qemu-system-x86 (apt-get install qemu-system-x86) or set "
    f"{BINARY_ENV} / --qemu-binary"
)


class QemuTarget:
    """The QEMU device target; ``configure`` it from the run's options before use."""

    name = "qemu"
    sides = ("device",)
    api_version = "1"
    matrix = "qemu-ci"  # fixtures/feature-sets.yaml

    def __init__(self) -> None:
        self.settings = QemuSettings()
        self.last_command_line: str | None = None
        self.cells: tuple[Cell, ...] = ()

    def configure(self, settings: QemuSettings, cells: tuple[Cell, ...] = ()) -> None:
        """Use ``settings`` (binary, extra arguments, machines) for every later link;
        ``cells`` are the matrix cells the run tests (their command lines go in run info)."""
        self.settings = settings
        self.cells = cells

    def prerequisites(self) -> str | None:
        try:
            find_qemu(self.settings.binary)
        except QemuNotFound as exc:
            named = self.settings.binary or os.environ.get(BINARY_ENV)
            return str(exc) if named else MISSING
        return None

    def variants(self, side: str) -> dict[str, str]:
        return {}

    def describe(self, side: str, variant: str | None) -> dict[str, Any]:
        """Version, binary, machines, the command line of the last link this process
        opened (None before the first, and in an xdist controller), and the command line of
        each cell the run tests, ``transport@feature-set`` (sockets and firmware, which
        are per test, in ``<workdir>``; each test's own line is in its artifacts)."""
        binary = find_qemu(self.settings.binary)
        return {
            "version": qemu_version(binary),
            "binary": binary,
            "machine": {"pci": self.settings.pci_machine, "mmio": self.settings.mmio_machine},
            "extra_args": list(self.settings.extra_args),
            "command_line": self.last_command_line,
            "command_lines": {
                f"{transport}@{cell.feature_set.id}": self._template(
                    binary, transport, cell.feature_set.features
                )
                for cell in self.cells
                for transport in cell.transports or TRANSPORTS
            },
        }

    def _template(self, binary: str, transport: str, features: int) -> str:
        config = LinkConfig(transport=transport)
        options = launch_options(config, QemuProperties.from_features(features), self.settings)
        workdir = Path("<workdir>")
        return shlex.join(
            build_argv(
                binary,
                **options,
                qtest_socket=workdir / "qtest.sock",
                qmp_socket=workdir / "qmp.sock",
                bios=workdir / "parked-cpu.bin",
            )
        )

    def open_link(self, subject: str, config: LinkConfig, catalogue: Catalogue) -> QemuLink:
        """A link with a fresh QEMU as the device, the reference driver as the driver."""
        if subject not in self.sides:
            raise UsageError(f"target 'qemu' stands in for the device only, not the {subject}")
        link = QemuLink(config, catalogue, self.settings)
        self.last_command_line = link.process.command_line
        return link


QEMU = QemuTarget()
