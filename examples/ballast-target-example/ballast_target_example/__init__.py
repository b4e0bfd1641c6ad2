"""An out-of-tree ballast target (target API 1), registered through the ``ballast.targets``
entry-point group: the reference balloon device built with 64-entry virtqueues.

A real plugin would wrap its own device (behind the ``ballast.virtio.bus.Bus`` protocol)
the same way; see docs/targets.md in ballast.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ballast.link import Link, LinkConfig
from ballast.spec.catalogue import Catalogue

QUEUE_SIZE = 64


class ExampleTarget:
    name = "example"
    sides = ("device",)
    api_version = "1"

    def prerequisites(self) -> str | None:
        return None

    def variants(self, side: str) -> dict[str, str]:
        return {}

    def describe(self, side: str, variant: str | None) -> dict[str, Any]:
        return {"version": "0.1.0", "queue_size": QUEUE_SIZE}

    def open_link(self, subject: str, config: LinkConfig, catalogue: Catalogue) -> Link:
        device = dataclasses.replace(config.device, queue_size=QUEUE_SIZE)
        return Link(dataclasses.replace(config, device=device), catalogue)


TARGET = ExampleTarget()
