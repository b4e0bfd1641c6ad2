"""Split virtqueue (core/split-ring.tex), driver side and device side.

Both sides keep all shared state in guest memory, laid out exactly as the spec lays it
out, and touch it only through the memory object they are given, so watchers see every
ring access attributed to the right actor and either side can be swapped for a real
implementation.  The device side validates every chain it pops and raises
:class:`QueueError` naming the violated rule, which is what makes it usable as a driver
conformance checker.

Indices are free-running uint16 values (``& 0xFFFF``) everywhere; ``start_idx`` lets
tests begin near the 2**16 wrap.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from ballast.virtio.memory import GuestMemoryError, MemoryAccess

VIRTQ_DESC_F_NEXT = 1
VIRTQ_DESC_F_WRITE = 2
VIRTQ_DESC_F_INDIRECT = 4
VIRTQ_AVAIL_F_NO_INTERRUPT = 1
VIRTQ_USED_F_NO_NOTIFY = 1

MAX_QUEUE_SIZE = 32768
DESC_SIZE = 16
_IDX_MASK = 0xFFFF
_MAX_CHAIN_BYTES = 1 << 32

Buffer = tuple[int, int]
"""A guest-physical ``(addr, len)`` buffer element."""


class QueueRule(StrEnum):
    """The spec rule a malformed ring violates; stable ids for reports and tests."""

    MISALIGNED = "ring-part-misaligned"
    AVAIL_OVERRUN = "avail-idx-beyond-queue-size"
    AVAIL_DECREMENT = "avail-idx-decremented"
    HEAD_RANGE = "head-index-out-of-range"
    HEAD_IN_FLIGHT = "head-already-in-flight"
    NEXT_RANGE = "next-index-out-of-range"
    LOOP = "descriptor-loop"
    CHAIN_TOO_LONG = "chain-longer-than-queue-size"
    CHAIN_TOO_BIG = "chain-longer-than-4GiB"
    INDIRECT_NOT_NEGOTIATED = "indirect-without-feature"
    INDIRECT_WITH_NEXT = "indirect-with-next"
    NESTED_INDIRECT = "nested-indirect"
    INDIRECT_LEN = "indirect-len-not-multiple-of-16"
    INDIRECT_ADDR = "indirect-table-outside-memory"
    WRITE_BEFORE_READ = "writable-before-readable"
    USED_OVERRUN = "used-idx-beyond-outstanding"
    USED_ID = "used-id-not-outstanding"


class QueueError(Exception):
    """The other side broke a ring rule; ``rule`` says which, the message says where."""

    def __init__(self, rule: QueueRule, detail: str) -> None:
        super().__init__(f"{detail} [{rule}]")
        self.rule = rule
        self.detail = detail


class QueueFull(Exception):
    """Not enough free descriptors for the buffer being added."""


@dataclass(frozen=True, slots=True)
class QueueLayout:
    """Guest-physical addresses of the three ring parts; ``end`` is one past the last byte
    (for legacy layouts, past the padding the spec's size formula allocates)."""

    desc: int
    avail: int
    used: int
    end: int


class Chain(NamedTuple):
    """A descriptor chain as the device sees it: readable then writable elements."""

    head: int
    out: list[Buffer]
    in_: list[Buffer]
    indirect: bool = False  # the elements came from an indirect table


class UsedElem(NamedTuple):
    """A completed buffer as the driver sees it."""

    token: object
    head: int
    written_len: int


class IndirectAllocator(Protocol):
    """Hands out guest memory for indirect tables; ``alloc`` returns None when it cannot
    satisfy the request (the driver then falls back to direct descriptors)."""

    def alloc(self, nbytes: int) -> int | None: ...

    def free(self, addr: int) -> None: ...


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)


def _check_size(size: int) -> None:
    if not 0 < size <= MAX_QUEUE_SIZE or size & (size - 1):
        raise ValueError(f"queue size must be a power of 2 in 1..{MAX_QUEUE_SIZE}, got {size}")


