"""Reference driver against reference device at balloon scale: inflate 1,048,576 pages
(4 GiB) in 256-PFN requests over modern PCI on the in-process machine, then deflate them
all.  Every request goes through the whole stack: PFN array in guest memory, split ring,
notify register, device processing, used ring, ISR and a 4-byte ``actual`` write.

Run: ``.venv/bin/python bench/bench_balloon.py [--pages N] [--batch N]``.
"""

from __future__ import annotations

import argparse
import time

from ballast.machine import InProcessMachine
from ballast.monitors.events import EventLog
from ballast.reference.device import BalloonDevice
from ballast.reference.driver import BalloonDriver, DriverPolicy
from ballast.reference.guestmem import MemoryLayout
from ballast.virtio.memory import PAGE_SIZE
from ballast.virtio.transport import BarAllocator, open_transport

RESERVE = 16 << 20  # RAM beyond the pool: firmware area and the driver-private area


def build(pages: int, batch: int) -> tuple[BalloonDevice, BalloonDriver]:
    ram = pages * PAGE_SIZE + RESERVE
    events = EventLog()
    machine = InProcessMachine(ram, events=events)
    device = BalloonDevice(machine.memory, events)
    machine.attach_pci(device, "modern")
    transport = open_transport(machine, "pci-modern", allocator=BarAllocator())
    policy = DriverPolicy(batch=batch, memory_layout=MemoryLayout.for_ram(ram))
    driver = BalloonDriver(machine, transport, events, policy)
    driver.init()
    driver.run_until_idle()
    return device, driver


def timed(device: BalloonDevice, driver: BalloonDriver, target: int) -> float:
    start = time.perf_counter()
    device.set_target(target)
    driver.run_until_idle(timeout=600)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1 << 20)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    device, driver = build(args.pages, args.batch)
    inflate = timed(device, driver, args.pages)
    assert device.actual == args.pages == len(device.balloon_pages)
    deflate = timed(device, driver, 0)
    assert device.actual == 0 and not device.balloon_pages
    requests = 2 * -(-args.pages // args.batch)
    total = inflate + deflate
    print(
        f"inflate {args.pages} pages: {inflate:.3f} s; deflate: {deflate:.3f} s; "
        f"total {total:.3f} s"
    )
    print(
        f"{requests} descriptors, {requests / total:,.0f} descriptors/s, "
        f"{2 * args.pages / total:,.0f} pages/s"
    )


if __name__ == "__main__":
    main()
