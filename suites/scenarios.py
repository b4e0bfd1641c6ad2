"""Scenarios shared by the suites: each drives a link through one kind of balloon activity.

They speak to the two sides only through the harness: ``h.host`` (the device's host
interface, what QMP is to QEMU) and ``h.driver`` (the driver's guest-side hooks), so the
same scenario runs whichever side is the implementation under test.
"""

from __future__ import annotations

import contextlib

from ballast.harness import Harness
from ballast.monitors.events import Kind
from ballast.reference.allocator import PageState
from ballast.reference.balloon import ACTUAL, NUM_PAGES, Queue
from ballast.reference.device import DEFAULT_FEATURES
from ballast.reference.driver import DEFAULT_ACCEPT, DriverError, FeaturesRefused
from ballast.reference.faults import faults_of
from ballast.virtio.features import mask
from ballast.virtio.status import Status

__all__ = ["DEFAULT_FEATURES", "DriverError", "FeaturesRefused", "Queue", "contextlib", "faults_of"]

EVERY_TRANSPORT = ["pci-modern", "pci-transitional", "mmio-v2", "pci-legacy", "mmio-v1"]
"""For ``requires(transport=...)``: a clause without conditions that binds legacy links as
much as modern ones."""


def accept_without(*names: str) -> int:
    """The reference driver's default acceptance minus some features."""
    return DEFAULT_ACCEPT & ~mask(*names)


def offer_without(*names: str) -> int:
    """The reference device's default offer minus some features."""
    return DEFAULT_FEATURES & ~mask(*names)


def start(h: Harness) -> Harness:
    h.driver.init()
    h.driver.run_until_idle()
    return h


def settle(h: Harness, rounds: int = 100) -> None:
    """Let both sides run until neither has anything left to do (held-back notifications
    included)."""
    for _ in range(rounds):
        h.driver.run_until_idle()
        h.machine.poll(0)
        if not h.driver.handle_interrupts():
            return
    raise AssertionError(f"the link did not settle in {rounds} rounds")


def target(h: Harness, pages: int) -> None:
    h.host.set_target(pages)
    settle(h)


def deflate_on_oom(h: Harness, inflate: int = 512, pressure: int = 256) -> Harness:
    """Start the link, fill the balloon to ``inflate`` pages, then let the guest run short of
    ``pressure`` pages so the driver deflates below num_pages."""
    start(h)
    target(h, inflate)
    h.driver.memory_pressure(pressure)
    settle(h)
    return h


def use_all_free(h: Harness) -> None:
    """Guest applications take every free page (so returned pages get touched)."""
    h.driver.use_pages(h.driver.pool.count(PageState.FREE))


def inflate_deflate(h: Harness, up: int = 600, down: int = 100) -> None:
    start(h)
    target(h, up)
    target(h, down)
    use_all_free(h)


def stats_rounds(h: Harness, rounds: int = 3) -> dict[int, int]:
    start(h)
    stats: dict[int, int] = {}
    for _ in range(rounds):
        h.host.request_stats()
        settle(h)
        stats = h.host.read_stats()
    return stats


def hint_round(h: Harness, finish: bool = True) -> None:
    start(h)
    h.host.start_hinting()
    settle(h)
    if finish:
        h.host.finish_hinting()
        settle(h)


def report(h: Harness, pages: int = 1024) -> None:
    start(h)
    h.driver.report_free_pages(pages)
    settle(h)
    use_all_free(h)


# -- the driver side played by the test itself (historical or probing behaviour) -------------
# These steps do what the reference driver never does on its own, and record what they
# observed as driver-side events, exactly as the reference driver would.


def write_actual_bytewise(h: Harness, value: int) -> None:
    """Write ``actual`` one byte at a time, as historical legacy PCI drivers did, asking
    the host what the device reports after each byte."""
    t = h.driver.transport
    for i, byte in enumerate(value.to_bytes(4, "little")):
        t.config_write(ACTUAL + i, 1, byte)
        h.events.emit("driver", Kind.ACTUAL_WRITTEN, value=value, complete=i == 3)
        h.host.read_actual()


def reset_and_read_status(h: Harness) -> None:
    """Reset a live device and read the status back once."""
    t = h.driver.transport
    t.set_status(0)
    h.events.emit("driver", Kind.DRIVER_RESET)
    h.events.emit("driver", Kind.DEVICE_STATUS_READ, value=t.get_status())


def negotiate_unoffered(h: Harness) -> None:
    """Offer the device a feature set with a bit it did not offer; read FEATURES_OK back."""
    t = h.driver.transport
    t.reset()
    t.set_status(Status.ACKNOWLEDGE)
    t.set_status(Status.ACKNOWLEDGE | Status.DRIVER)
    offered = t.device_features()
    h.events.emit("driver", Kind.DEVICE_FEATURES_SEEN, value=offered)
    unoffered = next(1 << bit for bit in range(6, 24) if not offered >> bit & 1)
    written = offered | unoffered
    t.set_driver_features(written)
    t.set_status(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK)
    status = t.get_status()
    h.events.emit(
        "driver",
        Kind.FEATURES_OK_READBACK,
        status=status,
        features=written,
        accepted=bool(status & Status.FEATURES_OK),
    )