def avail_ring_bytes(size: int) -> int:
    """flags + idx + ring[size] + used_event."""
    return 6 + 2 * size


def used_ring_bytes(size: int) -> int:
    """flags + idx + ring[size] of {id, len} + avail_event."""
    return 6 + 8 * size


def layout(size: int, base: int) -> QueueLayout:
    """Modern layout packed from the first 16-byte aligned address at or after ``base``,
    using the minimum alignments (16/2/4) of the spec's table."""
    _check_size(size)
    desc = _align_up(base, 16)
    avail = desc + DESC_SIZE * size
    used = _align_up(avail + avail_ring_bytes(size), 4)
    return QueueLayout(desc, avail, used, used + used_ring_bytes(size))


def legacy_layout(size: int, base: int, align: int = 4096) -> QueueLayout:
    """Legacy layout: descriptors and avail ring contiguous from ``base`` (which must be
    ``align``-aligned), the used ring at the next Queue Align boundary."""
    _check_size(size)
    if align <= 0 or align & (align - 1) or base % align:
        raise ValueError(f"base {base:#x} must be aligned to a power-of-2 Queue Align {align}")
    avail = base + DESC_SIZE * size
    used = _align_up(avail + avail_ring_bytes(size), align)
    return QueueLayout(base, avail, used, used + _align_up(used_ring_bytes(size), align))


def need_event(event: int, new: int, old: int) -> bool:
    """Whether moving an idx from ``old`` to ``new`` wrote the entry at index ``event``.

    The spec asks for a notification when the entry at ``event`` is written; a batch
    wrote entries old..new-1, so test membership of that (mod 2**16) window."""
    return (event - old) & _IDX_MASK < (new - old) & _IDX_MASK


class _Codec:
    """Precompiled ring-field packers for one byte order (legacy rings are guest-native)."""

    def __init__(self, big_endian: bool) -> None:
        order = ">" if big_endian else "<"
        self.desc = struct.Struct(order + "QIHH")
        self.u16 = struct.Struct(order + "H")
        self.elem = struct.Struct(order + "II")


