"""Exception types of the QEMU target.

One family per channel, so a caller can tell a setup problem (no QEMU binary: fix the
machine) from an implementation problem (QEMU died: CRASH; QEMU stopped answering:
TIMEOUT) from a harness bug (a malformed qtest command, refused before it could abort
QEMU).  The qtest errors are also ``BusError``s because transports written against the
``Bus`` protocol only know that type.

``QemuHung`` and ``QemuCrashed`` are what a link raises once a channel error turned out to
be the peer's fault: they are the harness's ``PeerTimeout``/``PeerCrashed`` (so the test
gets TIMEOUT/CRASH) and deliberately *not* ``BusError``s, so no transport or driver code
that handles a refused access can swallow a dead QEMU.
"""

from __future__ import annotations

from ballast.errors import PeerCrashed, PeerTimeout
from ballast.virtio.bus import BusError


class QemuError(Exception):
    """Base of every error raised by ``ballast.targets.qemu``."""


class QemuNotFound(QemuError):
    """No usable QEMU binary: the message names the missing piece and the fix."""


class QemuStartError(QemuError):
    """QEMU was found but did not come up (bad option, early exit, no connection)."""


class QtestError(QemuError, BusError):
    """QEMU answered a qtest command with ``FAIL``/``ERR``, or broke the protocol."""


class QtestArgumentError(QtestError, ValueError):
    """A qtest command was refused before sending: it could have aborted QEMU."""


class QtestTimeout(QtestError, TimeoutError):
    """QEMU did not answer a qtest command in time (hung, stopped or overloaded)."""


class QtestDisconnected(QtestError, ConnectionError):
    """The qtest connection is gone: QEMU exited, crashed or closed the socket."""


class QmpError(QemuError):
    """Base of the QMP channel's errors."""


class QmpCommandError(QmpError):
    """QEMU executed a QMP command and reported failure (``{"error": ...}``)."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        super().__init__(f"QMP {command}: {error_class}: {desc}")
        self.command = command
        self.error_class = error_class
        self.desc = desc


class QmpTimeout(QmpError, TimeoutError):
    """QEMU did not answer a QMP command in time."""


class QmpDisconnected(QmpError, ConnectionError):
    """The QMP connection is gone (QEMU exited or crashed)."""


class QemuHung(QemuError, PeerTimeout):
    """QEMU stopped answering during a test (verdict TIMEOUT); the message carries the
    channel's own error and the tail of QEMU's stderr."""


class QemuCrashed(QemuError, PeerCrashed):
    """QEMU died or dropped its connections during a test (verdict CRASH); the message
    carries its exit status and the tail of its stderr."""
