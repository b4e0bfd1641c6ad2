"""What driving QEMU's balloon over qtest costs: start-up, round trips, shutdown, memory.

Prints medians (and the best run) of: QEMU start -> first qtest reply (split into
``QemuProcess()`` returning and the first ``readl``), one ``readl`` round trip, one QMP
command, 64-byte hex vs base64 and 1 MiB base64 transfers, ``close()`` (QMP ``quit`` ->
exit -> reaped), and QEMU's resident set size; first unpinned, then with this process
and QEMU pinned to one CPU (``cpu_affinity``).  The host is shared and noisy: compare
medians, not single runs.  Run: ``.venv/bin/python bench/bench_qtest.py [--machine
microvm] [--starts N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from ballast.targets.qemu.process import QemuProcess

DEVICES = {
    "q35": "virtio-balloon-pci,id=balloon0,addr=0x3",
    "microvm": "virtio-balloon-device,id=balloon0",
}
RAM_SCRATCH = 0x100000


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (from /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def per_call(fn: Callable[[], object], calls: int, rounds: int) -> list[float]:
    """Seconds per call of ``fn``, one figure per round of ``calls`` calls."""
    figures = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        figures.append((time.perf_counter() - start) / calls)
    return figures


def show(label: str, seconds: list[float], unit: str = "ms") -> None:
    scale = {"ms": 1e3, "us": 1e6}[unit]
    median, best = statistics.median(seconds) * scale, min(seconds) * scale
    print(f"{label:<38} {median:9.1f} {unit} median {best:9.1f} {unit} best")


def measure(machine: str, starts: int, cpu: int | None) -> None:
    """Run every measurement once; ``cpu`` pins this process and QEMU to that CPU."""
    device = DEVICES[machine]
    affinity = None if cpu is None else {cpu}
    started, first_reply, closed, rss = [], [], [], []
    for _ in range(starts):
        begin = time.perf_counter()
        qemu = QemuProcess(machine=machine, devices=[device], cpu_affinity=affinity)
        up = time.perf_counter()
        qemu.qtest.readl(0)
        replied = time.perf_counter()
        started.append(up - begin)
        first_reply.append(replied - begin)
        rss.append(rss_mib(qemu.pid))
        begin = time.perf_counter()
        qemu.close()
        closed.append(time.perf_counter() - begin)

    with QemuProcess(machine=machine, devices=[device], cpu_affinity=affinity) as qemu:
        qtest, qmp = qemu.qtest, qemu.qmp
        mib = os.urandom(1 << 20)
        readl = per_call(lambda: qtest.readl(RAM_SCRATCH), 500, 20)
        query = per_call(qmp.query_balloon, 50, 10)
        hex_read = per_call(lambda: qtest.read(RAM_SCRATCH, 64), 200, 10)
        b64_read = per_call(lambda: qtest.b64read(RAM_SCRATCH, 64), 200, 10)
        write_mib = per_call(lambda: qtest.b64write(RAM_SCRATCH, mib), 5, 5)
        read_mib = per_call(lambda: qtest.b64read(RAM_SCRATCH, len(mib)), 5, 5)
        rss_after = rss_mib(qemu.pid)

    where = "unpinned" if cpu is None else f"this process and QEMU pinned to CPU {cpu}"
    print(f"QEMU {qemu.version}, machine {machine}, {starts} starts, {where}")
    show("start: QemuProcess() returned", started)
    show("start -> first qtest reply", first_reply)
    show("close(): quit -> exit -> reaped", closed)
    show("readl round trip", readl, "us")
    show("QMP query-balloon", query, "us")
    show("read 64 B (hex)", hex_read, "us")
    show("b64read 64 B", b64_read, "us")
    show("b64write 1 MiB", write_mib)
    show("b64read 1 MiB", read_mib)
    print(f"{'RSS after start':<38} {statistics.median(rss):9.1f} MiB median")
    print(f"{'RSS after 2 MiB of traffic':<38} {rss_after:9.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", choices=sorted(DEVICES), default="q35")
    parser.add_argument("--starts", type=int, default=15, help="QEMU starts to time")
    args = parser.parse_args()
    measure(args.machine, args.starts, None)
    print()
    original = os.sched_getaffinity(0)
    cpu = min(original)
    os.sched_setaffinity(0, {cpu})
    try:
        measure(args.machine, args.starts, cpu)
    finally:
        os.sched_setaffinity(0, original)


if __name__ == "__main__":
    main()
