"""Guards shared by the tests that run a real QEMU (not a fake: the one place for them).

They skip with a one-line reason when no binary is found, and check afterwards that
no QEMU started by this test process is left running (or unreaped).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from ballast.targets.qemu.errors import QemuNotFound
from ballast.targets.qemu.process import find_qemu


def _missing_reason() -> str | None:
    try:
        find_qemu()
    except QemuNotFound as exc:
        return str(exc)
    return None


QEMU_MISSING = _missing_reason()
requires_qemu = pytest.mark.skipif(QEMU_MISSING is not None, reason=QEMU_MISSING or "")


def qemu_children() -> list[str]:
    """``pgrep -a`` lines of QEMU processes whose parent is this process (zombies too)."""
    found = subprocess.run(
        ["pgrep", "-a", "-P", str(os.getpid()), "qemu"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.splitlines()
