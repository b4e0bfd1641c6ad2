"""QEMU's virtio-balloon as a device target (target API version 1).

``QEMU`` is the instance the registry lists.  It stands in for the device side only: the
driver side of its links is the reference driver, which reaches QEMU over qtest.  It has
no seeded-bug variants (a crashing or hanging QEMU for testing the harness is a test
fake, ``tests/fakes/qemu_fault.py``, not a variant).
"""

from __future__ import annotations

import os
from typing import Any

from ballast.errors import UsageError
from ballast.link import LinkConfig
from ballast.spec.catalogue import Catalogue
from ballast.targets.qemu.errors import QemuNotFound
from ballast.targets.qemu.link import QemuLink
from ballast.targets.qemu.process import BINARY_ENV, find_qemu, qemu_version
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

    def __init__(self) -> None:
        self.settings = QemuSettings()
        self.last_command_line: str | None = None

    def configure(self, settings: QemuSettings) -> None:
        """Use ``settings`` (binary, extra arguments, machines) for every later link."""
        self.settings = settings

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
        binary = find_qemu(self.settings.binary)
        return {
            "version": qemu_version(binary),
            "binary": binary,
            "machine": {"pci": self.settings.pci_machine, "mmio": self.settings.mmio_machine},
            "extra_args": list(self.settings.extra_args),
            "command_line": self.last_command_line,
        }

    def open_link(self, subject: str, config: LinkConfig, catalogue: Catalogue) -> QemuLink:
        """A link with a fresh QEMU as the device, the reference driver as the driver."""
        if subject not in self.sides:
            raise UsageError(f"target 'qemu' stands in for the device only, not the {subject}")
        link = QemuLink(config, catalogue, self.settings)
        self.last_command_line = link.process.command_line
        return link


QEMU = QemuTarget()
