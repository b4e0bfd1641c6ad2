"""A client for QEMU's qtest protocol.

qtest is a line protocol: the client sends ``VERB ARG...`` and QEMU answers each command,
in order, with one ``OK [VALUE]``, ``FAIL [reason]`` or ``ERR reason`` line.  Between
replies QEMU may send asynchronous ``IRQ raise N`` / ``IRQ lower N`` lines for the
interrupt controller intercepted with ``irq_intercept_in``; they are folded into a
per-line level table as they are read, whatever command is waiting.

QEMU parses arguments with ``g_assert``: a malformed command (``read 0x0 0x0``, a port
above 0xffff, a number that does not fit 64 bits, a huge length it cannot allocate)
aborts the whole process.  Every method therefore validates its arguments and raises
``QtestArgumentError`` *before* anything is sent.  qtest itself requires no alignment:
unaligned ``readl``/``writeq`` are legal and are passed through, because robustness
tests may want them.

Not available on Debian's QEMU (built without the qtest accelerator, so run with
``-accel tcg``): ``clock_step``/``clock_set`` answer ``FAIL Unknown command``; the
virtual clock runs on its own instead (see ``firmware``).

Every wait has a deadline (``timeout`` scaled by ``BALLAST_TIMEOUT_FACTOR``).  A reply
that arrives after its command timed out is recognised as late and skipped, so the
client stays usable once a stopped QEMU is continued.  The last ``history`` lines in
both directions are kept with timestamps as evidence for verdicts.

Round trips are one ``sendall`` and, usually, one ``poll`` + ``recv_into``; the send
timeout is the socket's ``SO_SNDTIMEO`` so the socket itself stays in blocking mode and
Python adds no hidden ``poll`` calls.  Not thread-safe: one client per thread.
"""

from __future__ import annotations

import binascii
import select
import socket
import struct
import time
from collections import deque
from typing import NamedTuple

from ballast.targets.qemu.errors import (
    QtestArgumentError,
    QtestDisconnected,
    QtestError,
    QtestTimeout,
)
from ballast.timeouts import scaled

MAX_IRQ = 256
"""Size of QEMU's intercepted-line table (``MAX_IRQ`` in system/qtest.c)."""

MAX_TRANSFER = 64 << 20
"""Largest ``read``/``write``/``memset`` accepted: QEMU allocates the whole length at
once and aborts if the allocation fails; 64 MiB also keeps a single reply line (2 bytes
per byte in hex) to a size the client can buffer."""

ADDR_END = 1 << 64
"""Accesses must end at or below the top of the 64-bit address space."""

PORT_END = 0x10000
"""x86 I/O space size; QEMU asserts ``port <= 0xffff``."""

DEFAULT_TIMEOUT = 5.0
"""Seconds per command before scaling: long enough for a 64 MiB transfer under TCG."""

HISTORY_LINE_MAX = 160
"""Longer lines (bulk data) are truncated in the history so it stays small."""

_RECV_CHUNK = 1 << 16
_IRQ_PREFIX = b"IRQ "


class HistoryEntry(NamedTuple):
    """One line of the conversation, for evidence."""

    time: float
    """``time.monotonic()`` when the line was sent or parsed."""
    kind: str
    """``>`` command, ``<`` reply, ``!`` asynchronous line, ``~`` late reply (skipped)."""
    text: str
    """The line without its newline (bulk data truncated to ``HISTORY_LINE_MAX``)."""


class _Expired(Exception):
    """Internal: the deadline passed while waiting for input."""


