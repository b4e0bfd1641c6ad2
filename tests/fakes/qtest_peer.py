"""The QEMU end of a qtest connection, scripted by the test.

Single-threaded on purpose: the test queues QEMU's lines *before* the client sends its
command (a socketpair buffers them), then checks what the client sent.  That makes the
interleaving of asynchronous ``IRQ`` lines and replies exact and repeatable, which a
real QEMU cannot promise.
"""

from __future__ import annotations

import socket


class FakeQtestPeer:
    """A socketpair: ``client_sock`` goes to ``QtestClient``, the other end is ours."""

    def __init__(self) -> None:
        self.client_sock, self._sock = socket.socketpair()
        self._sock.setblocking(False)

    def queue(self, *lines: str) -> None:
        """Send ``lines`` (newline added) as if QEMU had written them."""
        self._sock.sendall(b"".join(line.encode() + b"\n" for line in lines))

    def queue_raw(self, data: bytes) -> None:
        """Send bytes exactly as given (for partial lines)."""
        self._sock.sendall(data)

    def received(self) -> list[str]:
        """Every line the client has sent since the last call."""
        data = b""
        while True:
            try:
                chunk = self._sock.recv(1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        return data.decode().splitlines()

    def close(self) -> None:
        """Hang up, as a dying QEMU does."""
        self._sock.close()
