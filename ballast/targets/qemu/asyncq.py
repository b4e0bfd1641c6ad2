"""Waiting for the queue QEMU handles off the notification path: free page hinting.

QEMU's balloon processes the inflate, deflate, stats and reporting queues inside the
notification write (TCG, no ioeventfd).  The free page hint queue is different: its
notify handler only schedules a bottom half on the hinting iothread, which pops, handles
and uses the buffers later (and busy-polls the queue while a round is running).  Under a
loaded host that takes milliseconds, long enough for a harness to decide the link is idle
before QEMU has answered (seen as a flaky "never reached" under ``pytest -n 2``).

``HintQueueDrain`` waits until the queue's used index has caught up with its available
index - every buffer the driver made available has been used - reading both from guest
RAM through the memfd; QMP supplies the ring addresses.  QEMU uses every hint buffer it
pops, whatever the round's state, so the wait ends unless QEMU is stuck; it is bounded,
and a queue that does not drain is left for the monitors to judge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ballast.timeouts import scaled

DRAIN_TIMEOUT = 2.0
"""Seconds (before scaling) to wait for the hint queue to drain."""
_POLL = 0.0002
_IDX_OFFSET = 2
"""Both ``avail`` and ``used`` rings keep their 16-bit index after a 16-bit flags field."""


class HintQueueDrain:
    """``drain(queues)`` for ``DeferringBus``: waits when ``queue`` was notified."""

    def __init__(
        self,
        queue: int,
        command: Callable[..., Any],
        virtio_path: str,
        read: Callable[[int, int], bytes],
    ) -> None:
        """``command`` runs a QMP command (guarded), ``read`` reads guest RAM."""
        self.queue = queue
        self._command = command
        self._virtio_path = virtio_path
        self._read = read

    def __call__(self, queues: set[int]) -> None:
        if self.queue not in queues:
            return
        status = self._command(
            "x-query-virtio-queue-status", path=self._virtio_path, queue=self.queue
        )
        avail, used = status["vring-avail"] + _IDX_OFFSET, status["vring-used"] + _IDX_OFFSET
        deadline = time.monotonic() + scaled(DRAIN_TIMEOUT)
        while self._read(avail, 2) != self._read(used, 2) and time.monotonic() < deadline:
            time.sleep(_POLL)