class QtestClient:
    """Speaks qtest over a connected stream socket (QEMU's side of ``-qtest unix:...``)."""

    def __init__(
        self, sock: socket.socket, *, timeout: float = DEFAULT_TIMEOUT, history: int = 300
    ) -> None:
        """Take ownership of ``sock``; ``timeout`` is per command, before scaling."""
        self._timeout = scaled(timeout)
        self._sock = sock
        sock.setblocking(True)
        seconds = int(self._timeout)
        micros = int((self._timeout - seconds) * 1e6)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("@ll", seconds, micros))
        self._poller = select.poll()
        self._poller.register(sock.fileno(), select.POLLIN)
        self._chunk = memoryview(bytearray(_RECV_CHUNK))
        self._buf = bytearray()
        self._scan = 0
        self._owed = 0
        self._dead: str | None = None
        self._levels = [False] * MAX_IRQ
        self._history: deque[tuple[float, str, bytes | bytearray]] = deque(maxlen=history)

    @property
    def timeout(self) -> float:
        """Seconds each command may take (already scaled)."""
        return self._timeout

    # -- register and port access -------------------------------------------------

    def readb(self, addr: int) -> int:
        """Read one byte of guest-physical memory or MMIO."""
        return self._read_reg(b"readb", addr, 1)

    def readw(self, addr: int) -> int:
        """Read a little-endian 16-bit value."""
        return self._read_reg(b"readw", addr, 2)

    def readl(self, addr: int) -> int:
        """Read a little-endian 32-bit value."""
        return self._read_reg(b"readl", addr, 4)

    def readq(self, addr: int) -> int:
        """Read a little-endian 64-bit value."""
        return self._read_reg(b"readq", addr, 8)

    def writeb(self, addr: int, value: int) -> None:
        """Write one byte."""
        self._write_reg(b"writeb", addr, 1, value)

    def writew(self, addr: int, value: int) -> None:
        """Write a little-endian 16-bit value."""
        self._write_reg(b"writew", addr, 2, value)

    def writel(self, addr: int, value: int) -> None:
        """Write a little-endian 32-bit value."""
        self._write_reg(b"writel", addr, 4, value)

    def writeq(self, addr: int, value: int) -> None:
        """Write a little-endian 64-bit value."""
        self._write_reg(b"writeq", addr, 8, value)

    def inb(self, port: int) -> int:
        """Read an 8-bit x86 I/O port."""
        return self._in(b"inb", port, 1)

    def inw(self, port: int) -> int:
        """Read a 16-bit x86 I/O port."""
        return self._in(b"inw", port, 2)

    def inl(self, port: int) -> int:
        """Read a 32-bit x86 I/O port."""
        return self._in(b"inl", port, 4)

    def outb(self, port: int, value: int) -> None:
        """Write an 8-bit x86 I/O port."""
        self._out(b"outb", port, 1, value)

    def outw(self, port: int, value: int) -> None:
        """Write a 16-bit x86 I/O port."""
        self._out(b"outw", port, 2, value)

    def outl(self, port: int, value: int) -> None:
        """Write a 32-bit x86 I/O port."""
        self._out(b"outl", port, 4, value)

    # -- bulk memory ----------------------------------------------------------------

    def read(self, addr: int, size: int) -> bytes:
        """Read ``size`` bytes (hex-encoded on the wire: cheapest for small sizes)."""
        _check_span(addr, size)
        line = self._command(b"read 0x%x 0x%x\n" % (addr, size))
        try:
            data = binascii.unhexlify(line[5:])
        except (binascii.Error, ValueError):
            data = b""
        return self._checked_length(data, size, line)

    def b64read(self, addr: int, size: int) -> bytes:
        """Read ``size`` bytes (base64 on the wire: cheapest for large sizes)."""
        _check_span(addr, size)
        line = self._command(b"b64read 0x%x 0x%x\n" % (addr, size))
        try:
            data = binascii.a2b_base64(line[3:])
        except binascii.Error:
            data = b""
        return self._checked_length(data, size, line)

    def write(self, addr: int, data: bytes) -> None:
        """Write ``data`` (hex-encoded on the wire)."""
        _check_span(addr, len(data))
        self._command(b"write 0x%x 0x%x 0x%s\n" % (addr, len(data), binascii.hexlify(data)))

    def b64write(self, addr: int, data: bytes) -> None:
        """Write ``data`` (base64 on the wire)."""
        _check_span(addr, len(data))
        encoded = binascii.b2a_base64(data, newline=False)
        self._command(b"b64write 0x%x 0x%x %s\n" % (addr, len(data), encoded))

    def memset(self, addr: int, size: int, value: int) -> None:
        """Fill ``size`` bytes with the byte ``value``."""
        _check_span(addr, size)
        if not 0 <= value <= 0xFF:
            raise QtestArgumentError(f"memset value {value!r} is not a byte")
        self._command(b"memset 0x%x 0x%x 0x%x\n" % (addr, size, value))

    # -- interrupts and clock -------------------------------------------------------

    def irq_intercept_in(self, qom_path: str) -> None:
        """Report the input lines of the device at ``qom_path`` as ``IRQ`` lines.

        QEMU allows one intercepted device per process; intercepting the same device
        again is accepted, another one fails with ``QtestError``.
        """
        if not (qom_path and qom_path.isascii() and qom_path.isprintable()) or " " in qom_path:
            raise QtestArgumentError(f"QOM path {qom_path!r} is not one printable ASCII word")
        self._command(b"irq_intercept_in %s\n" % qom_path.encode())

    def clock_step(self, ns: int | None = None) -> int:
        """Advance the virtual clock (to the next deadline, or by ``ns``); returns it.

        Only QEMU builds with the qtest accelerator implement this; Debian's answers
        ``FAIL Unknown command 'clock_step'`` (raised as ``QtestError``).
        """
        if ns is None:
            cmd = b"clock_step\n"
        elif 0 <= ns < 1 << 63:
            cmd = b"clock_step %d\n" % ns
        else:
            raise QtestArgumentError(f"clock_step {ns!r}: expected 0 <= ns < 2**63")
        return _value(self._command(cmd), 10)

    def irq_level(self, line: int) -> bool:
        """Level of intercepted line ``line`` as of the last line read (no I/O)."""
        if not 0 <= line < MAX_IRQ:
            raise QtestArgumentError(f"IRQ line {line!r}: expected 0..{MAX_IRQ - 1}")
        return self._levels[line]

    def drain(self) -> bool:
        """Process asynchronous lines that have already arrived, without waiting.

        Returns whether any was processed.
        """
        return self._wait_async(0)

    def wait_async(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds (not scaled) for asynchronous lines.

        Returns as soon as at least one was processed (True), or False on timeout.
        """
        return self._wait_async(max(0, int(timeout * 1000 + 0.999)))

    # -- evidence and lifecycle -------------------------------------------------------

    def history(self) -> list[HistoryEntry]:
        """The retained conversation, oldest first."""
        return [
            HistoryEntry(t, kind, bytes(raw).decode("ascii", "replace").rstrip("\n"))
            for t, kind, raw in self._history
        ]

    @property
    def closed(self) -> bool:
        """True once the connection is gone (closed by us, or the peer died)."""
        return self._dead is not None

    def close(self) -> None:
        """Close the socket; idempotent.  Later calls raise ``QtestDisconnected``."""
        if self._dead is None:
            self._dead = "qtest client closed"
        self._sock.close()

    # -- internals ----------------------------------------------------------------------

    def _read_reg(self, verb: bytes, addr: int, width: int) -> int:
        if not 0 <= addr <= ADDR_END - width:
            raise QtestArgumentError(f"{verb.decode()} address {addr!r} out of range")
        return _value(self._command(b"%s 0x%x\n" % (verb, addr)), 16)

    def _write_reg(self, verb: bytes, addr: int, width: int, value: int) -> None:
        if not 0 <= addr <= ADDR_END - width:
            raise QtestArgumentError(f"{verb.decode()} address {addr!r} out of range")
        if not 0 <= value < 1 << (8 * width):
            raise QtestArgumentError(f"{verb.decode()} value {value!r} does not fit {width} B")
        self._command(b"%s 0x%x 0x%x\n" % (verb, addr, value))

    def _in(self, verb: bytes, port: int, width: int) -> int:
        if not 0 <= port <= PORT_END - width:
            raise QtestArgumentError(f"{verb.decode()} port {port!r} out of range")
        return _value(self._command(b"%s 0x%x\n" % (verb, port)), 16)

    def _out(self, verb: bytes, port: int, width: int, value: int) -> None:
        if not 0 <= port <= PORT_END - width:
            raise QtestArgumentError(f"{verb.decode()} port {port!r} out of range")
        if not 0 <= value < 1 << (8 * width):
            raise QtestArgumentError(f"{verb.decode()} value {value!r} does not fit {width} B")
        self._command(b"%s 0x%x 0x%x\n" % (verb, port, value))

    def _checked_length(self, data: bytes, size: int, line: bytearray) -> bytes:
        if len(data) != size:
            raise QtestError(f"qtest: reply of {len(data)} bytes to a {size}-byte read: {line!r}")
        return data

    def _command(self, cmd: bytes) -> bytearray:
        """Send ``cmd`` (newline-terminated) and return its ``OK`` reply line."""
        if self._dead is not None:
            raise QtestDisconnected(self._dead)
        history = self._history
        history.append((time.monotonic(), ">", _clip(cmd)))
        try:
            self._sock.sendall(cmd)
        except BlockingIOError:
            self._dead = f"qtest: sending {_show(cmd)!r} timed out; connection abandoned"
            raise QtestTimeout(
                f"qtest: QEMU did not accept {_show(cmd)!r} within {self._timeout:.2f}s"
            ) from None
        except OSError as exc:
            raise self._disconnected(f"qtest: QEMU went away ({exc})") from exc
        deadline = time.monotonic() + self._timeout
        while True:
            line = self._pop_line()
            while line is None:
                try:
                    self._fill(deadline)
                except _Expired:
                    self._owed += 1
                    raise QtestTimeout(
                        f"qtest: no reply to {_show(cmd)!r} within {self._timeout:.2f}s"
                    ) from None
                line = self._pop_line()
            if line.startswith(_IRQ_PREFIX):
                self._on_irq(line)
            elif self._owed:
                self._owed -= 1
                history.append((time.monotonic(), "~", _clip(line)))
            else:
                history.append((time.monotonic(), "<", _clip(line)))
                if line.startswith(b"OK"):
                    return line
                raise QtestError(f"qtest: {_show(cmd)} -> {line.decode()}")

    def _wait_async(self, timeout_ms: int) -> bool:
        if self._dead is not None:
            raise QtestDisconnected(self._dead)
        seen = False
        deadline = time.monotonic() + timeout_ms / 1000
        wait_ms = timeout_ms
        while True:
            line = self._pop_line()
            while line is not None:
                if line.startswith(_IRQ_PREFIX):
                    self._on_irq(line)
                    seen = True
                elif self._owed:
                    self._owed -= 1
                    self._history.append((time.monotonic(), "~", _clip(line)))
                else:
                    self._history.append((time.monotonic(), "<", _clip(line)))
                    raise QtestError(f"qtest: unsolicited line {line.decode()!r}")
                line = self._pop_line()
            if seen or not self._poller.poll(wait_ms):
                return seen
            self._recv()
            wait_ms = max(0, int((deadline - time.monotonic()) * 1000 + 0.999))

    def _pop_line(self) -> bytearray | None:
        buf = self._buf
        end = buf.find(b"\n", self._scan)
        if end < 0:
            self._scan = len(buf)
            return None
        line = buf[:end]
        del buf[: end + 1]
        self._scan = 0
        return line

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self._poller.poll(int(remaining * 1000 + 0.999)):
            raise _Expired
        self._recv()

    def _recv(self) -> None:
        try:
            count = self._sock.recv_into(self._chunk)
        except OSError as exc:
            raise self._disconnected(f"qtest: QEMU went away ({exc})") from exc
        if not count:
            raise self._disconnected("qtest: QEMU closed the connection (exited or crashed)")
        self._buf += self._chunk[:count]

    def _on_irq(self, line: bytearray) -> None:
        self._history.append((time.monotonic(), "!", line))
        try:
            verb, number = line[4:].split(b" ")
            num = int(number)
            if verb not in (b"raise", b"lower") or not 0 <= num < MAX_IRQ:
                raise ValueError(verb)
        except ValueError:
            raise QtestError(f"qtest: malformed asynchronous line {line.decode()!r}") from None
        self._levels[num] = verb == b"raise"

    def _disconnected(self, reason: str) -> QtestDisconnected:
        """Mark the connection dead for good and return the error to raise."""
        self._dead = reason
        return QtestDisconnected(reason)


def _check_span(addr: int, size: int) -> None:
    """Refuse empty, oversized or wrapping ranges (QEMU asserts or aborts on them)."""
    if not 0 < size <= MAX_TRANSFER:
        raise QtestArgumentError(f"size {size!r}: expected 1..{MAX_TRANSFER} bytes")
    if not 0 <= addr <= ADDR_END - size:
        raise QtestArgumentError(f"address {addr!r} + {size} leaves the 64-bit address space")


def _value(line: bytearray, base: int) -> int:
    """The number in an ``OK VALUE`` reply."""
    try:
        return int(line[3:], base)
    except ValueError:
        raise QtestError(f"qtest: expected a number in the reply {line.decode()!r}") from None


def _show(cmd: bytes) -> str:
    """A command as text for messages (bulk data clipped)."""
    return _clip(cmd).decode("ascii", "replace").strip()


def _clip(line: bytes | bytearray) -> bytes | bytearray:
    return line if len(line) <= HISTORY_LINE_MAX else bytes(line[:HISTORY_LINE_MAX]) + b"..."
