"""Cases run in a child pytest by tests/test_qemu_lifetime.py: links left open by a
test that errors, by a test that never closes them, and by a run interrupted while a
link is open.  Not collected on its own (no ``test_`` file prefix).

``BALLAST_LIFETIME_MARKER`` names a file the waiting case creates once its QEMU runs,
so the parent knows when to interrupt it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ballast.link import LinkConfig
from ballast.targets.qemu.link import QemuLink

MARKER_ENV = "BALLAST_LIFETIME_MARKER"


@pytest.fixture
def link():
    opened = QemuLink(LinkConfig(transport="pci-modern"))
    yield opened
    opened.close()


def test_errors_with_a_link_open(link: QemuLink) -> None:
    link.driver.init()
    raise RuntimeError("a test that errors while QEMU runs")


@pytest.mark.parametrize("transport", ["pci-legacy", "mmio-v2"])
def test_never_closes_its_link(transport: str) -> None:
    leaked = QemuLink(LinkConfig(transport=transport))
    leaked.driver.init()


def test_waits_to_be_interrupted(link: QemuLink) -> None:
    link.driver.init()
    Path(os.environ[MARKER_ENV]).write_text(str(link.process.pid))
    time.sleep(60)
