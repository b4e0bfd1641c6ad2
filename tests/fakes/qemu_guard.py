"""Guards shared by the tests that run a real QEMU (not a fake: the one place for them).

They skip with a one-line reason when no binary is found, unless ``BALLAST_REQUIRE``
names ``qemu`` (a CI job that installed QEMU on purpose): then the tests run and fail on
the missing binary instead of passing vacuously.  ``qemu_children`` and
``qemu_processes`` check afterwards that no QEMU is left running (or unreaped).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ballast.targets.qemu.errors import QemuNotFound
from ballast.targets.qemu.process import find_qemu

REQUIRE_ENV = "BALLAST_REQUIRE"


def _missing_reason() -> str | None:
    try:
        find_qemu()
    except QemuNotFound as exc:
        return str(exc)
    return None


QEMU_MISSING = _missing_reason()
QEMU_REQUIRED = "qemu" in os.environ.get(REQUIRE_ENV, "")
requires_qemu = pytest.mark.skipif(
    QEMU_MISSING is not None and not QEMU_REQUIRED, reason=QEMU_MISSING or ""
)


def qemu_children() -> list[str]:
    """``pgrep -a`` lines of QEMU processes whose parent is this process (zombies too)."""
    found = subprocess.run(
        ["pgrep", "-a", "-P", str(os.getpid()), "qemu"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.splitlines()


def qemu_processes(marker: str) -> list[str]:
    """Live (not zombie) processes whose command line contains ``marker``, such as a
    private TMPDIR every QEMU of one run has in its socket paths: ``pid state argv``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in argv and state != "Z":
            found.append(f"{proc.name} {state} {argv.strip()}")
    return found
