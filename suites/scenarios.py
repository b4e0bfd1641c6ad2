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
from ballast.reference.driver import DEFAULT_ACCEPT, DriverError, DriverTimeout, FeaturesRefused
from ballast.reference.faults import faults_of
from ballast.virtio.features import mask
from ballast.virtio.layout import ISR_CONFIG
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


def report_fragmented(h: Harness) -> None:
    """Report free memory the balloon has cut into pieces, so that requests carry several
    ranges (a multi-element buffer: an indirect table when VIRTIO_F_INDIRECT_DESC is on)."""
    start(h)
    target(h, 600)
    target(h, 100)
    h.driver.report_free_pages(4096)
    settle(h)


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


# -- virtio-mmio registers read by the test through the driver's transport ------------------


def read_mmio_identity(h: Harness) -> None:
    """Read MagicValue, Version and DeviceID of the live device."""
    magic, version, device_id = h.driver.transport.identity()
    h.events.emit(
        "driver", Kind.MMIO_IDENTITY_SEEN, magic=magic, version=version, device_id=device_id
    )


def interrupt_status_until_ack(h: Harness) -> None:
    """Make the device raise a config interrupt; read InterruptStatus twice, acknowledge
    the config bit, read it again."""
    t = h.driver.transport
    h.host.set_target(1)
    for ack in (0, 0, ISR_CONFIG, 0):
        h.events.emit("driver", Kind.INTERRUPT_STATUS_SEEN, value=t.interrupt_status())
        if ack:
            t.write_interrupt_ack(ack)
            h.events.emit("driver", Kind.INTERRUPT_ACKED, mask=ack)
    target(h, 0)  # a fresh interrupt: the driver catches up with num_pages


def reset_with_interrupt_pending(h: Harness) -> None:
    """Reset a live device with a config interrupt pending, then read InterruptStatus and
    every queue's QueueReady."""
    t = h.driver.transport
    h.host.set_target(1)
    t.reset()
    h.events.emit("driver", Kind.DRIVER_RESET)
    status = t.interrupt_status()
    ready = {index: t.queue_ready(index) for index in range(t.num_queues())}
    h.events.emit("driver", Kind.MMIO_RESET_STATE, interrupt_status=status, ready=ready)


def queue_reset_values(h: Harness, when: str) -> None:
    """Read every queue's QueueReset; ``when`` says what the link just did."""
    t = h.driver.transport
    values = {index: t.queue_reset_value(index) for index in range(t.num_queues())}
    h.events.emit("driver", Kind.QUEUE_RESET_VALUES, when=when, values=values)


def reset_then_queue_reset_values(h: Harness) -> None:
    """Reset a live device, then read QueueReset of every queue."""
    h.driver.transport.reset()
    h.events.emit("driver", Kind.DRIVER_RESET)
    queue_reset_values(h, "after-reset")


def reset_and_restart_queue(h: Harness, relocate: bool) -> None:
    """Reset the live inflateq, read QueueReady, enable it again (in place or, with
    ``relocate``, with a new ring of half the size) and inflate through it."""
    start(h)
    target(h, 256)
    t = h.driver.transport
    index = h.driver.queue_index(Queue.INFLATE)
    h.driver.reset_queue(Queue.INFLATE)
    h.events.emit("driver", Kind.QUEUE_RESET_SEEN, index=index, ready=t.queue_ready(index))
    half = h.driver.ring(Queue.INFLATE).size // 2  # with relocate: a smaller ring elsewhere
    h.driver.restart_queue(Queue.INFLATE, size=half if relocate else None, relocate=relocate)
    ready = t.queue_ready(index)
    h.events.emit("driver", Kind.QUEUE_REENABLED, index=index, relocated=relocate, ready=ready)
    with contextlib.suppress(DriverTimeout):  # a request left unused is the monitors' evidence
        target(h, 512)


STOP_WAIT = 0.05  # seconds a stopped queue is given to (wrongly) use a buffer


def kick_stopped_deflateq(h: Harness) -> None:
    """Inflate, stop the deflateq, then make a deflate request available on it and notify
    (the test playing a driver that ignores its own stop); count what the device used."""
    start(h)
    target(h, 256)
    index = h.driver.queue_index(Queue.DEFLATE)
    h.driver.stop_queue(Queue.DEFLATE)
    h.driver.expose_pfns(Queue.DEFLATE, [min(h.driver.balloon_pfns)])
    h.machine.poll(STOP_WAIT)
    used = h.driver.reap(Queue.DEFLATE)
    h.events.emit("driver", Kind.STOPPED_QUEUE_KICKED, index=index, used=used)


def notify_spuriously(h: Harness) -> None:
    """Notify every queue the driver set up once more, with nothing new made available."""
    t = h.driver.transport
    for ring in h.events.of(Kind.RING_PLACED, "driver"):
        t.notify(ring["index"])
        h.events.emit("driver", Kind.NOTIFY_SENT, queue=ring["index"], spurious=True)


def inflate_under_suppression(h: Harness, flags: int, ahead: int, steps: int = 4) -> None:
    """Inflate one page per host request while the inflateq's avail flags and used_event
    are held fixed (used_event ``ahead`` entries past the used idx), so that each request's
    used buffer either must or should not be notified.  One request goes first with the
    fields as usual: a device may always notify its first used buffer."""
    start(h)
    target(h, 1)
    ring = h.driver.ring(Queue.INFLATE)
    index = next(
        e["index"] for e in h.events.of(Kind.RING_PLACED, "driver") if e["role"] == Queue.INFLATE
    )
    used_event = (ring.last_used_idx + ahead) & 0xFFFF
    ring.hold_suppression(flags, used_event)
    h.events.emit("driver", Kind.SUPPRESSION_HELD, queue=index, flags=flags, used_event=used_event)
    for pages in range(2, steps + 2):
        target(h, pages)


def read_config_in_pieces(h: Harness, offset: int, width: int) -> None:
    """Read a 32-bit config field whole and in ``width``-byte pieces (legacy interfaces
    allow any width), and record both."""
    t = h.driver.transport
    natural = t.config_read(offset, 4)
    pieced = sum(t.config_read(offset + i, width) << (8 * i) for i in range(0, 4, width))
    h.events.emit(
        "driver",
        Kind.CONFIG_PIECES_SEEN,
        offset=offset,
        width=width,
        natural=natural,
        pieced=pieced,
    )


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
    index, queue = d.queue_index(Queue.INFLATE), d.ring(Queue.INFLATE)
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
    h.driver.restart_queue(Queue.STATS)
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
    h.driver.restart_queue(role)
    settle(h)


def reenable_inflate_queue(h: Harness, size: int | None = None, pages: int = 40) -> None:
    """Inflate a little, reset the inflateq and re-enable it (with ``size`` entries), then
    inflate to ``pages`` pages (one-page requests wrap a small ring)."""
    target(h, 16)
    h.driver.reset_queue(Queue.INFLATE)
    h.driver.restart_queue(Queue.INFLATE, size=size)
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
