"""The reference device and driver as a target like any other."""

from __future__ import annotations

from typing import Any

from ballast import __version__
from ballast.reference.faults import faults_of


class ReferenceTarget:
    name = "reference"
    sides = ("device", "driver")
    api_version = "1"
    matrix = "reference"  # fixtures/feature-sets.yaml

    def prerequisites(self) -> str | None:
        return None

    def variants(self, side: str) -> dict[str, str]:
        return {
            name: f"{fault.what} (breaks {fault.clause})" for name, fault in faults_of(side).items()
        }

    def describe(self, side: str, variant: str | None) -> dict[str, Any]:
        return {"version": __version__, "machine": "in-process"}

    def open_link(self, subject: str, config: Any, catalogue: Any) -> Any:
        from ballast.link import PCI_SLOT, Link

        return Link(config, catalogue, device_slot=PCI_SLOT if subject == "device" else None)


REFERENCE = ReferenceTarget()
