#!/usr/bin/env python3
"""A stand-in QEMU binary that runs the real one and breaks it on cue.

Point a link at this file (``QemuSettings(binary=...)``) and say what to do in
``BALLAST_FAULT``, ``ACTION:TRIGGER=N``:

* ACTION ``kill``: SIGKILL QEMU (a crash: the test must end in CRASH);
  ``stop``: SIGSTOP QEMU (a hang: TIMEOUT);
* TRIGGER ``commands=N``: just before the N-th qtest command reaches QEMU;
  ``delay=S``: S seconds after QEMU started.

The wrapper forks a relay and then *execs* the real QEMU, so QEMU keeps the pid the
harness started, is its child and is reaped by it, exactly as without the wrapper.  The
relay (named ``ballast-relay``, a child of QEMU that dies with it) sits in the qtest
stream: QEMU connects to the relay's socket, the relay connects to the harness's and
copies bytes both ways, counting commands; QMP goes straight from QEMU to the harness.
The relay announces what it did on stderr, which the harness captures as QEMU's, so the
evidence shows in the artifacts.

Only the standard library: it runs under whatever ``python3`` is on PATH.  Without
``BALLAST_FAULT`` (or for ``--version``) it simply execs the real QEMU
(``BALLAST_FAULT_QEMU``, default ``qemu-system-x86_64``).
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import socket
import sys
import time

FAULT_ENV = "BALLAST_FAULT"
REAL_ENV = "BALLAST_FAULT_QEMU"
ACTIONS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}
RELAY_NAME = b"ballast-relay"
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def main(argv: list[str]) -> int:
    real = os.environ.get(REAL_ENV) or shutil.which("qemu-system-x86_64")
    if real is None:
        print("qemu_fault: no real QEMU (set BALLAST_FAULT_QEMU)", file=sys.stderr)
        return 127
    fault = os.environ.get(FAULT_ENV, "")
    if fault and "-qtest" in argv:
        argv = _fork_relay(argv, *_parse(fault))
    os.execv(real, [real, *argv])
    return 127  # not reached


def _parse(fault: str) -> tuple[str, str, float]:
    try:
        action, rule = fault.split(":", 1)
        trigger, value = rule.split("=", 1)
        if action not in ACTIONS or trigger not in ("commands", "delay"):
            raise ValueError(fault)
        return action, trigger, float(value)
    except ValueError:
        sys.exit(f"qemu_fault: {FAULT_ENV}={fault!r}: expected kill|stop:commands=N|delay=S")


def _fork_relay(argv: list[str], action: str, trigger: str, limit: float) -> list[str]:
    """Start the relay; returns QEMU's argv with ``-qtest`` pointing at it."""
    index = argv.index("-qtest") + 1
    harness_path = argv[index].removeprefix("unix:")
    relay_path = harness_path + ".relay"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(relay_path)
    listener.listen(1)
    qemu_pid = os.getpid()
    if os.fork() == 0:
        try:
            _relay(listener, harness_path, qemu_pid, action, trigger, limit)
        finally:
            os._exit(0)
    listener.close()
    return [*argv[:index], f"unix:{relay_path}", *argv[index + 1 :]]


def _relay(
    listener: socket.socket,
    harness_path: str,
    qemu_pid: int,
    action: str,
    trigger: str,
    limit: float,
) -> None:
    """The relay process: copy the qtest stream until the fault fires or QEMU goes."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_NAME, ctypes.c_char_p(RELAY_NAME), 0, 0, 0)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    deadline = time.monotonic() + limit if trigger == "delay" else None
    budget = int(limit) if trigger == "commands" else None
    qemu_sock = listener.accept()[0]
    harness = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    harness.connect(harness_path)
    seen = 0
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([harness, qemu_sock], [], [], timeout)
        if deadline is not None and time.monotonic() >= deadline:
            _fire(action, qemu_pid, harness, f"{limit:g}s after start")
        if qemu_sock in ready:
            data = qemu_sock.recv(1 << 16)
            if not data:
                return
            harness.sendall(data)
        if harness in ready:
            data = harness.recv(1 << 16)
            if not data:
                return
            if budget is not None and seen + data.count(b"\n") >= budget:
                qemu_sock.sendall(data[: _nth_line_end(data, budget - seen - 1)])
                _fire(action, qemu_pid, harness, f"before qtest command #{budget}")
            seen += data.count(b"\n")
            qemu_sock.sendall(data)


def _nth_line_end(data: bytes, n: int) -> int:
    """Offset just past the ``n``-th newline of ``data`` (0 for n == 0)."""
    end = 0
    for _ in range(n):
        end = data.index(b"\n", end) + 1
    return end


def _fire(action: str, qemu_pid: int, harness: socket.socket, when: str) -> None:
    """Break QEMU; a killed QEMU's qtest connection is closed, a stopped one's kept open
    (as a hung QEMU's would be) until the harness kills the process group."""
    sig = ACTIONS[action]
    print(f"qemu_fault: sending {sig.name} to QEMU (pid {qemu_pid}) {when}", file=sys.stderr)
    sys.stderr.flush()
    os.kill(qemu_pid, sig)
    if action == "kill":
        harness.close()
        os._exit(0)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
