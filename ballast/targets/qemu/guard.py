"""Turning a QEMU that stopped answering or died into the harness's verdicts.

The qtest and QMP clients raise channel errors (``QtestTimeout``, ``QmpDisconnected``...)
that say what the channel saw, not what happened to QEMU.  ``PeerGuard`` looks at the
process when one of them surfaces during a test and raises ``QemuHung`` (a
``PeerTimeout``: TIMEOUT) or ``QemuCrashed`` (a ``PeerCrashed``: CRASH) whose message
holds the channel's error, QEMU's exit status and the tail of its stderr; the same
evidence goes into the link's artifacts for the report.

After the first failure every later access fails at once with the same verdict: a
stopped QEMU would otherwise cost one full timeout per access (the monitors' end-of-test
memory reads alone would take minutes).

``GuardedBus`` is the ``Bus`` the driver uses: ``QtestBus`` with each access passed
through the guard.  A ``try`` costs nothing in Python 3.11 until it catches, so the guard
adds one method call (~0.1 µs) to a ~16 µs qtest round trip.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any, TypeVar

from ballast.targets.qemu.bus import QtestBus
from ballast.targets.qemu.errors import (
    QemuCrashed,
    QemuHung,
    QmpDisconnected,
    QmpTimeout,
    QtestDisconnected,
    QtestTimeout,
)
from ballast.targets.qemu.process import QemuProcess
from ballast.timeouts import scaled

STDERR_TAIL_LINES = 20
EXIT_GRACE = 1.0
"""Seconds (before scaling) to wait for a QEMU whose connection dropped to finish
exiting, so its exit status and last stderr lines are in the message."""

PEER_ERRORS = (QtestTimeout, QtestDisconnected, QmpTimeout, QmpDisconnected)
"""Channel errors that are the peer's doing; anything else (a refused qtest command, a
QMP command QEMU rejected) is a harness or test problem and passes through unchanged."""

_T = TypeVar("_T")


class PeerGuard:
    """Watches one QEMU process on behalf of a link."""

    def __init__(self, process: QemuProcess, artifacts: dict[str, str]) -> None:
        self.process = process
        self.artifacts = artifacts
        self._failure: QemuHung | QemuCrashed | None = None

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def call(self, action: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run ``action`` (a qtest or QMP call), translating peer failures."""
        self.check()
        try:
            return action(*args, **kwargs)
        except PEER_ERRORS as exc:
            raise self.translate(exc) from exc

    def check(self) -> None:
        """Raise the recorded failure again (as a fresh exception) if there was one."""
        if self._failure is not None:
            raise type(self._failure)(str(self._failure))

    def translate(self, exc: Exception) -> QemuHung | QemuCrashed:
        """The verdict exception for channel error ``exc``; recorded, with artifacts."""
        if self._failure is None:
            self._failure = self._classify(exc)
            self.record()
        return type(self._failure)(str(self._failure))

    def hung(self, reason: str) -> QemuHung:
        """Record that QEMU answers but its device stopped making progress (``reason``);
        returns the TIMEOUT exception to raise."""
        if self._failure is None:
            self._failure = QemuHung(f"QEMU {reason}{_tail(self.process.stderr_text())}")
            self.record()
        return type(self._failure)(str(self._failure))

    def record(self) -> None:
        """Copy the evidence (command line, stderr, qtest history) into the artifacts."""
        process = self.process
        self.artifacts["qemu-command-line"] = process.command_line
        self.artifacts["qemu-stderr"] = process.stderr_text()
        history = process.qtest.history()  # the client's ring: the last few hundred lines
        self.artifacts["qtest-history"] = "\n".join(
            f"{entry.time:.6f} {entry.kind} {entry.text}" for entry in history
        )
        status = process.returncode
        if status is not None:
            self.artifacts["qemu-exit"] = describe_exit(status)

    def _classify(self, exc: Exception) -> QemuHung | QemuCrashed:
        process = self.process
        if isinstance(exc, (QtestDisconnected, QmpDisconnected)):
            process.wait(scaled(EXIT_GRACE))
        status = process.returncode
        tail = _tail(process.stderr_text())
        if status is not None:
            return QemuCrashed(f"QEMU {describe_exit(status)} ({exc}){tail}")
        if isinstance(exc, (QtestDisconnected, QmpDisconnected)):
            return QemuCrashed(f"QEMU (still running) dropped its connection ({exc}){tail}")
        state = "stopped (SIGSTOP)" if process.stopped else "running but silent"
        return QemuHung(f"QEMU {state}: {exc}{tail}")


class GuardedBus:
    """``QtestBus`` whose peer failures become ``QemuHung``/``QemuCrashed``."""

    def __init__(self, bus: QtestBus, guard: PeerGuard) -> None:
        self.qtest_bus = bus
        self.guard = guard

    def mem_read(self, addr: int, size: int) -> bytes:
        return self.guard.call(self.qtest_bus.mem_read, addr, size)

    def mem_write(self, addr: int, data: bytes) -> None:
        self.guard.call(self.qtest_bus.mem_write, addr, data)

    def mmio_read(self, addr: int, width: int) -> int:
        return self.guard.call(self.qtest_bus.mmio_read, addr, width)

    def mmio_write(self, addr: int, width: int, value: int) -> None:
        self.guard.call(self.qtest_bus.mmio_write, addr, width, value)

    def io_read(self, port: int, width: int) -> int:
        return self.guard.call(self.qtest_bus.io_read, port, width)

    def io_write(self, port: int, width: int, value: int) -> None:
        self.guard.call(self.qtest_bus.io_write, port, width, value)

    def irq_level(self, line: int) -> bool:
        return self.guard.call(self.qtest_bus.irq_level, line)

    def poll(self, timeout: float = 0.0) -> None:
        self.guard.call(self.qtest_bus.poll, timeout)


def describe_exit(status: int) -> str:
    """``exited with status 1`` or ``was killed by SIGKILL`` for a Popen return code."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    return f"exited with status {status}"


def _tail(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()][-STDERR_TAIL_LINES:]
    if not lines:
        return "; QEMU wrote nothing to stderr"
    return "\n  QEMU stderr (last lines):\n    " + "\n    ".join(lines)