class _SlotPool:
    """Default indirect allocator: ``(addr, nbytes)`` cut into one slot per queue entry,
    enough because at most ``size`` chains can be in flight."""

    def __init__(self, addr: int, nbytes: int, slots: int) -> None:
        self.slot_bytes = (nbytes // slots) & ~(DESC_SIZE - 1)
        if self.slot_bytes == 0:
            raise ValueError(f"indirect pool of {nbytes} bytes is too small for {slots} slots")
        self._free = [addr + i * self.slot_bytes for i in reversed(range(slots))]

    def alloc(self, nbytes: int) -> int | None:
        if nbytes > self.slot_bytes or not self._free:
            return None
        return self._free.pop()

    def free(self, addr: int) -> None:
        self._free.append(addr)


class DriverQueue:
    """The driver's half: fills descriptors and the avail ring, reaps the used ring."""

    def __init__(
        self,
        mem: MemoryAccess,
        size: int,
        layout: QueueLayout,
        *,
        event_idx: bool,
        indirect: bool,
        big_endian: bool = False,
        indirect_pool: tuple[int, int] | IndirectAllocator | None = None,
        start_idx: int = 0,
        direct_prefix: int = 0,
        faults: frozenset[str] = frozenset(),
    ) -> None:
        _check_size(size)
        self.faults = faults  # seeded bugs of the reference driver (faults_split.py)
        self.direct_prefix = direct_prefix
        """Elements of an indirect buffer put in direct descriptors chained before the
        descriptor that points at its table (a layout the device must handle)."""
        self.mem = mem
        self.size = size
        self.layout = layout
        self.event_idx = event_idx
        self.indirect = indirect
        self.start_idx = start_idx & _IDX_MASK
        self._codec = _Codec(big_endian)
        self._pool: IndirectAllocator | None = (
            _SlotPool(*indirect_pool, size) if isinstance(indirect_pool, tuple) else indirect_pool
        )
        self._inflight: list[tuple[object, list[int], int | None] | None] = [None] * size
        self._table_bytes = [0] * size
        self.reset()

    def reset(self) -> None:
        """Forget every buffer and re-initialise the rings in memory (zeroed, indices at
        ``start_idx``), as a driver does when (re)allocating a queue."""
        if self._pool is not None:
            for entry in self._inflight:
                if entry is not None and entry[2] is not None:
                    self._pool.free(entry[2])
        size, lay, u16 = self.size, self.layout, self._codec.u16
        self._free = list(reversed(range(size)))
        self._inflight = [None] * size
        self._outstanding = 0
        self.avail_idx = self.last_used_idx = self._kicked_idx = self.start_idx
        self._interrupts = True
        self.mem.write(lay.desc, bytes(DESC_SIZE * size))
        self.mem.write(lay.avail, bytes(avail_ring_bytes(size)))
        self.mem.write(lay.used, bytes(used_ring_bytes(size)))
        if "split_used_flags_uninitialized" in self.faults:
            self.mem.write(lay.used, u16.pack(VIRTQ_USED_F_NO_NOTIFY))
        if "split_avail_flags_invalid" in self.faults and not self.event_idx:
            self._write_avail_flags(2)  # a bit the spec does not define
        if "split_avail_flags_with_event_idx" in self.faults and self.event_idx:
            self._write_avail_flags(VIRTQ_AVAIL_F_NO_INTERRUPT)
        if self.start_idx:
            start = u16.pack(self.start_idx)
            self.mem.write(lay.avail + 2, start)
            self.mem.write(lay.avail + 4 + 2 * size, start)  # used_event
            self.mem.write(lay.used + 2, start)
            self.mem.write(lay.used + 4 + 8 * size, start)  # avail_event

    def tables(self, head: int) -> list[Buffer]:
        """The guest ranges of descriptor-table entries (and the indirect table) that
        describe in-flight buffer ``head``: what the device must only read."""
        entry = self._inflight[head]
        if entry is None:
            raise ValueError(f"head {head} is not in flight")
        _, descs, table = entry
        ranges = [(self.layout.desc + DESC_SIZE * i, DESC_SIZE) for i in descs]
        if table is not None:
            ranges.append((table, self._table_bytes[head]))
        return ranges

    def direct_before_table(self, head: int) -> int | None:
        """How many direct descriptors precede the indirect one in in-flight buffer
        ``head`` (None: the buffer uses no indirect table)."""
        entry = self._inflight[head]
        return None if entry is None or entry[2] is None else len(entry[1]) - 1

    @property
    def num_free(self) -> int:
        """Free descriptors in the main table."""
        return len(self._free)

    def add(
        self,
        out: Sequence[Buffer],
        in_: Sequence[Buffer],
        token: object,
        *,
        use_indirect: bool | None = None,
    ) -> int:
        """Expose one buffer (readable ``out`` then writable ``in_`` elements) and publish
        it in the avail ring; returns the head index.  ``use_indirect=None`` picks an
        indirect table for multi-element buffers when negotiated and a pool is set."""
        n = len(out) + len(in_)
        if not 0 < n <= self.size:
            raise ValueError(f"a buffer needs 1..{self.size} elements, got {n}")
        if use_indirect and not self.indirect:
            raise ValueError("VIRTIO_F_INDIRECT_DESC was not negotiated")
        if "split_chain_beyond_queue_size" in self.faults and self.indirect and n > 1:
            in_ = [*in_, *[(0, 0)] * (self.size + 1 - n)]  # pads the table past the size
            n = self.size + 1
        free = self._free
        if not free:
            raise QueueFull("no free descriptors")
        table = self._indirect_table(n, use_indirect)
        if table is None and n > len(free):
            raise QueueFull(f"need {n} descriptors, {len(free)} free")
        write = self.mem.write
        base = self.layout.desc
        table_bytes = 0
        if table is not None:
            k = min(self.direct_prefix, n - 1)  # direct descriptors chained before the table
            if k >= len(free):
                assert self._pool is not None  # the table came from it
                self._pool.free(table)
                raise QueueFull(f"need {k + 1} descriptors, {len(free)} free")
            descs = [free.pop() for _ in range(k + 1)]
            head = descs[0]
            entries = self._encode(out, in_, [*descs[1:], *range(1, n - k)])
            for i, desc in zip(descs, entries[:k], strict=False):
                write(base + DESC_SIZE * i, desc)
            entries = entries[k:]
            if "split_nested_indirect" in self.faults:
                entries[0] = self._flagged(entries[0], VIRTQ_DESC_F_INDIRECT)
            write(table, b"".join(entries))
            flags = VIRTQ_DESC_F_INDIRECT
            if "split_indirect_with_next" in self.faults:
                flags |= VIRTQ_DESC_F_NEXT
            table_bytes = DESC_SIZE * len(entries)
            write(base + DESC_SIZE * descs[k], self._codec.desc.pack(table, table_bytes, flags, 0))
        else:
            descs = [free.pop() for _ in range(n)]
            head = descs[0]
            encoded = self._encode(out, in_, descs[1:])
            if "split_descriptor_loop" in self.faults:
                encoded[-1] = self._flagged(encoded[-1], VIRTQ_DESC_F_NEXT, head)
            for i, desc in zip(descs, encoded, strict=True):
                write(base + DESC_SIZE * i, desc)
        self._inflight[head] = (token, descs, table)
        self._table_bytes[head] = table_bytes
        self._outstanding += 1
        u16 = self._codec.u16.pack
        avail = self.layout.avail
        idx = self.avail_idx
        write(avail + 4 + 2 * (idx & (self.size - 1)), u16(head))
        self.avail_idx = (idx + 1) & _IDX_MASK
        if "split_avail_idx_decrement" in self.faults and idx != self.start_idx:
            write(avail + 2, u16((idx - 1) & _IDX_MASK))  # steps back instead of on
        else:
            write(avail + 2, u16(self.avail_idx))
        return head

    def _indirect_table(self, n: int, use_indirect: bool | None) -> int | None:
        """Address of a fresh indirect table for ``n`` elements, or None to go direct."""
        if use_indirect is False or (use_indirect is None and (n < 2 or not self.indirect)):
            return None
        table = None if self._pool is None else self._pool.alloc(DESC_SIZE * n)
        if table is None and use_indirect:
            raise ValueError(f"no indirect table space for {n} descriptors")
        return table

    def _encode(
        self, out: Sequence[Buffer], in_: Sequence[Buffer], nexts: Sequence[int]
    ) -> list[bytes]:
        """Packed descriptors for a chain whose element i links to ``nexts[i]``."""
        pack = self._codec.desc.pack
        last = len(out) + len(in_) - 1
        descs = [
            pack(addr, length, VIRTQ_DESC_F_NEXT if i < last else 0, nexts[i] if i < last else 0)
            for i, (addr, length) in enumerate(out)
        ]
        first_in = len(out)
        descs += [
            pack(
                addr,
                length,
                VIRTQ_DESC_F_WRITE | (VIRTQ_DESC_F_NEXT if i < last else 0),
                nexts[i] if i < last else 0,
            )
            for i, (addr, length) in enumerate(in_, first_in)
        ]
        if "split_writable_before_readable" in self.faults and last > first_in:
            addr, length, flags, nxt = self._codec.desc.unpack(descs[last])
            descs[last] = pack(addr, length, flags & ~VIRTQ_DESC_F_WRITE, nxt)
        return descs

    def _flagged(self, desc: bytes, flag: int, nxt: int | None = None) -> bytes:
        """``desc`` with ``flag`` set (and ``next`` replaced): seeded bugs only."""
        addr, length, flags, old = self._codec.desc.unpack(desc)
        return self._codec.desc.pack(addr, length, flags | flag, old if nxt is None else nxt)

    def kick_needed(self) -> bool:
        """Whether the buffers added since the previous call must be notified, honouring
        VIRTQ_USED_F_NO_NOTIFY or, with VIRTIO_F_EVENT_IDX, ``avail_event``."""
        old, new = self._kicked_idx, self.avail_idx
        self._kicked_idx = new
        if old == new:
            return False
        u16 = self._codec.u16.unpack
        lay = self.layout
        faults = self.faults
        (flags,) = u16(self.mem.read(lay.used, 2))
        (event,) = u16(self.mem.read(lay.used + 4 + 8 * self.size, 2))
        if self.event_idx:
            if "split_kicks_every_buffer" in faults:
                return True
            if "split_honours_used_flags_with_event_idx" in faults and flags & 1:
                return False
            return need_event(event, new, old) and "split_skips_kick_at_avail_event" not in faults
        if "split_kicks_despite_no_notify" in faults:
            return True
        if "split_honours_avail_event_without_event_idx" in faults:
            return not flags & 1 and need_event(event, new, old)
        if "split_skips_first_kick" in faults and old == self.start_idx:
            return False
        return not flags & VIRTQ_USED_F_NO_NOTIFY

    def used_pending(self) -> int:
        """Used entries the device has published that :meth:`pop_used` has not reaped."""
        (idx,) = self._codec.u16.unpack(self.mem.read(self.layout.used + 2, 2))
        return (idx - self.last_used_idx) & _IDX_MASK

    def pop_used(self) -> list[UsedElem]:
        """Reap every published used entry, returning descriptors (and indirect tables)
        to the free pool.  A device that returns a head it was never given raises."""
        pending = self.used_pending()
        if pending > self._outstanding:
            raise QueueError(
                QueueRule.USED_OVERRUN,
                f"used idx moved by {pending} with only {self._outstanding} buffers outstanding",
            )
        if not pending:
            return []
        read = self.mem.read
        unpack = self._codec.elem.unpack
        ring = self.layout.used + 4
        mask = self.size - 1
        inflight, free, pool = self._inflight, self._free, self._pool
        idx = self.last_used_idx
        done = []
        for _ in range(pending):
            head, written = unpack(read(ring + 8 * (idx & mask), 8))
            entry = inflight[head] if head < self.size else None
            if entry is None:
                raise QueueError(
                    QueueRule.USED_ID, f"used ring entry {idx} names id {head}, not in flight"
                )
            inflight[head] = None
            token, descs, table = entry
            free.extend(descs)
            if table is not None and pool is not None:
                pool.free(table)
            done.append(UsedElem(token, head, written))
            idx = (idx + 1) & _IDX_MASK
        self.last_used_idx = idx
        self._outstanding -= pending
        if self.event_idx and self._interrupts:
            self._write_used_event(idx)
        return done

    def enable_interrupts(self) -> None:
        """Ask for used buffer notifications again.  Entries published before this call
        may not be notified: check :meth:`used_pending` afterwards."""
        self._interrupts = True
        if self.event_idx:
            self._write_used_event(self.last_used_idx)
        else:
            self._write_avail_flags(0)

    def disable_interrupts(self) -> None:
        """Advise the device that used buffer notifications are not needed."""
        self._interrupts = False
        if self.event_idx:
            # The entry just behind the consumer is only written again after 2**16 more.
            self._write_used_event((self.last_used_idx - 1) & _IDX_MASK)
        else:
            self._write_avail_flags(VIRTQ_AVAIL_F_NO_INTERRUPT)

    def hold_suppression(self, flags: int, used_event: int) -> None:
        """Write the avail ring's ``flags`` and ``used_event`` and keep them as written
        (reaping no longer moves ``used_event``): probes of a device's notifications."""
        self._interrupts = False
        self._write_avail_flags(flags)
        self._write_used_event(used_event)

    def _write_used_event(self, value: int) -> None:
        self.mem.write(self.layout.avail + 4 + 2 * self.size, self._codec.u16.pack(value))

    def _write_avail_flags(self, value: int) -> None:
        self.mem.write(self.layout.avail, self._codec.u16.pack(value))


class DeviceQueue:
    """The device's half: pops and validates chains, publishes used entries."""

    def __init__(
        self,
        mem: MemoryAccess,
        size: int,
        layout: QueueLayout,
        *,
        event_idx: bool,
        indirect: bool = True,
        big_endian: bool = False,
        start_idx: int = 0,
        faults: frozenset[str] = frozenset(),
    ) -> None:
        _check_size(size)
        self.faults = faults  # seeded bugs of the reference device (faults_split.py)
        parts = (("desc", layout.desc, 16), ("avail", layout.avail, 2), ("used", layout.used, 4))
        for part, addr, align in parts:
            if addr % align:
                raise QueueError(QueueRule.MISALIGNED, f"{part} at {addr:#x} not {align}-aligned")
        self.mem = mem
        self.size = size
        self.layout = layout
        self.event_idx = event_idx
        self.indirect = indirect
        self._codec = _Codec(big_endian)
        self.last_avail_idx = self._avail_shadow = self.avail_event = start_idx & _IDX_MASK
        self.used_idx = self._signalled_idx = start_idx & _IDX_MASK
        self._notifications = True
        self.held = False  # hold_suppression() fixed the fields
        self._popped: set[int] = set()

    def avail_pending(self) -> int:
        """Chains the driver has published that :meth:`pop` has not taken yet."""
        (idx,) = self._codec.u16.unpack(self.mem.read(self.layout.avail + 2, 2))
        back = (self._avail_shadow - idx) & _IDX_MASK
        if 0 < back < self.size:  # a jump ahead by more than size is an overrun
            raise QueueError(
                QueueRule.AVAIL_DECREMENT, f"avail idx went back from {self._avail_shadow} to {idx}"
            )
        pending = (idx - self.last_avail_idx) & _IDX_MASK
        if pending > self.size:
            raise QueueError(
                QueueRule.AVAIL_OVERRUN,
                f"avail idx {idx} is {pending} ahead of {self.last_avail_idx} (size {self.size})",
            )
        self._avail_shadow = idx
        return pending

    def avail_suppression(self) -> tuple[int, int]:
        """The driver's ``(flags, used_event)`` in the avail ring, as they read now."""
        unpack, read, lay = self._codec.u16.unpack, self.mem.read, self.layout
        (flags,) = unpack(read(lay.avail, 2))
        (event,) = unpack(read(lay.avail + 4 + 2 * self.size, 2))
        return flags, event

    def used_flags(self) -> int:
        """The used ring's ``flags`` as they read now."""
        (flags,) = self._codec.u16.unpack(self.mem.read(self.layout.used, 2))
        return flags

    def pop(self) -> Chain | None:
        """Take the next available chain, or None when the ring is empty (then, with
        VIRTIO_F_EVENT_IDX, ``avail_event`` asks to be notified of the next one).  A
        malformed chain raises :class:`QueueError` and is consumed all the same."""
        last = self.last_avail_idx
        if last == self._avail_shadow and not self.avail_pending():
            if not (self.event_idx and self._notifications):
                return None
            self._write_avail_event(last)
            if not self.avail_pending():  # re-check: the driver may have raced the event
                return None
        (head,) = self._codec.u16.unpack(
            self.mem.read(self.layout.avail + 4 + 2 * (last & (self.size - 1)), 2)
        )
        self.last_avail_idx = (last + 1) & _IDX_MASK
        if head in self._popped:
            raise QueueError(
                QueueRule.HEAD_IN_FLIGHT, f"avail entry {last} re-offers in-flight head {head}"
            )
        chain = self._walk(head)
        self._popped.add(head)
        return chain

    def chain(self, head: int) -> Chain:
        """Re-read (and re-validate) the chain at ``head`` without taking anything: a device
        checking that a buffer it holds is still what the driver exposed."""
        return self._walk(head)

    def _walk(self, head: int) -> Chain:
        """Follow and validate the chain at ``head`` (a bounded walk: at most ``size``
        descriptors), consuming it even when it turns out malformed."""
        size = self.size
        if head >= size:
            raise QueueError(QueueRule.HEAD_RANGE, f"head {head} >= queue size {size}")
        read = self.mem.read
        unpack = self._codec.desc.unpack
        base = self.layout.desc
        out: list[Buffer] = []
        in_: list[Buffer] = []
        idx = head
        seen = 0
        total = 0
        indirect = False
        only_head = "split_indirect_only_at_head" in self.faults
        while True:
            addr, length, flags, nxt = unpack(read(base + DESC_SIZE * idx, DESC_SIZE))
            seen += 1
            if flags & VIRTQ_DESC_F_INDIRECT and not (only_head and seen > 1):
                total = self._walk_indirect(idx, addr, length, flags, out, in_, total)
                indirect = True
                break
            if flags & VIRTQ_DESC_F_WRITE:
                in_.append((addr, length))
            elif in_:
                raise QueueError(
                    QueueRule.WRITE_BEFORE_READ,
                    f"chain {head}: readable descriptor {idx} follows a writable one",
                )
            else:
                out.append((addr, length))
            total += length
            if not flags & VIRTQ_DESC_F_NEXT:
                break
            if nxt >= size:
                raise QueueError(
                    QueueRule.NEXT_RANGE, f"chain {head}: descriptor {idx} next {nxt} >= {size}"
                )
            if seen == size:
                raise QueueError(QueueRule.LOOP, f"chain {head} revisits a descriptor")
            idx = nxt
        if total > _MAX_CHAIN_BYTES:
            raise QueueError(QueueRule.CHAIN_TOO_BIG, f"chain {head} totals {total} bytes")
        return Chain(head, out, in_, indirect)

    def _walk_indirect(
        self,
        idx: int,
        table: int,
        length: int,
        flags: int,
        out: list[Buffer],
        in_: list[Buffer],
        total: int,
    ) -> int:
        """Append the elements of the indirect table descriptor ``idx`` points at and
        return the chain's byte total.  Entries are read one at a time as they are
        visited, so a huge ``len`` costs nothing until the chain-length bound trips."""
        if not self.indirect:
            raise QueueError(
                QueueRule.INDIRECT_NOT_NEGOTIATED, f"descriptor {idx} is INDIRECT without feature"
            )
        if flags & VIRTQ_DESC_F_NEXT:
            raise QueueError(
                QueueRule.INDIRECT_WITH_NEXT, f"descriptor {idx} has both INDIRECT and NEXT"
            )
        if length == 0 or length % DESC_SIZE:
            raise QueueError(
                QueueRule.INDIRECT_LEN, f"descriptor {idx}: indirect table len {length}"
            )
        entries = length // DESC_SIZE
        read = self.mem.read
        unpack = self._codec.desc.unpack
        i = 0
        seen = 0
        while True:
            try:
                addr, blen, dflags, nxt = unpack(read(table + DESC_SIZE * i, DESC_SIZE))
            except GuestMemoryError as exc:
                raise QueueError(
                    QueueRule.INDIRECT_ADDR, f"descriptor {idx}: indirect entry {i}: {exc}"
                ) from exc
            seen += 1
            if dflags & VIRTQ_DESC_F_INDIRECT:
                raise QueueError(
                    QueueRule.NESTED_INDIRECT, f"indirect entry {i} of descriptor {idx}"
                )
            if dflags & VIRTQ_DESC_F_WRITE:
                in_.append((addr, blen))
            elif in_:
                raise QueueError(
                    QueueRule.WRITE_BEFORE_READ,
                    f"indirect entry {i} of descriptor {idx} is readable after a writable one",
                )
            else:
                out.append((addr, blen))
            total += blen
            if not dflags & VIRTQ_DESC_F_NEXT:
                return total
            if nxt >= entries:
                raise QueueError(
                    QueueRule.NEXT_RANGE,
                    f"indirect entry {i} of descriptor {idx}: next {nxt} >= {entries}",
                )
            if seen == entries:
                raise QueueError(QueueRule.LOOP, f"indirect table of descriptor {idx} loops")
            if len(out) + len(in_) == self.size:
                raise QueueError(
                    QueueRule.CHAIN_TOO_LONG,
                    f"chain through descriptor {idx} exceeds queue size {self.size}",
                )
            i = nxt

    def push(self, head: int, written_len: int) -> None:
        """Return chain ``head`` with ``written_len`` bytes written: the used element goes
        in before ``idx`` moves, as the spec requires."""
        if head not in self._popped:
            raise ValueError(f"head {head} was not popped or was already pushed")
        self._popped.discard(head)
        write = self.mem.write
        used = self.layout.used
        idx = self.used_idx
        write(used + 4 + 8 * (idx & (self.size - 1)), self._codec.elem.pack(head, written_len))
        self.used_idx = idx = (idx + 1) & _IDX_MASK
        write(used + 2, self._codec.u16.pack(idx))

    def needs_interrupt(self) -> bool:
        """Whether the entries pushed since the previous call must be notified, honouring
        VIRTQ_AVAIL_F_NO_INTERRUPT or, with VIRTIO_F_EVENT_IDX, ``used_event``."""
        old, new = self._signalled_idx, self.used_idx
        self._signalled_idx = new
        if old == new:
            return False
        flags, event = self.avail_suppression()
        faults = self.faults
        if self.event_idx:
            if "split_misses_used_event" in faults:
                return False
            if "split_honours_flags_with_event_idx" in faults and flags & 1:
                return False
            return "split_notifies_every_used_buffer" in faults or need_event(event, new, old)
        if "split_notifies_despite_no_interrupt" in faults:
            return True
        if "split_honours_used_event_without_event_idx" in faults:
            return not flags & 1 and need_event(event, new, old)
        return not flags & VIRTQ_AVAIL_F_NO_INTERRUPT

    def enable_notifications(self) -> None:
        """Ask for available buffer notifications again; re-check :meth:`avail_pending`
        afterwards, since buffers added meanwhile may not be notified."""
        self._notifications = True
        if self.event_idx:
            self._write_avail_event(self.last_avail_idx)
        else:
            self.write_used_flags(0)

    def disable_notifications(self) -> None:
        """Advise the driver that available buffer notifications are not needed."""
        self._notifications = False
        if self.event_idx:
            self._write_avail_event((self.last_avail_idx - 1) & _IDX_MASK)
        else:
            self.write_used_flags(VIRTQ_USED_F_NO_NOTIFY)

    def hold_suppression(self, flags: int, avail_event: int | None) -> None:
        """Set the used ring's ``flags`` and, unless None (then it keeps following the
        ring), ``avail_event``, and keep them: a device that polls its rings."""
        self.held = True
        self.write_used_flags(flags)
        if avail_event is not None:
            self._notifications = False
            self._write_avail_event(avail_event)

    def avail_idx(self) -> int:
        """The driver's avail ``idx`` as it reads now."""
        (idx,) = self._codec.u16.unpack(self.mem.read(self.layout.avail + 2, 2))
        return idx

    def _write_avail_event(self, value: int) -> None:
        self.avail_event = value
        self.mem.write(self.layout.used + 4 + 8 * self.size, self._codec.u16.pack(value))

    def write_used_flags(self, value: int) -> None:
        """Set the used ring's ``flags`` (bit 0 is VIRTQ_USED_F_NO_NOTIFY)."""
        self.mem.write(self.layout.used, self._codec.u16.pack(value))
