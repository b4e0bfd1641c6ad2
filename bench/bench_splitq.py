"""Split-ring throughput at balloon scale: inflate then deflate 1,048,576 PFNs each way.

Each buffer is one device-readable descriptor holding a 1024-byte array of 256 le32 PFNs,
as the balloon driver sends them.  The driver fills queue-size batches, kicks, the device
pops every chain, reads and decodes its PFN array and pushes it back, and the driver reaps
the used ring.  Run: ``.venv/bin/python bench/bench_splitq.py [--queue-size N]``.
"""

from __future__ import annotations

import argparse
import time
from array import array
from typing import cast

from ballast.virtio.memory import GuestMemory
from ballast.virtio.splitq import DeviceQueue, DriverQueue, layout

BUFFERS = 4096
PFNS_PER_BUFFER = 256
ARRAY_BYTES = 4 * PFNS_PER_BUFFER
RING_BASE = 0x10000
BUFFER_BASE = 0x100000


def pfn_arrays(first_pfn: int) -> list[bytes]:
    """The PFN arrays of one direction, prepared up front: generating PFNs is the guest
    allocator's work, not the ring's."""
    pfns = array("I", range(first_pfn, first_pfn + BUFFERS * PFNS_PER_BUFFER))
    raw = pfns.tobytes()
    return [raw[i : i + ARRAY_BYTES] for i in range(0, len(raw), ARRAY_BYTES)]


def run_direction(
    mem: GuestMemory, queue_size: int, arrays: list[bytes], touch_data: bool
) -> tuple[float, int]:
    """Move every array through a fresh queue; returns (seconds, PFNs the device saw).
    Without ``touch_data`` neither side writes or reads the arrays: ring cost alone."""
    lay = layout(queue_size, RING_BASE)
    driver = DriverQueue(mem.view("guest"), queue_size, lay, event_idx=True, indirect=False)
    device = DeviceQueue(mem.view("host"), queue_size, lay, event_idx=True)
    guest, host = driver.mem, device.mem
    slots = [BUFFER_BASE + i * ARRAY_BYTES for i in range(queue_size)]
    free_slots = list(reversed(slots))
    received = 0
    start = time.perf_counter()
    pending = iter(arrays)
    remaining = len(arrays)
    while remaining:
        for data in pending:
            slot = free_slots.pop()
            if touch_data:
                guest.write(slot, data)
            driver.add([(slot, ARRAY_BYTES)], (), slot)
            if not free_slots:
                break
        if driver.kick_needed():
            while (chain := device.pop()) is not None:
                addr, length = chain.out[0]
                if touch_data:
                    received += len(array("I", host.read(addr, length)))
                else:
                    received += length // 4
                device.push(chain.head, 0)
        if device.needs_interrupt():
            for elem in driver.pop_used():
                free_slots.append(cast(int, elem.token))
                remaining -= 1
    return time.perf_counter() - start, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-size", type=int, default=128)
    args = parser.parse_args()
    mem = GuestMemory(64 << 20)
    arrays = {"inflate": pfn_arrays(0x10000), "deflate": pfn_arrays(0x10000)}
    for touch_data, label in ((True, "with PFN arrays"), (False, "ring only")):
        total_s = 0.0
        total_pfns = 0
        for name, data in arrays.items():
            seconds, pfns = run_direction(mem, args.queue_size, data, touch_data)
            total_s += seconds
            total_pfns += pfns
            print(
                f"[{label}] {name}: {BUFFERS} descriptors, {pfns} PFNs in {seconds:.3f} s "
                f"({BUFFERS / seconds:,.0f} descriptors/s)"
            )
        descriptors = len(arrays) * BUFFERS
        print(
            f"[{label}] total: {descriptors} descriptors, {total_pfns} PFNs in {total_s:.3f} s "
            f"({descriptors / total_s:,.0f} descriptors/s, {total_pfns / total_s:,.0f} PFNs/s)"
        )


if __name__ == "__main__":
    main()
