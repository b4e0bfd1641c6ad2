"""The reference balloon driver: spec-exact by default, a seeded bug on request.

It reaches the device only through a :class:`~ballast.virtio.transport.base.Transport` and
guest memory only through the :class:`~ballast.virtio.bus.Bus`, so the same driver runs
against the reference device in-process and against QEMU over qtest.  Guest memory demand
is modelled by a :class:`~ballast.reference.allocator.PagePool`: pages are used by writing
a pattern into them, so monitors watching guest memory see every use.

Events it emits (observer ``"driver"``) are what it saw the device do, plus the driver's
own account of what it sent (submissions, ``actual``) for monitors that judge the device
against it.  Seeded bugs are the ``"driver"`` entries of :mod:`ballast.reference.faults`;
each is implemented at the one place its clause is about, marked ``# fault:``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any, cast

from ballast.errors import NotObservable, NotSupported
from ballast.monitors.events import EventLog, Kind
from ballast.reference import balloon as b
from ballast.reference.allocator import PagePool, PageState
from ballast.reference.balloon import Numbering, Queue
from ballast.reference.faults import check_faults
from ballast.reference.guestmem import (
    PATTERN_SIZE,
    Arena,
    BusMemory,
    MemoryLayout,
    page_pattern,
    poison_page,
)
from ballast.timeouts import scaled
from ballast.virtio.bus import Bus
from ballast.virtio.features import Feature, has, mask
from ballast.virtio.layout import LEGACY_PCI_QUEUE_ALIGN, Mmio
from ballast.virtio.memory import PAGE_SIZE
from ballast.virtio.splitq import (
    DESC_SIZE,
    Buffer,
    DriverQueue,
    QueueError,
    UsedElem,
    layout,
    legacy_layout,
)
from ballast.virtio.status import Status
from ballast.virtio.transport.base import Transport
from ballast.virtio.transport.mmio import MmioTransport
from ballast.virtio.transport.pci_modern import PciModernTransport

F = Feature
BALLOON_FEATURES = mask(
    F.VIRTIO_BALLOON_F_MUST_TELL_HOST,
    F.VIRTIO_BALLOON_F_STATS_VQ,
    F.VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
    F.VIRTIO_BALLOON_F_FREE_PAGE_HINT,
    F.VIRTIO_BALLOON_F_PAGE_POISON,
    F.VIRTIO_BALLOON_F_PAGE_REPORTING,
)
DEFAULT_ACCEPT = BALLOON_FEATURES | mask(
    F.VIRTIO_F_ANY_LAYOUT,  # offered on legacy interfaces only
    F.VIRTIO_F_INDIRECT_DESC,
    F.VIRTIO_F_EVENT_IDX,
    F.VIRTIO_F_VERSION_1,
    F.VIRTIO_F_RING_RESET,
)
LINUX_STATS_ORDER = (0, 1, 2, 3, 8, 9, 4, 5, 6, 7)
REPORT_CAPACITY = 32  # ranges per free page report request
CONFIG_RETRIES = 64  # generation-loop rounds before giving up on a changing config
POLL_INTERVAL = 0.001
_STATS_SLOT = PAGE_SIZE  # bytes reserved per stats buffer
_CMD_SLOT = 8  # bytes reserved per hinting command buffer
KNOWN_FEATURES = mask(*Feature)  # every bit the spec defines (for a balloon or any device)
_UNOFFERED_CANDIDATES = (  # what fault accept_unoffered picks from: bits a driver knows
    *range(6),
    F.VIRTIO_F_INDIRECT_DESC,
    F.VIRTIO_F_EVENT_IDX,
    F.VIRTIO_F_RING_RESET,
    F.VIRTIO_F_IN_ORDER,
)

StatsSource = Callable[[], list[tuple[int, int]]]


class DriverError(Exception):
    """The driver gave up on the device (the message says which step failed)."""


class FeaturesRefused(DriverError):
    """FEATURES_OK did not stick: the device does not support the accepted subset."""


class DeviceNeedsReset(DriverError):
    """The device set DEVICE_NEEDS_RESET; call :meth:`BalloonDriver.init` again."""


class QueueAbsent(DriverError, NotObservable):
    """A negotiated feature's queue is not where the chosen queue-numbering reading puts
    it.  No clause says where queues are (the Virtqueues section is descriptive), so the
    clauses that need the queue cannot be observed under that reading."""


class DriverTimeout(DriverError):
    """The device did not answer in time (a request, or the whole run)."""


def typical_stats() -> list[tuple[int, int]]:
    """The ten spec statistics in the order Linux 6.1 sends them, with the values of a
    lightly loaded 256 MiB guest."""
    by_tag = (0, 0, 12, 48_211, 180 << 20, 240 << 20, 200 << 20, 24 << 20, 0, 0)
    return [(tag, by_tag[tag]) for tag in LINUX_STATS_ORDER]


@dataclass(frozen=True)
class DriverPolicy:
    """What the driver chooses where the spec lets it choose, and its seeded bugs."""

    accept: int = DEFAULT_ACCEPT  # accepted: offered & accept (plus VERSION_1 when modern)
    batch: int = 256  # PFNs per inflate/deflate request
    numbering: Numbering = Numbering.FIXED
    poison_val: int = 0x5A5A5A5A
    stats: StatsSource = typical_stats  # entries in the order they are sent
    hint_batch: int = 1024  # pages hinted per step (one buffer per contiguous run)
    report_chunk_pages: int = 512  # largest reported range (2 MiB)
    memory_layout: MemoryLayout = field(default_factory=lambda: MemoryLayout.for_ram(64 << 20))
    timeout: float = 1.0  # seconds to wait for the device to use a request
    early_deflate_reuse: bool = False  # without MUST_TELL_HOST: reuse before the deflate ack
    overshoot: int = 0  # pages supplied beyond a non-zero num_pages (a MAY)
    actual_every_batch: bool = True  # False: actual once per inflate/deflate run (a MAY)
    indirect_after: int = 0  # reporting: direct descriptors chained before the indirect one
    pci_cfg_access: bool = False  # device config through the PCI cfg capability (modern PCI)
    transitional: bool = True  # False: knows the modern interface only (PCI, pci.driver.legacy)
    address_high_first: bool = False  # modern PCI: queue addresses high half first (a MAY)
    legacy_early_inflate: int = 0  # pages inflated before DRIVER_OK on legacy links, as old
    # drivers did (the transitional device must support it: core.device.legacy.05)
    faults: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        check_faults("driver", self.faults)
        if not 0 < self.batch <= 0xFFFFFFFF // b.PFN_SIZE:
            raise ValueError(f"batch must be a positive PFN count, got {self.batch}")
        if min(self.hint_batch, self.report_chunk_pages) <= 0 or self.overshoot < 0:
            raise ValueError("hint_batch and report_chunk_pages must be positive, overshoot >= 0")
        if not 0 <= self.poison_val <= 0xFFFFFFFF:
            raise ValueError(f"poison_val must fit 32 bits, got {self.poison_val:#x}")


Request = dict[str, Any]
"""What the driver put in a buffer, as events carry it: {"pfns"}, {"entries"}, {"cmd_id"},
{"cmd_id", "pfns"} or {"ranges", "poison_val"} depending on the queue."""


class _Vq:
    """One live virtqueue: its ring and what the driver put in each in-flight buffer (the
    ring's token), reported when exposed and again when the device uses it."""

    def __init__(self, index: int, role: Queue, queue: DriverQueue, driver: BalloonDriver) -> None:
        self.index = index
        self.role = role
        self.queue = queue
        self._driver = driver

    def add(self, out: list[Buffer], in_: list[Buffer], request: Request) -> int:
        head = self.queue.add(out, in_, request)
        emit = self._driver.events.emit
        emit("driver", Kind.REQUEST_SUBMITTED, role=str(self.role), head=head, request=request)
        emit(
            "driver",
            Kind.BUFFER_EXPOSED,
            queue=self.index,
            head=head,
            out=list(out),
            in_=list(in_),
            tables=self.queue.tables(head),
            indirect_after=self.queue.direct_before_table(head),
        )
        return head

    def kick(self) -> None:
        if self.queue.kick_needed():
            self._driver.transport.notify(self.index)

    def reap(self) -> list[UsedElem]:
        done = self.queue.pop_used()
        self._driver._used_since_ack |= bool(done)
        live = self._driver.live
        emit = self._driver.events.emit
        for elem in done:
            emit(
                "driver",
                Kind.USED_BUFFER,
                queue=self.index,
                role=str(self.role),
                head=elem.head,
                len=elem.written_len,
                request=elem.token,
                before_driver_ok=not live,
                interrupts_enabled=True,
            )
        return done


@dataclass
class _HintRound:
    cmd_id: int
    cmd_sent: bool = False
    supplying: bool = True
    stop_sent: bool = False


class BalloonDriver:
    """A virtio balloon driver for one device.  Call :meth:`init`, then drive it with
    :meth:`run_until_idle` (or :meth:`handle_interrupts`) and the guest-side hooks."""

    def __init__(
        self,
        bus: Bus,
        transport: Transport,
        events: EventLog,
        policy: DriverPolicy,
        *,
        big_endian: bool = False,
    ) -> None:
        self.bus = bus
        self.transport = transport
        self.events = events
        self.policy = policy
        self.big_endian = big_endian
        self._mem = BusMemory(bus)
        lay = policy.memory_layout
        self.pool = PagePool(lay.first_pfn, lay.pool_pages)
        self.live = False
        self.offered = 0
        self.negotiated = 0
        self.num_pages = 0
        self.stats_sent: list[tuple[int, int]] = []
        self._reset_state()

    # -- lifecycle ------------------------------------------------------------------------

    def init(self) -> None:
        """Core "Device Initialization" then the balloon's own steps, ending with the
        device live, the stats buffer exposed and num_pages read."""
        t = self.transport
        if isinstance(t, PciModernTransport) and self._fault("pci_reinit_without_reset_wait"):
            t.set_status(0)  # fault: goes on without seeing the reset complete
            self._reset_state()
        else:
            if self._fault("no_wait_for_reset"):
                t.set_status(0)  # fault: goes on without reading status 0 back
            elif not (self._fault("reinit_without_reset") and self._status & Status.FAILED):
                t.reset()  # fault reinit_without_reset: starts over from FAILED without one
            self._reset_state()
            self.events.emit("driver", Kind.DRIVER_RESET)
            self._read_status(after_reset=True)
        if self.policy.pci_cfg_access and isinstance(t, PciModernTransport):
            t.use_cfg_window()
        if self.policy.address_high_first and isinstance(t, PciModernTransport):
            t.high_half_first = True
        if not self._fault("skip_acknowledge"):
            self._set_status(Status.ACKNOWLEDGE)
        self._set_status(Status.DRIVER)
        self.offered = offered = t.device_features()
        self.events.emit("driver", Kind.DEVICE_FEATURES_SEEN, value=offered, legacy=t.legacy)
        if self._fault("fail_on_undefined_feature") and offered & ~KNOWN_FEATURES:
            raise self._fail(DriverError(f"unknown feature bits in {offered:#x}"))  # fault
        written, accepted = self._choose_features(offered)
        if self._fault("config_write_before_features_ok"):
            t.config_write(b.ACTUAL, 4, 0)
        held_back = (
            written & mask(F.VIRTIO_F_RING_RESET)
            if self._fault("features_after_features_ok")
            else 0
        )
        t.set_driver_features(written & ~held_back)
        if not t.legacy or self._fault("legacy_features_ok"):  # fault: FEATURES_OK on legacy
            self._confirm_features(written)
            if self._fault("features_after_features_ok"):
                t.set_driver_features(written)
        self.negotiated = accepted
        self.events.emit("driver", Kind.DRIVER_NEGOTIATED, features=accepted, legacy=t.legacy)
        if self._fault("driver_ok_before_queue_setup"):
            self._set_status(Status.DRIVER_OK)  # fault: DRIVER_OK before the step it marks
        self._setup_queues()
        self._start_device()

    def remove(self) -> None:
        """Driver cleanup: reset the device, so no queue is live, and take back every page
        the device held (after a reset it holds none)."""
        if self._fault("free_rings_before_reset"):
            for vq in self._vqs.values():  # fault: rings wiped while the queues are live
                self._mem.write(vq.queue.layout.desc, bytes(DESC_SIZE * vq.queue.size))
        self.transport.reset()
        self.events.emit("driver", Kind.DRIVER_RESET)
        self._read_status()
        self._reset_state()

    def _reset_state(self) -> None:
        pool = self.pool
        for state in (PageState.IN_BALLOON, PageState.HINTED, PageState.REPORTED):
            pool.move(pool.runs(state), state, PageState.FREE)
        self.live = False
        self.negotiated = 0
        self.num_pages = 0
        self._status = 0
        self._vqs: dict[Queue, _Vq] = {}
        self._buffers: dict[str, int] = {}
        self._config_pending = False
        self._config_deferred = False  # fault pci_isr_one_reason
        self._cmd_id_seen = b.CMD_ID_STOP
        self._round: _HintRound | None = None
        self._hint_in_flight: set[int] = set()
        self._cmd_slot = 0
        self._stats_available = 0
        self._stats_buffers = 0
        self._stats_head = 0
        self._oom_hold: int | None = None
        self._used_since_ack = False  # fault split_no_spurious: a buffer reaped since the ack
        self._unannounced = 0  # fault use_without_deflate: reused, never deflated
        self._reused_early: dict[int, tuple[bytes, str]] = {}  # pfn -> (data, when)
        self._trusted: dict[int, bytes] = {}  # fault trust_*: contents expected to survive

    # -- initialization steps ---------------------------------------------------------------

    def _set_status(self, bit: int) -> None:
        if bit == Status.DRIVER and self._fault("clear_status_bit"):
            self._status = 0  # fault: ACKNOWLEDGE dropped from the write that sets DRIVER
        self._status |= bit
        self.transport.set_status(self._status)
        self.events.emit("driver", Kind.STATUS_SET, value=self._status)

    def _read_status(self, after_reset: bool = False) -> int:
        t = self.transport
        if after_reset and self._fault("mmio_narrow_access") and isinstance(t, MmioTransport):
            value = self.bus.mmio_read(t.base + Mmio.STATUS, 2)  # fault: 16-bit register read
        else:
            value = t.get_status()
        self.events.emit("driver", Kind.DEVICE_STATUS_READ, value=value)
        return value

    def _fail(self, error: DriverError) -> DriverError:
        """Tell the device the driver gave up (FAILED), and return ``error`` to raise."""
        self._set_status(Status.FAILED)
        return error

    def _choose_features(self, offered: int) -> tuple[int, int]:
        """(bits to write, bits the driver will use): offered & accept, VERSION_1 always
        on a modern link; never a bit the device did not offer."""
        legacy = self.transport.legacy
        version_1 = mask(F.VIRTIO_F_VERSION_1)
        if not legacy and not offered & version_1:
            error = DriverError("a modern transport without VIRTIO_F_VERSION_1")
            raise error if self._fault("give_up_silently") else self._fail(error)  # fault
        missing = BALLOON_FEATURES & self.policy.accept & ~offered
        if self._fault("require_every_feature") and missing:
            raise self._fail(DriverError(f"balloon features {missing:#x} not offered"))  # fault
        accepted = offered & (self.policy.accept | (0 if legacy else version_1))
        if self._fault("decline_must_tell_host"):
            accepted &= ~mask(F.VIRTIO_BALLOON_F_MUST_TELL_HOST)
        if self._fault("decline_version_1"):
            accepted &= ~version_1
        if self._fault("decline_any_layout"):
            accepted &= ~mask(F.VIRTIO_F_ANY_LAYOUT)
        if self._fault("accept_unused_bit"):
            accepted |= offered & mask(F.VIRTIO_F_UNUSED)
        written = accepted
        if self._fault("accept_undefined_feature"):
            written |= offered & ~KNOWN_FEATURES  # fault: takes bits the spec does not define
        if self._fault("accept_unoffered"):
            width = 32 if legacy else 64
            extra = [bit for bit in _UNOFFERED_CANDIDATES if bit < width and not has(offered, bit)]
            written |= mask(extra[0]) if extra else 0
        return written, accepted

    def _confirm_features(self, written: int) -> None:
        """Set FEATURES_OK and re-read it; a device that dropped it cannot be driven."""
        self._set_status(Status.FEATURES_OK)
        status = self._read_status()
        kept = bool(status & Status.FEATURES_OK)
        self.events.emit(
            "driver", Kind.FEATURES_OK_READBACK, status=status, accepted=kept, features=written
        )
        if not kept and not self._fault("ignore_features_ok_refusal"):
            error = FeaturesRefused(f"FEATURES_OK refused for {written:#x}")
            if self._fault("configure_after_refusal"):
                self._setup_queues()  # fault: goes on with the queues before giving up
            raise error if self._fault("no_failed_on_refusal") else self._fail(error)

    def _setup_queues(self) -> None:
        """Place each queue's ring in the private area (legacy layout where the transport
        needs it) and make it live; then the request buffers."""
        t = self.transport
        lay = self.policy.memory_layout
        arena = self._arena = Arena(lay.private_base, lay.private_size)
        indirect = self._has(F.VIRTIO_F_INDIRECT_DESC) or self._fault("split_indirect_unnegotiated")
        indices = b.queue_indices(self.policy.numbering, self.offered, self.negotiated)
        for role, index in indices.items():
            size = t.queue_max_size(index)
            self.events.emit(
                "driver", Kind.QUEUE_SIZE_SEEN, index=index, role=str(role), max_size=size
            )
            if not size and role in (Queue.INFLATE, Queue.DEFLATE):
                raise self._fail(DriverError(f"{role} (queue {index}) does not exist"))
            if not size:  # an optional queue: where it is depends on the reading
                raise self._fail(
                    QueueAbsent(
                        f"{role} (queue {index}) does not exist under queue-numbering="
                        f"{self.policy.numbering}; the device numbers its queues another way "
                        "(see --spec-interpretation queue-numbering=...)"
                    )
                )
            if t.legacy:
                span = legacy_layout(size, 0, LEGACY_PCI_QUEUE_ALIGN).end
                ring = legacy_layout(size, arena.alloc(span, PAGE_SIZE), LEGACY_PCI_QUEUE_ALIGN)
            else:
                ring = layout(size, arena.alloc(layout(size, 0).end, PAGE_SIZE))
                # split_* faults hit the reporting queue only (no other clause needs its
                # requests answered); this one moves used into the pad ending the avail ring
                if self._fault("split_misaligned_used") and role is Queue.REPORT:
                    ring = replace(ring, used=ring.used - 2, end=ring.end - 2)
            pool = None
            if role is Queue.REPORT and indirect:
                per = min(REPORT_CAPACITY, size) + self._fault("split_chain_beyond_queue_size")
                nbytes = size * DESC_SIZE * per
                pool = (arena.alloc(nbytes), nbytes)
            queue = DriverQueue(
                self._mem,
                size,
                ring,
                event_idx=self._has(F.VIRTIO_F_EVENT_IDX),
                indirect=indirect,
                big_endian=self._native_big_endian,
                indirect_pool=pool,
                direct_prefix=self.policy.indirect_after if role is Queue.REPORT else 0,
                faults=self.policy.faults if role is Queue.REPORT else frozenset(),
            )
            if isinstance(t, PciModernTransport) and self._fault("pci_enable_before_setup"):
                t.enable_queue(index)  # fault: live before its ring is placed
                t.setup_queue(index, size, ring.desc, ring.avail, ring.used)
            else:
                t.setup_queue(index, size, ring.desc, ring.avail, ring.used)
                t.enable_queue(index)
            self.events.emit(
                "driver",
                Kind.RING_PLACED,
                index=index,
                role=str(role),
                size=size,
                desc=ring.desc,
                avail=ring.avail,
                used=ring.used,
                big_endian=self._native_big_endian,
            )
            if self.policy.address_high_first and isinstance(t, PciModernTransport):
                self.events.emit("driver", Kind.QUEUE_HALVES_HIGH_FIRST, index=index)
            self._vqs[role] = _Vq(index, role, queue, self)
        pfn_bytes = self.policy.batch * b.PFN_SIZE
        self._buffers = {
            Queue.INFLATE: arena.alloc(pfn_bytes),
            Queue.DEFLATE: arena.alloc(pfn_bytes),
            "stats": arena.alloc(2 * _STATS_SLOT),
        }
        if Queue.HINT in self._vqs:
            self._buffers["cmd"] = arena.alloc(_CMD_SLOT * self._vqs[Queue.HINT].queue.size)

    def stop_queue(self, role: Queue) -> None:
        """Stop one live queue with QueueReady (virtio-mmio version 2 only); its ring
        stays where it is."""
        t = self.transport
        if not isinstance(t, MmioTransport):
            raise DriverError(f"{t.name} cannot stop a single queue")
        t.stop_queue(self._vqs[role].index)

    def queue_index(self, role: Queue) -> int:
        return self._vqs[role].index

    def expose_pfns(self, role: Queue, pfns: list[int]) -> None:
        """Make a PFN request available on ``role`` and notify, without waiting for it
        (for tests that play a driver breaking its own rules)."""
        self._post_pfns(role, pfns)
        self.transport.notify(self._vqs[role].index)

    def reap(self, role: Queue) -> int:
        """Collect what the device used on ``role``; returns how many buffers."""
        return len(self._vqs[role].reap())

    def _start_device(self) -> None:
        """The balloon steps around DRIVER_OK: stats buffer, poison_val, DRIVER_OK, notify."""
        t = self.transport
        stats = self._vqs.get(Queue.STATS)
        poison = self._has(F.VIRTIO_BALLOON_F_PAGE_POISON)
        if stats is not None and not self._fault("stats_no_initial_buffer"):
            self._submit_stats(initial=True)
            if self._fault("stats_two_buffers"):
                self._submit_stats(initial=False)  # fault: a second buffer available at once
        if poison and not self._fault("poison_write_after_driver_ok"):
            self._write_poison_val()
        if self._fault("kick_before_driver_ok"):
            t.notify((stats or self._vqs[Queue.INFLATE]).index)  # fault: before DRIVER_OK
        if t.legacy and self.policy.legacy_early_inflate:
            self._inflate(self.policy.legacy_early_inflate)
        self._reap_async()  # a device that used buffers before DRIVER_OK shows here
        self._ack_interrupts()  # ... and one that sent used buffer notifications
        self._set_status(Status.DRIVER_OK)
        self.live = True
        if poison and self._fault("poison_write_after_driver_ok"):
            self._write_poison_val()  # fault: populated only once live
        if poison and self._fault("poison_rewrite_live"):
            self._write_poison_val()  # fault: rewritten while DRIVER_OK is set
        if stats is not None:
            stats.kick()
            if self._fault("rewrite_exposed_buffer"):
                self._shorten_exposed(stats)
        self._config_pending = True

    def _shorten_exposed(self, vq: _Vq) -> None:
        """Fault rewrite_exposed_buffer: cut an entry off the length of the stats buffer
        the device holds (the descriptor of an exposed buffer of a live queue)."""
        head = self._stats_head
        addr = vq.queue.layout.desc + DESC_SIZE * head + 8
        order = "big" if self._native_big_endian else "little"
        length = int.from_bytes(self._mem.read(addr, 4), order)
        self._mem.write(addr, (length - b.STAT_SIZE).to_bytes(4, order))

    def _write_poison_val(self) -> None:
        self.transport.config_write(b.POISON_VAL, 4, self.policy.poison_val)

    def ring(self, role: Queue) -> DriverQueue:
        """The split ring of a live queue (for scenarios that probe the device's ring
        handling directly)."""
        return self._vqs[role].queue

    # -- operation ----------------------------------------------------------------------

    def handle_interrupts(self) -> bool:
        """Acknowledge the interrupt, then do what it and the guest's state call for.
        Returns whether anything changed (so a caller can loop until idle)."""
        if not self.live:
            return False
        worked = self._reap_async()  # first: the interrupt read below then covers it
        self._ack_interrupts()
        if self._config_pending:
            self._config_pending = False
            needs_reset = self._read_status() & Status.DEVICE_NEEDS_RESET
            if needs_reset and not self._fault("ignore_needs_reset"):  # fault: carries on
                self.live = False
                raise DeviceNeedsReset("the device set DEVICE_NEEDS_RESET")
            worked = self._read_config() or worked
        worked = self.reconcile() or worked
        return self._hint_step() or worked

    def reset_queue(self, role: Queue) -> None:
        """VIRTIO_F_RING_RESET: reset one queue and wait until the device shows it done;
        it stays out of use until :meth:`restart_queue`."""
        if not self._has(F.VIRTIO_F_RING_RESET):
            raise NotSupported("VIRTIO_F_RING_RESET was not negotiated")
        index = self._vqs[role].index
        # fault skip_queue_reset_check: never reads the register back
        self.transport.reset_queue(index, check=not self._fault("skip_queue_reset_check"))
        size = self._vqs[role].queue.size
        self.events.emit(
            "driver", Kind.DRIVER_QUEUE_RESET, index=index, role=str(role), phase="reset", size=size
        )

    def restart_queue(self, role: Queue, size: int | None = None, relocate: bool = False) -> None:
        """Give a reset queue fresh rings (``size`` entries, at most the old size; with
        ``relocate`` somewhere new, else where the old ones were) and make it live again,
        as at initialization; a stats queue gets a new buffer."""
        old = self._vqs[role]
        size = size or old.queue.size
        if size > old.queue.size:
            raise ValueError(f"a re-enabled queue cannot grow beyond {old.queue.size}")
        base = (
            self._arena.alloc(layout(size, 0).end, PAGE_SIZE) if relocate else old.queue.layout.desc
        )
        ring = layout(size, base)
        queue = DriverQueue(
            self._mem,
            size,
            ring,
            event_idx=self._has(F.VIRTIO_F_EVENT_IDX),
            indirect=old.queue.indirect,
            big_endian=self._native_big_endian,
        )
        t = self.transport
        if not self._fault("reenable_without_setup"):  # fault: enabled with no ring given
            t.setup_queue(old.index, size, ring.desc, ring.avail, ring.used)
        t.enable_queue(old.index)
        self._vqs[role] = vq = _Vq(old.index, role, queue, self)
        self.events.emit(
            "driver",
            Kind.DRIVER_QUEUE_RESET,
            index=old.index,
            role=str(role),
            phase="enabled",
            size=size,
            moved=relocate,
        )
        if role is Queue.STATS:
            self._stats_available = 0
            self._submit_stats(initial=False)
            vq.kick()

    def observe(self) -> None:
        """Look at what the device did without acting on it (a test checking a device
        that should be quiet): reap every ring and read the interrupt reasons, reported
        as an INTERRUPT event even when there are none."""
        for vq in self._vqs.values():
            try:
                vq.reap()
            except QueueError as exc:
                self.events.emit(
                    "driver",
                    Kind.USED_RING_ERROR,
                    queue=vq.index,
                    rule=str(exc.rule),
                    detail=exc.detail,
                )
        reasons = self.transport.ack_interrupt()
        self.events.emit("driver", Kind.INTERRUPT, reasons=sorted(reasons))

    def run_until_idle(self, timeout: float = 5.0) -> None:
        """Handle interrupts until nothing is left to do: requests answered, the balloon at
        num_pages (or as close as the guest's free memory allows), hinting rounds done.
        ``timeout`` scales with BALLAST_TIMEOUT_FACTOR, like every wait."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while self.handle_interrupts():
            if time.monotonic() > deadline:
                raise DriverTimeout(f"driver still busy after {timeout} s")

    def reconcile(self) -> bool:
        """Inflate or deflate toward num_pages (plus the policy's overshoot); returns
        whether the balloon changed."""
        if not self.live:
            return False
        have = self.pool.count(PageState.IN_BALLOON)
        target = self.num_pages + self.policy.overshoot if self.num_pages else 0
        if target > have:
            if self._fault("ignore_inflate_request") or self._oom_hold == self.num_pages:
                return False  # fault ignore_inflate_request: num_pages > actual is ignored
            changed = self._inflate(target - have) > 0
        else:
            changed = target < have and self._deflate(have - target) > 0
        if changed:
            self._ack_interrupts()  # the used buffer notifications of the requests
        return changed

    def _ack_interrupts(self) -> set[str]:
        reasons = self.transport.ack_interrupt()
        if len(reasons) > 1 and self._fault("pci_isr_one_reason"):
            reasons = {"vring"}  # fault: one reason per interrupt, used buffers first ...
            self._config_deferred = True
        elif reasons and self._config_deferred:
            reasons.add("config")  # ... and the configuration change at the next one
            self._config_deferred = False
        if reasons:
            self.events.emit("driver", Kind.INTERRUPT, reasons=sorted(reasons))
            if "config" in reasons:
                self._config_pending = True
        if "vring" in reasons and not self._used_since_ack and self._fault("split_no_spurious"):
            raise self._fail(DriverError("used buffer notification without a used buffer"))
        self._used_since_ack = False
        return reasons

    def _read_config(self) -> bool:
        """Read num_pages (and the hinting command ID) consistently; returns whether
        anything changed."""
        t = self.transport
        fields = [("num_pages", b.NUM_PAGES)]
        # fault read_unoffered_config: reads the command ID whether or not it exists
        if self._has(F.VIRTIO_BALLOON_F_FREE_PAGE_HINT) or self._fault("read_unoffered_config"):
            fields.append(("free_page_hint_cmd_id", b.FREE_PAGE_HINT_CMD_ID))
        generation = None
        if self._fault("ignore_generation"):
            values = {name: t.config_read(offset, 4) for name, offset in fields}
        else:
            for _ in range(CONFIG_RETRIES):
                before = t.config_generation()
                values = {name: t.config_read(offset, 4) for name, offset in fields}
                generation = t.config_generation()
                if generation == before:
                    break
            else:
                raise DriverError(f"config generation kept changing over {CONFIG_RETRIES} reads")
        for name, value in values.items():
            self.events.emit(
                "driver", Kind.CONFIG_SEEN, field=name, value=value, generation=generation
            )
        num_pages = values["num_pages"]
        if self._native_big_endian and self._fault("legacy_config_native_endian"):
            num_pages = int.from_bytes(num_pages.to_bytes(4, "little"), "big")  # fault
        changed = num_pages != self.num_pages
        if changed:
            self.num_pages = num_pages
            self._oom_hold = None
        if "free_page_hint_cmd_id" in values:
            changed = self._on_cmd_id(values["free_page_hint_cmd_id"]) or changed
        return changed

    def _write_actual(self) -> None:
        if self._fault("never_update_actual"):
            return  # fault: actual never follows the balloon
        t = self.transport
        value = self.pool.count(PageState.IN_BALLOON) + self._unannounced
        if isinstance(t, PciModernTransport) and self._fault("pci_config_halfword_write"):
            for i in (0, 2):  # fault: a 32-bit field as two 16-bit writes
                t.config_write(b.ACTUAL + i, 2, value >> (8 * i) & 0xFFFF)
            self.events.emit("driver", Kind.ACTUAL_WRITTEN, value=value, complete=True)
            return
        if t.legacy and self._fault("legacy_actual_bytewise"):
            for i, byte in enumerate(value.to_bytes(4, "little")):  # fault: 4 one-byte writes
                t.config_write(b.ACTUAL + i, 1, byte)
                self.events.emit("driver", Kind.ACTUAL_WRITTEN, value=value, complete=i == 3)
            return
        t.config_write(b.ACTUAL, 4, value)
        self.events.emit("driver", Kind.ACTUAL_WRITTEN, value=value, complete=True)

    def _wait(self, vq: _Vq, head: int) -> UsedElem:
        """Poll the used ring until the device uses ``head``; the device gets
        ``policy.timeout`` seconds."""
        start = time.monotonic()
        while True:
            for elem in vq.reap():
                if elem.head == head:
                    return elem
            waited = time.monotonic() - start
            if waited >= self.policy.timeout:
                self.events.emit(
                    "driver",
                    Kind.REQUEST_UNANSWERED,
                    queue=vq.index,
                    role=str(vq.role),
                    head=head,
                    waited=waited,
                )
                raise DriverTimeout(f"{vq.role} request {head} unanswered after {waited:.3f} s")
            self.bus.poll(min(POLL_INTERVAL, self.policy.timeout - waited))

    # -- inflate and deflate ------------------------------------------------------------

    def _post_pfns(self, role: Queue, pfns: list[int]) -> int:
        """Write a PFN array into the role's buffer and expose it; returns the head."""
        data = b.encode_pfns(pfns, self._native_big_endian)
        addr = self._buffers[role]
        self._mem.write(addr, data)
        return self._vqs[role].add([(addr, len(data))], [], {"pfns": pfns})

    def _inflate(self, n: int) -> int:
        """Give up to ``n`` free pages to the balloon, one acknowledged batch at a time."""
        done = 0
        inflate, deflate = self._vqs[Queue.INFLATE], self._vqs[Queue.DEFLATE]
        while done < n:
            runs = self.pool.take(
                PageState.FREE, min(self.policy.batch, n - done), PageState.IN_BALLOON
            )
            if not runs:
                break
            pfns = _pfn_list(runs)
            if self._trusts_balloon():
                self._capture(pfns)
            head = self._post_pfns(Queue.INFLATE, pfns)
            inflate.kick()
            if self._fault("use_during_inflate") and not inflate.queue.used_pending():
                # fault: page used before the inflate ack (only while there is no ack yet:
                # once acknowledged, the write would be reuse without deflate instead)
                self._write_pattern(pfns[0])
            if self._fault("deflate_before_inflate_ack") and len(pfns) > 1:
                early = self._post_pfns(Queue.DEFLATE, pfns[:1])  # fault: deflate unacked page
                deflate.kick()
                self._wait(deflate, early)
                self.pool.move([range(pfns[0], pfns[0] + 1)], PageState.IN_BALLOON, PageState.FREE)
                done -= 1
            used = self._wait(inflate, head)
            if used.written_len and self.transport.legacy and self._fault("legacy_trust_used_len"):
                resent = self._post_pfns(Queue.INFLATE, pfns)  # fault: non-zero len = failure
                inflate.kick()
                self._wait(inflate, resent)
            done += len(pfns)
            self._batch_done(last=False)
        if done:
            self._batch_done(last=True)
        return done

    def _batch_done(self, last: bool) -> None:
        """``actual`` follows each acknowledged request, or (policy) each run of them."""
        if last != self.policy.actual_every_batch:
            self._write_actual()

    def _deflate(self, n: int) -> int:
        """Take up to ``n`` pages back from the balloon through the deflateq."""
        done = 0
        deflate = self._vqs[Queue.DEFLATE]
        tell = self._has(F.VIRTIO_BALLOON_F_MUST_TELL_HOST)
        reuse_early = not tell and self.policy.early_deflate_reuse
        # fault poison_skip_fill: deflated pages are never poisoned before reuse
        poison = self._has(F.VIRTIO_BALLOON_F_PAGE_POISON) and not self._fault("poison_skip_fill")
        while done < n:
            runs = self.pool.find(PageState.IN_BALLOON, min(self.policy.batch, n - done))
            if not runs:
                break
            pfns = _pfn_list(runs)
            done += len(pfns)
            first = [range(pfns[0], pfns[0] + 1)]
            if self._fault("use_without_deflate"):
                self.pool.move(runs, PageState.IN_BALLOON, PageState.IN_USE)
                self._use(runs)  # fault: reused without a deflate request
                self._unannounced += len(pfns)  # still in the balloon as the device sees it
                continue
            head = self._post_pfns(Queue.DEFLATE, pfns)
            deflate.kick()
            if reuse_early:
                self._reuse_before_ack(pfns[0])
            elif tell and self._fault("use_before_deflate_ack"):
                self._use_early(pfns[0])  # fault: used before the deflate ack
            self._wait(deflate, head)
            self._check_trusted(pfns, "balloon-content")
            self.pool.move(runs, PageState.IN_BALLOON, PageState.FREE)
            if poison:
                self.pool.mark_poison(runs, True)
            if reuse_early:
                self.pool.move(first, PageState.FREE, PageState.IN_USE)
                self.pool.mark_poison(first, False)
                self._verify_reused(pfns[:1])
            self._batch_done(last=False)
        if done:
            self._batch_done(last=True)
        return done

    def _reuse_before_ack(self, pfn: int) -> None:
        """Without MUST_TELL_HOST (policy ``early_deflate_reuse``): use a page of a deflate
        request the device was notified of but has not acknowledged (poisoned first when
        PAGE_POISON asks for it); its data is checked once the device acknowledges."""
        self._use_early(pfn)
        self._reused_early[pfn] = (page_pattern(pfn), "deflate-early-reuse")

    # -- guest memory demand ------------------------------------------------------------

    def use_pages(self, n: int) -> int:
        """Guest applications take ``n`` pages: free ones first, then hinted ones (released
        before DONE, so initialized first).  Returns how many they got."""
        runs = self.pool.take(PageState.FREE, n, PageState.IN_USE)
        got = sum(map(len, runs))
        self._use(runs)
        if got < n and self.pool.count(PageState.HINTED):
            hinted = self.pool.take(PageState.HINTED, n - got, PageState.IN_USE)
            got += self._release_hinted_early(hinted)
        return got

    def free_pages(self, n: int) -> int:
        """Guest applications free ``n`` pages (contents stay as they were)."""
        return sum(map(len, self.pool.take(PageState.IN_USE, n, PageState.FREE)))

    def memory_pressure(self, n: int) -> int:
        """The guest's OOM hook: with DEFLATE_ON_OOM, deflate up to ``n`` pages (the device
        is told first) and leave the balloon below num_pages until num_pages changes.
        Without it the balloon is not touched.  Returns the pages freed."""
        permitted = self._has(F.VIRTIO_BALLOON_F_DEFLATE_ON_OOM)
        # fault oom_deflate_without_feature: takes pages back anyway (and, having no
        # permission to stay below num_pages, refills the balloon at the next reconcile)
        if not self.live or not (permitted or self._fault("oom_deflate_without_feature")):
            return 0
        freed = self._deflate(min(n, self.pool.count(PageState.IN_BALLOON)))
        if freed:
            self._oom_hold = self.num_pages if permitted else None
            self._ack_interrupts()
        return freed

    def _use(self, runs: Iterable[range]) -> None:
        """Guest writes into pages it takes: poison_val first where a deflate left the page
        waiting for it, then the application's pattern."""
        pool, write = self.pool, self._mem.write
        poison = poison_page(self.policy.poison_val)
        for run in runs:
            for pfn in run:
                if pool.poison_pending(pfn):
                    write(pfn << b.PFN_SHIFT, poison)
                write(pfn << b.PFN_SHIFT, page_pattern(pfn))
            pool.mark_poison([run], False)

    def _use_early(self, pfn: int) -> None:
        """Use a page whose deflate is not acknowledged yet, initialized with poison_val
        first when PAGE_POISON asks for it."""
        if self._has(F.VIRTIO_BALLOON_F_PAGE_POISON):
            self._mem.write(pfn << b.PFN_SHIFT, poison_page(self.policy.poison_val))
        self._write_pattern(pfn)

    def _write_pattern(self, pfn: int) -> None:
        self._mem.write(pfn << b.PFN_SHIFT, page_pattern(pfn))

    # -- statistics ---------------------------------------------------------------------

    def _submit_stats(self, initial: bool) -> None:
        """Fill a stats buffer with the policy's statistics and expose it (notified by the
        caller at init, here afterwards)."""
        entries = list(self.policy.stats())
        number = self._stats_buffers
        if self._fault("stats_vary_subset") and number % 2:
            entries = entries[:-1]  # fault: every other buffer lacks a statistic
        data = b.encode_stats(entries, self._stats_big_endian)
        if self._fault("stats_odd_length"):
            data += bytes(2)  # fault: not a multiple of the entry size
        if initial and self._fault("stats_uninitialized"):
            data = bytes(len(data))  # fault: exposed without initializing it
            entries = b.decode_stats(data)
        if len(data) > _STATS_SLOT:
            raise DriverError(f"{len(entries)} statistics do not fit a {_STATS_SLOT}-byte buffer")
        addr = self._buffers["stats"] + _STATS_SLOT * (number % 2)
        self._mem.write(addr, data)
        self._stats_head = self._vqs[Queue.STATS].add([(addr, len(data))], [], {"entries": entries})
        self._stats_buffers += 1
        self._stats_available += 1
        self.stats_sent = entries

    def _reap_async(self) -> bool:
        """Collect buffers the device used on its own schedule (stats, hints, reports)."""
        worked = False
        stats = self._vqs.get(Queue.STATS)
        if stats is not None and (used := stats.reap()):
            worked = True
            self._stats_available -= len(used)
            if not self._stats_available and not self._fault("stats_no_refill"):
                self._submit_stats(initial=False)  # fault stats_no_refill: never refilled
                if self.live:
                    stats.kick()
        hint = self._vqs.get(Queue.HINT)
        if hint is not None and (used := hint.reap()):
            worked = True
            for elem in used:
                pfns = cast(Request, elem.token).get("pfns", [])
                self._hint_in_flight.difference_update(pfns)
                self._verify_reused(pfns)
        report = self._vqs.get(Queue.REPORT)
        return bool(report is not None and report.reap()) or worked

    # -- free page hinting --------------------------------------------------------------

    def _on_cmd_id(self, value: int) -> bool:
        """React to a new free_page_hint_cmd_id; returns whether it changed."""
        if value == self._cmd_id_seen:
            return False
        self._cmd_id_seen = value
        if value >= b.CMD_ID_MIN:
            self._round = _HintRound(value)
        elif self._round is not None and not (
            value == b.CMD_ID_STOP and self._fault("hint_continue_after_stop")
        ):
            self._round.supplying = False  # fault hint_continue_after_stop: keeps going
        if value == b.CMD_ID_DONE:
            self._release_hinted()
        return True

    def _send_cmd(self, value: int) -> None:
        vq = self._vqs[Queue.HINT]
        encoded = b.encode_u32(
            value, self._native_big_endian and not self._fault("legacy_cmd_id_little_endian")
        )  # fault: little-endian on a big-endian guest
        if self._fault("hint_cmd_buffer_8_bytes"):
            encoded += bytes(4)  # fault: 8-byte command buffer
        addr = self._buffers["cmd"] + _CMD_SLOT * self._cmd_slot
        self._cmd_slot = (self._cmd_slot + 1) % vq.queue.size
        self._mem.write(addr, encoded)
        vq.add([(addr, len(encoded))], [], {"cmd_id": value})

    def _hint_step(self) -> bool:
        """One step of the current round: the command ID first, then up to ``hint_batch``
        free pages, then STOP once out of pages or told to stop.  Returns whether it added
        anything (it waits while the device holds almost every descriptor)."""
        rnd = self._round
        vq = self._vqs.get(Queue.HINT)
        if rnd is None or vq is None or vq.queue.num_free < 3:  # ID (maybe twice) + STOP
            return False
        if not rnd.cmd_sent and not self._fault("hint_pages_without_cmd"):
            self._send_cmd(rnd.cmd_id)
            if self._fault("hint_cmd_twice"):
                self._send_cmd(rnd.cmd_id)  # fault: the current ID twice
            rnd.cmd_sent = True
        if rnd.supplying:
            # fault hint_ignore_cmd: supplies no page at all
            rnd.supplying = not self._fault("hint_ignore_cmd") and self._hint_pages(rnd)
            if not rnd.cmd_sent:
                self._send_cmd(rnd.cmd_id)  # fault hint_pages_without_cmd: ID after pages
                rnd.cmd_sent = True
        if not rnd.supplying:
            if not self._fault("hint_no_stop"):
                self._send_cmd(b.CMD_ID_STOP)  # fault hint_no_stop: round left open
            self._round = None
        vq.kick()
        return True

    def _hint_pages(self, rnd: _HintRound) -> bool:
        """Hint up to ``hint_batch`` free pages, one input buffer per contiguous run (as
        many as free descriptors allow, one kept for STOP); False when none are left."""
        vq = self._vqs[Queue.HINT]
        runs = self.pool.find(PageState.FREE, self.policy.hint_batch, self.policy.hint_batch)
        runs = runs[: vq.queue.num_free - 1]
        if not runs:
            return False
        self.pool.move(runs, PageState.FREE, PageState.HINTED)
        pfns = _pfn_list(runs)
        if self._fault("trust_hinted_page_content"):
            self._capture(pfns)
        for run in runs:
            vq.add(
                [],
                [(run.start << b.PFN_SHIFT, len(run) * PAGE_SIZE)],
                {"cmd_id": rnd.cmd_id, "pfns": list(run)},
            )
        self._hint_in_flight.update(pfns)
        return True

    def _release_hinted(self) -> None:
        """DONE: every hinted page goes back to the guest's free lists (uninitialized)."""
        if self._fault("hint_keep_pages_after_done"):
            return  # fault: hinted pages never released
        runs = self.pool.runs(PageState.HINTED)
        if self._fault("hint_read_after_done"):
            for run in runs:
                self._mem.read(run.start << b.PFN_SHIFT, PATTERN_SIZE)  # fault: read, not init
        self._check_trusted(_pfn_list(runs), "hint-content")
        self.pool.move(runs, PageState.HINTED, PageState.FREE)

    def _release_hinted_early(self, runs: list[range]) -> int:
        """Hinted pages taken for use before DONE: initialized before use; if their hint
        buffer is still with the device, the data is checked when it comes back."""
        pfns = _pfn_list(runs)
        self.events.emit("driver", Kind.HINT_RELEASED_EARLY, pfns=pfns)
        if self._fault("hint_read_before_init_early"):
            for pfn in pfns:
                self._mem.read(pfn << b.PFN_SHIFT, PATTERN_SIZE)  # fault: read before init
        self._check_trusted(pfns, "hint-content")
        self._use(runs)
        for pfn in pfns:
            if pfn in self._hint_in_flight:
                self._reused_early[pfn] = (page_pattern(pfn), "hint-early-release")
        return len(pfns)

    # -- free page reporting ------------------------------------------------------------

    def report_free_pages(self, n: int) -> int:
        """Report up to ``n`` free pages, largest contiguous ranges first; each request is
        acknowledged before its pages are free again.  Returns the pages reported."""
        vq = self._vqs.get(Queue.REPORT)
        if vq is None or not self.live:
            return 0
        chunk = 1 if self._fault("report_single_pages") else self.policy.report_chunk_pages
        runs = self.pool.find_largest(PageState.FREE, n, chunk)  # fault: 4 KiB ranges
        self.pool.move(runs, PageState.FREE, PageState.REPORTED)
        poison = self._has(F.VIRTIO_BALLOON_F_PAGE_POISON)
        if poison and not self._fault("report_without_poison_fill"):
            page = poison_page(self.policy.poison_val)  # fault: reported unfilled
            for pfn in chain.from_iterable(runs):
                self._mem.write(pfn << b.PFN_SHIFT, page)
            self.pool.mark_poison(runs, False)
        # fault report_single_pages: the 4 KiB pieces of one run go out together
        split = not self._fault("report_single_pages")
        for group in _report_groups(runs, min(REPORT_CAPACITY, vq.queue.size), split):
            self._report(vq, group, poison)
        if runs:
            self._ack_interrupts()
        return sum(map(len, runs))

    def _report(self, vq: _Vq, group: list[range], poison: bool) -> None:
        pfns = _pfn_list(group)
        if self._fault("trust_reported_page_content"):
            self._capture(pfns)
        ranges = [(run.start << b.PFN_SHIFT, len(run) * PAGE_SIZE) for run in group]
        request = {"ranges": ranges, "poison_val": self.policy.poison_val if poison else 0}
        head = vq.add([], ranges, request)
        vq.kick()
        if self._fault("report_use_before_ack"):
            self._write_pattern(pfns[0])  # fault: used before the ack
        self._wait(vq, head)
        if (poison and self._fault("report_read_back")) or (
            not poison and self._fault("report_trust_content")
        ):
            for run in group:
                self._mem.read(run.start << b.PFN_SHIFT, PATTERN_SIZE)  # fault: read first
        self._check_trusted(pfns, "report-content")
        self.pool.move(group, PageState.REPORTED, PageState.FREE)

    # -- page content checks ------------------------------------------------------------

    def _trusts_balloon(self) -> bool:
        """Faults trust_balloon_page_content(_tell_host): expects ballooned pages back
        unchanged, the first without MUST_TELL_HOST negotiated, the second with it."""
        tell = self._has(F.VIRTIO_BALLOON_F_MUST_TELL_HOST)
        return (self._fault("trust_balloon_page_content") and not tell) or (
            self._fault("trust_balloon_page_content_tell_host") and tell
        )

    def _capture(self, pfns: list[int]) -> None:
        """Remember what pages hold before the device gets them (trust_* faults only)."""
        for pfn in pfns:
            self._trusted[pfn] = self._mem.read(pfn << b.PFN_SHIFT, PATTERN_SIZE)

    def _check_trusted(self, pfns: Iterable[int], when: str) -> None:
        """trust_* faults: read pages back before writing them, expecting old contents."""
        if not self._trusted:
            return
        for pfn in pfns:
            expected = self._trusted.pop(pfn, None)
            if expected is not None:
                self._compare(pfn, expected, when)

    def _verify_reused(self, pfns: Iterable[int]) -> None:
        """Pages the guest wrote while the device still held them must keep that data."""
        if not self._reused_early:
            return
        for pfn in pfns:
            entry = self._reused_early.pop(pfn, None)
            if entry is not None:
                self._compare(pfn, *entry)

    def _compare(self, pfn: int, expected: bytes, when: str) -> None:
        found = self._mem.read(pfn << b.PFN_SHIFT, len(expected))
        if found != expected:
            self.events.emit(
                "driver",
                Kind.GUEST_DATA_CORRUPTED,
                pfn=pfn,
                expected=expected,
                found=found,
                when=when,
            )

    # -- small helpers ------------------------------------------------------------------

    def _fault(self, name: str) -> bool:
        return name in self.policy.faults

    def _has(self, feature: Feature) -> bool:
        return has(self.negotiated, feature)

    @property
    def _native_big_endian(self) -> bool:
        """Rings, PFN arrays, stats and command IDs are guest-endian on legacy links."""
        return self.transport.legacy and self.big_endian

    @property
    def _stats_big_endian(self) -> bool:
        return self._native_big_endian and not self._fault("legacy_stats_little_endian")

    @property
    def balloon_pfns(self) -> set[int]:
        """Pages the driver has given to the balloon."""
        return self.pool.pfns(PageState.IN_BALLOON)


def _pfn_list(runs: list[range]) -> list[int]:
    """The PFNs of ``runs``, in order (one run, the common case, is copied in one go)."""
    return list(runs[0]) if len(runs) == 1 else list(chain.from_iterable(runs))


def _report_groups(runs: list[range], capacity: int, split_touching: bool) -> list[list[range]]:
    """Cut address-ordered ranges into requests of at most ``capacity``; with
    ``split_touching`` a range touching its predecessor opens a new request, so no request
    presents contiguous memory as separate ranges."""
    groups: list[list[range]] = []
    for run in runs:
        group = groups[-1] if groups else None
        if (
            group is None
            or len(group) == capacity
            or (split_touching and group[-1].stop == run.start)
        ):
            groups.append([run])
        else:
            group.append(run)
    return groups