def read_isr_twice(h: Harness) -> None:
    """Make the device raise a config interrupt, then read ISR twice in a row."""
    h.host.set_target(1)
    t = h.driver.transport
    first = t.read_isr()
    h.events.emit("driver", Kind.ISR_READ, value=first, repeat=False)
    h.events.emit("driver", Kind.ISR_READ, value=t.read_isr(), repeat=True)
    target(h, 0)  # a fresh interrupt: the driver catches up with num_pages


def set_status(h: Harness, value: int) -> None:
    """Write the device status as the driver would, reporting it as the driver does."""
    h.driver.transport.set_status(value)
    h.events.emit("driver", Kind.STATUS_SET, value=value)


def read_status(h: Harness) -> int:
    value = h.driver.transport.get_status()
    h.events.emit("driver", Kind.DEVICE_STATUS_READ, value=value)
    return value


def reset_then_prod(h: Harness) -> None:
    """Reset a live device, then ask the host for what would make a live device use a
    buffer (stats) and notify (a new target); the driver looks at its rings and ISR."""
    h.driver.transport.reset()
    h.events.emit("driver", Kind.DRIVER_RESET)
    h.host.request_stats()
    h.host.set_target(64)
    h.machine.poll(0)
    h.driver.observe()


def read_config_early(h: Harness, pages: int = 100) -> None:
    """The host sets a target on a freshly reset device; the driver reads num_pages after
    DRIVER and before FEATURES_OK (as it may, to check it can drive the device)."""
    t = h.driver.transport
    t.reset()
    h.events.emit("driver", Kind.DRIVER_RESET)
    h.host.set_target(pages)
    status = Status.ACKNOWLEDGE | Status.DRIVER
    set_status(h, Status.ACKNOWLEDGE)
    set_status(h, status)
    offered = t.device_features()
    h.events.emit("driver", Kind.DEVICE_FEATURES_SEEN, value=offered, legacy=t.legacy)
    value = t.config_read(NUM_PAGES, 4)
    h.events.emit(
        "driver", Kind.CONFIG_SEEN, field="num_pages", value=value, generation=None, status=status
    )


def break_ring(h: Harness) -> None:
    """Publish an inflateq avail index more than a queue size ahead (a ring the device
    cannot use) and notify; the driver reads ISR and the status.  A device that still
    shows no DEVICE_NEEDS_RESET gets the ring repaired and a request: does it serve it?"""
    d = h.driver
    index, queue = d.ring(Queue.INFLATE)
    bogus = (queue.avail_idx + queue.size + 1) & 0xFFFF
    h.events.emit("driver", Kind.RING_BROKEN, queue=index, rule="avail-idx-beyond-queue-size")
    queue.mem.write(queue.layout.avail + 2, bogus.to_bytes(2, "little"))
    d.transport.notify(index)
    h.machine.poll(0)
    d.observe()
    if read_status(h) & Status.DEVICE_NEEDS_RESET:
        return
    queue.mem.write(queue.layout.avail + 2, queue.avail_idx.to_bytes(2, "little"))
    with contextlib.suppress(DriverError):
        target(h, 16)


def reset_stats_queue(h: Harness) -> None:
    """Reset the stats queue while the device holds its buffer and ask for stats: the reset
    queue must stay silent.  Then re-enable it with one new buffer and ask again: that
    buffer, and only it, comes back."""
    h.driver.reset_queue(Queue.STATS)
    h.host.request_stats()
    look(h)
    h.driver.reenable_queue(Queue.STATS)
    look(h)
    h.host.request_stats()
    look(h)


def look(h: Harness) -> None:
    """Let the device run, then the driver looks at its rings and ISR without acting."""
    h.machine.poll(0)
    h.driver.observe()


def reset_and_reenable(h: Harness, role: Queue) -> None:
    """The driver resets a queue and makes it live again; the link settles."""
    h.driver.reset_queue(role)
    h.driver.reenable_queue(role)
    settle(h)


def reenable_inflate_queue(h: Harness, size: int | None = None, pages: int = 40) -> None:
    """Inflate a little, reset the inflateq and re-enable it (with ``size`` entries), then
    inflate to ``pages`` pages (one-page requests wrap a small ring)."""
    target(h, 16)
    h.driver.reset_queue(Queue.INFLATE)
    h.driver.reenable_queue(Queue.INFLATE, size=size)
    with contextlib.suppress(DriverError):
        target(h, pages)


def write_actual_early(h: Harness, value: int = 7) -> None:
    """A legacy driver writes actual right after DRIVER, before reading the features; the
    host reads it back; then the driver reads the features."""
    t = h.driver.transport
    t.reset()
    h.events.emit("driver", Kind.DRIVER_RESET)
    set_status(h, Status.ACKNOWLEDGE)
    set_status(h, Status.ACKNOWLEDGE | Status.DRIVER)
    t.config_write(ACTUAL, 4, value)
    h.events.emit("driver", Kind.ACTUAL_WRITTEN, value=value, complete=True)
    h.host.read_actual()
    h.events.emit("driver", Kind.DEVICE_FEATURES_SEEN, value=t.device_features(), legacy=t.legacy)
