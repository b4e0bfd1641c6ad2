"""Split virtqueue: DriverQueue against DeviceQueue over one GuestMemory, plus hand-made
malformed rings for every QueueError rule."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ballast.virtio.memory import PAGE_SIZE, GuestMemory
from ballast.virtio.splitq import (
    VIRTQ_AVAIL_F_NO_INTERRUPT,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    VIRTQ_USED_F_NO_NOTIFY,
    Chain,
    DeviceQueue,
    DriverQueue,
    QueueError,
    QueueFull,
    QueueLayout,
    QueueRule,
    UsedElem,
    layout,
    legacy_layout,
    need_event,
)

MEM_SIZE = 1 << 22
RING_BASE = 0x1000
POOL = (0x40000, 0x10000)
BUF = 0x100000
DESC = struct.Struct("<QIHH")
U16 = struct.Struct("<H")


@dataclass
class Pair:
    """A driver and a device sharing one queue in one memory."""

    mem: GuestMemory
    size: int
    lay: QueueLayout
    driver: DriverQueue
    device: DeviceQueue
    events: list[tuple[int, str, str]] = field(default_factory=list)

    def run_device(self, written: int = 0) -> list[Chain]:
        """Pop everything available and complete it with ``written`` bytes each."""
        chains = []
        while (chain := self.device.pop()) is not None:
            chains.append(chain)
            self.device.push(chain.head, written)
        return chains


def make_pair(
    size: int = 8,
    *,
    event_idx: bool = False,
    indirect: bool = False,
    big_endian: bool = False,
    start_idx: int = 0,
    lay: QueueLayout | None = None,
) -> Pair:
    mem = GuestMemory(MEM_SIZE)
    lay = lay or layout(size, RING_BASE)
    driver = DriverQueue(
        mem.view("guest"),
        size,
        lay,
        event_idx=event_idx,
        indirect=indirect,
        big_endian=big_endian,
        indirect_pool=POOL if indirect else None,
        start_idx=start_idx,
    )
    device = DeviceQueue(
        mem.view("host"),
        size,
        lay,
        event_idx=event_idx,
        indirect=indirect,
        big_endian=big_endian,
        start_idx=start_idx,
    )
    return Pair(mem, size, lay, driver, device)


# -- layout ----------------------------------------------------------------------------


def test_modern_layout_follows_size_table() -> None:
    lay = layout(256, 0x1000)
    assert lay.desc == 0x1000
    assert lay.avail == 0x1000 + 16 * 256
    assert lay.used == lay.avail + 520  # 6 + 2 * 256 = 518, rounded up to 4
    assert lay.end == lay.used + 6 + 8 * 256


def test_modern_layout_aligns_parts() -> None:
    lay = layout(1, 0x1001)
    assert lay.desc == 0x1010
    assert lay.avail == 0x1020
    assert lay.used == 0x1028  # 0x1020 + 8 rounded up to 4
    assert lay.used % 4 == 0


def test_legacy_layout_pads_used_ring_to_queue_align() -> None:
    lay = legacy_layout(128, 0x10000)
    assert lay.desc == 0x10000
    assert lay.avail == 0x10000 + 16 * 128
    assert lay.used == 0x10000 + 0x1000  # 2048 + 262 bytes rounds up to one page
    # total = ALIGN(16*qsz + 2*(3+qsz)) + ALIGN(2*3 + 8*qsz) from the spec's virtq_size
    assert lay.end - lay.desc == 0x1000 + 0x1000
    assert legacy_layout(256, 0, align=4096).used == 0x2000


@pytest.mark.parametrize("size", [0, 3, 65536, -2])
def test_bad_queue_size(size: int) -> None:
    with pytest.raises(ValueError):
        layout(size, 0)


def test_legacy_layout_rejects_unaligned_base() -> None:
    with pytest.raises(ValueError):
        legacy_layout(8, 0x800)


# -- basic operation -------------------------------------------------------------------


def test_direct_mixed_chain_round_trip() -> None:
    p = make_pair()
    head = p.driver.add([(BUF, 10), (BUF + 16, 20)], [(BUF + 64, 30)], "tok")
    assert p.driver.num_free == 5
    assert p.driver.kick_needed()
    assert p.device.avail_pending() == 1
    chain = p.device.pop()
    assert chain == Chain(head, [(BUF, 10), (BUF + 16, 20)], [(BUF + 64, 30)])
    assert p.device.pop() is None
    p.device.push(head, 30)
    assert p.device.needs_interrupt()
    assert p.driver.used_pending() == 1
    assert p.driver.pop_used() == [UsedElem("tok", head, 30)]
    assert p.driver.num_free == 8
    assert p.driver.pop_used() == []


def test_descriptors_are_laid_out_as_in_the_spec() -> None:
    p = make_pair()
    head = p.driver.add([(0x1234_5678_9000, 7)], [(BUF, 9)], None)
    raw = p.mem.read(p.lay.desc + 16 * head, 16)
    addr, length, flags, nxt = DESC.unpack(raw)
    assert (addr, length, flags) == (0x1234_5678_9000, 7, VIRTQ_DESC_F_NEXT)
    assert DESC.unpack(p.mem.read(p.lay.desc + 16 * nxt, 16)) == (BUF, 9, VIRTQ_DESC_F_WRITE, 0)
    assert U16.unpack(p.mem.read(p.lay.avail + 2, 2)) == (1,)  # avail.idx
    assert U16.unpack(p.mem.read(p.lay.avail + 4, 2)) == (head,)  # avail.ring[0]
    p.run_device(written=5)
    assert struct.unpack("<HHII", p.mem.read(p.lay.used, 12)) == (0, 1, head, 5)


def test_out_only_and_in_only_buffers() -> None:
    p = make_pair()
    p.driver.add([(BUF, 1)], (), "out")
    p.driver.add((), [(BUF, 2), (BUF + 2, 2)], "in")
    chains = p.run_device()
    assert [(c.out, c.in_) for c in chains] == [
        ([(BUF, 1)], []),
        ([], [(BUF, 2), (BUF + 2, 2)]),
    ]
    assert [e.token for e in p.driver.pop_used()] == ["out", "in"]


def test_out_of_order_completion() -> None:
    p = make_pair()
    heads = [p.driver.add([(BUF + i, 1)], (), i) for i in range(3)]
    chains = [p.device.pop() for _ in heads]
    for chain in reversed(chains):
        assert chain is not None
        p.device.push(chain.head, chain.head)
    assert [(e.token, e.head, e.written_len) for e in p.driver.pop_used()] == [
        (2, heads[2], heads[2]),
        (1, heads[1], heads[1]),
        (0, heads[0], heads[0]),
    ]


def test_queue_full_and_oversized_buffers() -> None:
    p = make_pair(size=4)
    p.driver.add([(BUF, 1)] * 3, (), "a")
    with pytest.raises(QueueFull):
        p.driver.add([(BUF, 1)] * 2, (), "b")
    assert p.driver.num_free == 1
    p.driver.add([(BUF, 1)], (), "c")
    with pytest.raises(QueueFull):
        p.driver.add([(BUF, 1)], (), "d")
    with pytest.raises(ValueError):
        p.driver.add([(BUF, 1)] * 5, (), "too long")
    with pytest.raises(ValueError):
        p.driver.add((), (), "empty")


def test_device_rejects_push_of_unknown_head() -> None:
    p = make_pair()
    p.driver.add([(BUF, 1)], (), None)
    chain = p.device.pop()
    assert chain is not None
    p.device.push(chain.head, 0)
    with pytest.raises(ValueError):
        p.device.push(chain.head, 0)


def test_reset_reinitialises_rings_and_free_list() -> None:
    p = make_pair(indirect=True)
    p.driver.add([(BUF, 1), (BUF, 2)], (), "x")
    p.driver.add([(BUF, 1)], (), "y")
    p.driver.disable_interrupts()
    p.driver.reset()
    assert p.driver.num_free == 8
    assert p.driver.avail_idx == 0
    assert p.mem.read(p.lay.desc, p.lay.end - p.lay.desc) == bytes(p.lay.end - p.lay.desc)
    # the indirect pool slot was returned: all 8 slots usable again
    for i in range(8):
        p.driver.add([(BUF, 1), (BUF, 2)], (), i)


# -- indirect descriptors --------------------------------------------------------------


def test_indirect_chain_round_trip() -> None:
    p = make_pair(indirect=True)
    out = [(BUF, 8), (BUF + 8, 8)]
    in_ = [(BUF + 32, 4), (BUF + 36, 4), (BUF + 40, 4)]
    head = p.driver.add(out, in_, "ind")
    assert p.driver.num_free == 7  # one main-table descriptor for five elements
    addr, length, flags, _ = DESC.unpack(p.mem.read(p.lay.desc + 16 * head, 16))
    assert flags == VIRTQ_DESC_F_INDIRECT
    assert length == 5 * 16
    assert POOL[0] <= addr < POOL[0] + POOL[1]
    assert DESC.unpack(p.mem.read(addr + 16 * 4, 16)) == (BUF + 40, 4, VIRTQ_DESC_F_WRITE, 0)
    assert p.run_device(12) == [Chain(head, out, in_, indirect=True)]
    assert p.driver.pop_used() == [UsedElem("ind", head, 12)]
    assert p.driver.num_free == 8


def test_indirect_choice() -> None:
    p = make_pair(indirect=True)
    single = p.driver.add([(BUF, 1)], (), "single")  # auto: one element goes direct
    forced = p.driver.add([(BUF, 1)], (), "forced", use_indirect=True)
    direct = p.driver.add([(BUF, 1), (BUF, 1)], (), "direct", use_indirect=False)
    flags = [DESC.unpack(p.mem.read(p.lay.desc + 16 * h, 16))[2] for h in (single, forced, direct)]
    assert flags == [0, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT]
    assert len(p.run_device()) == 3


def test_indirect_falls_back_to_direct_when_slot_too_small() -> None:
    mem = GuestMemory(MEM_SIZE)
    lay = layout(8, RING_BASE)
    driver = DriverQueue(
        mem.view("guest"), 8, lay, event_idx=False, indirect=True, indirect_pool=(POOL[0], 8 * 32)
    )
    head = driver.add([(BUF, 1)] * 3, (), None)  # 48 bytes > 32-byte slots
    assert DESC.unpack(mem.read(lay.desc + 16 * head, 16))[2] == VIRTQ_DESC_F_NEXT
    with pytest.raises(ValueError):
        driver.add([(BUF, 1)] * 3, (), None, use_indirect=True)
    assert driver.num_free == 5


def test_indirect_requires_feature() -> None:
    p = make_pair(indirect=False)
    with pytest.raises(ValueError):
        p.driver.add([(BUF, 1)], (), None, use_indirect=True)


class _BumpAllocator:
    """A caller-supplied allocator that records what it handed out."""

    def __init__(self) -> None:
        self.next = POOL[0]
        self.live: set[int] = set()

    def alloc(self, nbytes: int) -> int | None:
        addr, self.next = self.next, self.next + nbytes
        self.live.add(addr)
        return addr

    def free(self, addr: int) -> None:
        self.live.remove(addr)


def test_custom_indirect_allocator() -> None:
    mem = GuestMemory(MEM_SIZE)
    lay = layout(8, RING_BASE)
    pool = _BumpAllocator()
    driver = DriverQueue(
        mem.view("guest"), 8, lay, event_idx=False, indirect=True, indirect_pool=pool
    )
    device = DeviceQueue(mem.view("host"), 8, lay, event_idx=False)
    driver.add([(BUF, 1)], [(BUF, 2)], None)
    assert len(pool.live) == 1
    chain = device.pop()
    assert chain is not None and chain.in_ == [(BUF, 2)]
    device.push(chain.head, 2)
    driver.pop_used()
    assert pool.live == set()


def test_direct_descriptors_then_indirect_table_is_valid() -> None:
    """The device MUST handle normal chained descriptors followed by one INDIRECT one,
    and ignore VIRTQ_DESC_F_WRITE on the descriptor referring to the table."""
    p = make_pair(indirect=True)
    table = POOL[0]
    p.mem.write(table, DESC.pack(BUF + 8, 8, VIRTQ_DESC_F_NEXT, 1))
    p.mem.write(table + 16, DESC.pack(BUF + 16, 8, VIRTQ_DESC_F_WRITE, 0))
    write_desc(p, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1)
    write_desc(p, 1, table, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0)
    publish(p, [0])
    assert p.device.pop() == Chain(0, [(BUF, 8), (BUF + 8, 8)], [(BUF + 16, 8)], indirect=True)


# -- index wrap-around -----------------------------------------------------------------


def test_indices_wrap_at_2_16() -> None:
    p = make_pair(size=4, start_idx=65533, indirect=True)
    tokens = []
    for rnd in range(5):
        for i in range(3):
            p.driver.add([(BUF, rnd)], [(BUF + 8, i)] * (i + 1), (rnd, i))
        assert p.driver.kick_needed()
        p.run_device(written=rnd)
        tokens += [e.token for e in p.driver.pop_used()]
    assert tokens == [(r, i) for r in range(5) for i in range(3)]
    assert p.driver.avail_idx == (65533 + 15) & 0xFFFF == 12
    assert p.device.last_avail_idx == 12
    assert p.device.used_idx == 12
    assert U16.unpack(p.mem.read(p.lay.avail + 2, 2)) == (12,)
    assert U16.unpack(p.mem.read(p.lay.used + 2, 2)) == (12,)


def test_start_idx_is_written_to_both_rings() -> None:
    p = make_pair(start_idx=0xFFFF, event_idx=True)
    assert U16.unpack(p.mem.read(p.lay.avail + 2, 2)) == (0xFFFF,)
    assert U16.unpack(p.mem.read(p.lay.used + 2, 2)) == (0xFFFF,)
    p.driver.add([(BUF, 1)], (), None)
    assert p.driver.kick_needed()  # avail_event starts at start_idx
    p.run_device()
    assert p.device.needs_interrupt()  # used_event starts at start_idx


# -- notification suppression ----------------------------------------------------------


def test_need_event_window() -> None:
    assert need_event(5, 6, 5)
    assert not need_event(6, 6, 5)
    assert need_event(0xFFFF, 1, 0xFFFE)
    assert need_event(0, 1, 0xFFFE)
    assert not need_event(1, 1, 0xFFFE)
    assert not need_event(3, 3, 3)


def test_no_notify_flag_suppresses_kicks() -> None:
    p = make_pair()
    assert not p.driver.kick_needed()  # nothing added
    p.device.disable_notifications()
    assert U16.unpack(p.mem.read(p.lay.used, 2)) == (VIRTQ_USED_F_NO_NOTIFY,)
    p.driver.add([(BUF, 1)], (), None)
    assert not p.driver.kick_needed()
    p.device.enable_notifications()
    p.driver.add([(BUF, 1)], (), None)
    assert p.driver.kick_needed()
    assert not p.driver.kick_needed()  # already told about everything


def test_no_interrupt_flag_suppresses_interrupts() -> None:
    p = make_pair()
    p.driver.disable_interrupts()
    assert U16.unpack(p.mem.read(p.lay.avail, 2)) == (VIRTQ_AVAIL_F_NO_INTERRUPT,)
    p.driver.add([(BUF, 1)], (), None)
    p.run_device()
    assert not p.device.needs_interrupt()
    p.driver.enable_interrupts()
    assert p.driver.used_pending() == 1  # published before re-enabling: must re-check
    p.driver.pop_used()
    p.driver.add([(BUF, 1)], (), None)
    p.run_device()
    assert p.device.needs_interrupt()
    assert not p.device.needs_interrupt()


def test_event_idx_kick_only_when_avail_event_crossed() -> None:
    p = make_pair(event_idx=True)
    p.driver.add([(BUF, 1)], (), 0)
    assert p.driver.kick_needed()  # avail_event 0 lies in [0, 1)
    assert p.device.pop() is not None
    p.driver.add([(BUF, 1)], (), 1)
    assert not p.driver.kick_needed()  # device is still busy: avail_event still 0
    assert p.device.pop() is not None
    assert p.device.pop() is None  # ring empty: device asks for avail entry 2
    assert U16.unpack(p.mem.read(p.lay.used + 4 + 8 * p.size, 2)) == (2,)
    p.driver.add([(BUF, 1)], (), 2)
    p.driver.add([(BUF, 1)], (), 3)
    assert p.driver.kick_needed()  # batch [2, 4) contains 2
    p.device.disable_notifications()
    assert len(p.run_device()) == 2
    p.driver.add([(BUF, 1)], (), 4)
    assert not p.driver.kick_needed()


def test_event_idx_ignores_no_notify_flag() -> None:
    p = make_pair(event_idx=True)
    p.mem.write(p.lay.used, U16.pack(VIRTQ_USED_F_NO_NOTIFY))
    p.driver.add([(BUF, 1)], (), None)
    assert p.driver.kick_needed()
    p.device.disable_notifications()
    assert U16.unpack(p.mem.read(p.lay.used, 2)) == (VIRTQ_USED_F_NO_NOTIFY,)  # untouched


def test_event_idx_interrupt_only_when_used_event_crossed() -> None:
    p = make_pair(event_idx=True)
    for i in range(4):
        p.driver.add([(BUF, 1)], (), i)
    # the driver wants to hear about used entry 2 only
    p.mem.write(p.lay.avail + 4 + 2 * p.size, U16.pack(2))
    for expected in (False, False, True, False):
        chain = p.device.pop()
        assert chain is not None
        p.device.push(chain.head, 0)
        assert p.device.needs_interrupt() is expected


def test_event_idx_driver_moves_used_event() -> None:
    p = make_pair(event_idx=True)
    used_event = p.lay.avail + 4 + 2 * p.size
    p.driver.add([(BUF, 1)], (), None)
    p.run_device()
    assert p.device.needs_interrupt()
    p.driver.pop_used()
    assert U16.unpack(p.mem.read(used_event, 2)) == (1,)
    p.driver.disable_interrupts()
    assert U16.unpack(p.mem.read(p.lay.avail, 2)) == (0,)  # flags stay 0 with EVENT_IDX
    p.driver.add([(BUF, 1)], (), None)
    p.run_device()
    assert not p.device.needs_interrupt()
    p.driver.pop_used()
    assert U16.unpack(p.mem.read(used_event, 2)) == (0,)  # parked behind, not advanced
    p.driver.enable_interrupts()
    assert U16.unpack(p.mem.read(used_event, 2)) == (2,)
    p.driver.add([(BUF, 1)], (), None)
    p.run_device()
    assert p.device.needs_interrupt()


def test_event_idx_ignores_no_interrupt_flag() -> None:
    p = make_pair(event_idx=True)
    p.mem.write(p.lay.avail, U16.pack(VIRTQ_AVAIL_F_NO_INTERRUPT))
    p.driver.add([(BUF, 1)], (), None)
    p.run_device()
    assert p.device.needs_interrupt()


# -- big-endian (legacy) rings ---------------------------------------------------------


def test_big_endian_round_trip_and_byte_order() -> None:
    p = make_pair(big_endian=True, event_idx=True, indirect=True, start_idx=0xFFFE)
    head = p.driver.add([(BUF, 0x0102)], [(BUF + 8, 4), (BUF + 12, 4)], "be")
    assert struct.unpack(">H", p.mem.read(p.lay.avail + 2, 2)) == (0xFFFF,)
    addr, length, flags, _ = struct.unpack(">QIHH", p.mem.read(p.lay.desc + 16 * head, 16))
    assert (length, flags) == (48, VIRTQ_DESC_F_INDIRECT)
    assert struct.unpack(">QIHH", p.mem.read(addr, 16)) == (BUF, 0x0102, VIRTQ_DESC_F_NEXT, 1)
    assert p.driver.kick_needed()
    assert p.run_device(written=0x0304) == [
        Chain(head, [(BUF, 0x0102)], [(BUF + 8, 4), (BUF + 12, 4)], indirect=True)
    ]
    assert struct.unpack(">II", p.mem.read(p.lay.used + 4 + 8 * (0xFFFE % 8), 8)) == (head, 0x0304)
    assert p.device.needs_interrupt()
    assert p.driver.pop_used() == [UsedElem("be", head, 0x0304)]


def test_legacy_layout_queue_works() -> None:
    size = 16
    p = make_pair(size=size, lay=legacy_layout(size, 0x10000), big_endian=True)
    for i in range(40):
        p.driver.add([(BUF, i)], (), i)
        p.run_device()
        assert [e.token for e in p.driver.pop_used()] == [i]


# -- actor attribution -----------------------------------------------------------------


def test_ring_accesses_are_attributed_to_the_right_actor() -> None:
    p = make_pair(indirect=True)
    events: list[tuple[int, str, str]] = []
    ring_pages = range(p.lay.desc // PAGE_SIZE, (p.lay.end - 1) // PAGE_SIZE + 1)
    buf_page = BUF // PAGE_SIZE
    p.mem.watch([*ring_pages, buf_page], lambda *e: events.append(e))
    p.driver.add([(BUF, 4)], [(BUF + 4, 4)], None)
    chain = p.device.pop()
    assert chain is not None
    p.mem.view("host").write(chain.in_[0][0], b"done")
    p.device.push(chain.head, 4)
    p.driver.pop_used()
    assert {e[2] for e in events if e[1] == "write" and e[0] == buf_page} == {"host"}
    assert {e[2] for e in events if e[0] in ring_pages} == {"guest", "host"}
    # the device reads the ring but only ever writes the used ring (one page here)
    host_writes = {e[0] for e in events if e[2] == "host" and e[1] == "write"}
    assert host_writes == {p.lay.used // PAGE_SIZE, buf_page}


def test_device_never_writes_descriptor_table_or_avail_ring() -> None:
    size = 256  # the legacy layout puts the used ring on pages of its own
    p = make_pair(size=size, event_idx=True, indirect=True, lay=legacy_layout(size, 0x1000))
    driver_pages = set(range(p.lay.desc // PAGE_SIZE, (p.lay.used - 1) // PAGE_SIZE))
    used_pages = set(range(p.lay.used // PAGE_SIZE, (p.lay.end - 1) // PAGE_SIZE + 1))
    assert not driver_pages & used_pages
    writes: list[tuple[int, str]] = []
    p.mem.watch(
        driver_pages | used_pages | {POOL[0] // PAGE_SIZE},
        lambda pfn, access, actor: access == "write" and writes.append((pfn, actor)),
    )
    for i in range(600):
        p.driver.add([(BUF, 1)] * (1 + i % 3), [(BUF, 1)], i)
        p.driver.kick_needed()
        p.run_device()
        p.device.needs_interrupt()
        p.driver.pop_used()
    assert {pfn for pfn, actor in writes if actor == "host"} <= used_pages
    assert {pfn for pfn, actor in writes if actor == "guest"}.isdisjoint(used_pages)


# -- QueueError: one test per rule -----------------------------------------------------


def write_desc(p: Pair, i: int, addr: int, length: int, flags: int, nxt: int) -> None:
    p.mem.write(p.lay.desc + 16 * i, DESC.pack(addr, length, flags, nxt))


def publish(p: Pair, heads: list[int]) -> None:
    for k, head in enumerate(heads):
        p.mem.write(p.lay.avail + 4 + 2 * (k % p.size), U16.pack(head))
    p.mem.write(p.lay.avail + 2, U16.pack(len(heads)))


def expect(p: Pair, rule: QueueRule) -> None:
    with pytest.raises(QueueError) as info:
        p.device.pop()
    assert info.value.rule is rule
    assert rule.value in str(info.value)


def test_rule_misaligned() -> None:
    mem = GuestMemory(MEM_SIZE)
    for bad in (
        QueueLayout(0x1008, 0x2000, 0x3000, 0x4000),
        QueueLayout(0x1000, 0x2001, 0x3000, 0),
        QueueLayout(0x1000, 0x2000, 0x3002, 0),
    ):
        with pytest.raises(QueueError) as info:
            DeviceQueue(mem, 8, bad, event_idx=False)
        assert info.value.rule is QueueRule.MISALIGNED


def test_rule_avail_overrun() -> None:
    p = make_pair()
    p.mem.write(p.lay.avail + 2, U16.pack(9))
    expect(p, QueueRule.AVAIL_OVERRUN)


def test_rule_avail_decrement() -> None:
    p = make_pair()
    for _ in range(3):
        p.driver.add([(0x9000, 8)], [], "t")
    assert all(p.device.pop() is not None for _ in range(3))  # the device saw idx 3
    p.mem.write(p.lay.avail + 2, U16.pack(2))
    expect(p, QueueRule.AVAIL_DECREMENT)


def test_avail_idx_far_ahead_is_an_overrun_not_a_decrement() -> None:
    p = make_pair()
    p.mem.write(p.lay.avail + 2, U16.pack(0x100))  # 0xff00 back mod 2**16: not a step back
    expect(p, QueueRule.AVAIL_OVERRUN)


def test_rule_head_range() -> None:
    p = make_pair()
    publish(p, [8])
    expect(p, QueueRule.HEAD_RANGE)


def test_rule_head_in_flight() -> None:
    p = make_pair()
    write_desc(p, 0, BUF, 1, 0, 0)
    publish(p, [0, 0])
    assert p.device.pop() == Chain(0, [(BUF, 1)], [])
    expect(p, QueueRule.HEAD_IN_FLIGHT)


def test_rule_next_range_direct() -> None:
    p = make_pair()
    write_desc(p, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 8)
    publish(p, [0])
    expect(p, QueueRule.NEXT_RANGE)


def test_rule_next_range_indirect() -> None:
    p = make_pair(indirect=True)
    p.mem.write(POOL[0], DESC.pack(BUF, 1, VIRTQ_DESC_F_NEXT, 2))
    write_desc(p, 0, POOL[0], 32, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.NEXT_RANGE)


def test_rule_loop_direct() -> None:
    p = make_pair()
    write_desc(p, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 1)
    write_desc(p, 1, BUF, 1, VIRTQ_DESC_F_NEXT, 0)
    publish(p, [0])
    expect(p, QueueRule.LOOP)


def test_rule_loop_self_reference_in_full_table() -> None:
    p = make_pair(size=1)
    write_desc(p, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 0)
    publish(p, [0])
    expect(p, QueueRule.LOOP)


def test_rule_loop_indirect() -> None:
    p = make_pair(indirect=True)
    p.mem.write(POOL[0], DESC.pack(BUF, 1, VIRTQ_DESC_F_NEXT, 1))
    p.mem.write(POOL[0] + 16, DESC.pack(BUF, 1, VIRTQ_DESC_F_NEXT, 0))
    write_desc(p, 0, POOL[0], 32, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.LOOP)


def test_rule_chain_too_long() -> None:
    p = make_pair(size=4, indirect=True)
    table = b"".join(DESC.pack(BUF, 1, VIRTQ_DESC_F_NEXT, i + 1) for i in range(5))
    p.mem.write(POOL[0], table + DESC.pack(BUF, 1, 0, 0))
    write_desc(p, 0, POOL[0], 16 * 6, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.CHAIN_TOO_LONG)


def test_rule_chain_too_long_counts_direct_part() -> None:
    p = make_pair(size=4, indirect=True)
    table = b"".join(DESC.pack(BUF, 1, VIRTQ_DESC_F_NEXT, i + 1) for i in range(3))
    p.mem.write(POOL[0], table + DESC.pack(BUF, 1, 0, 0))  # 4 entries: fits on its own
    write_desc(p, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 1)
    write_desc(p, 1, POOL[0], 16 * 4, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.CHAIN_TOO_LONG)


def test_large_indirect_table_with_short_chain_is_valid() -> None:
    p = make_pair(size=4, indirect=True)
    p.mem.write(POOL[0], DESC.pack(BUF, 3, 0, 0))
    write_desc(p, 0, POOL[0], 16 * 1000, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    assert p.device.pop() == Chain(0, [(BUF, 3)], [], indirect=True)


def test_rule_chain_too_big() -> None:
    p = make_pair()
    write_desc(p, 0, BUF, 0xFFFF_FFFF, VIRTQ_DESC_F_NEXT, 1)
    write_desc(p, 1, BUF, 2, 0, 0)
    publish(p, [0])
    expect(p, QueueRule.CHAIN_TOO_BIG)


def test_rule_indirect_not_negotiated() -> None:
    p = make_pair(indirect=False)
    p.mem.write(POOL[0], DESC.pack(BUF, 1, 0, 0))
    write_desc(p, 0, POOL[0], 16, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.INDIRECT_NOT_NEGOTIATED)


def test_rule_indirect_with_next() -> None:
    p = make_pair(indirect=True)
    p.mem.write(POOL[0], DESC.pack(BUF, 1, 0, 0))
    write_desc(p, 0, POOL[0], 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1)
    write_desc(p, 1, BUF, 1, 0, 0)
    publish(p, [0])
    expect(p, QueueRule.INDIRECT_WITH_NEXT)


def test_rule_nested_indirect() -> None:
    p = make_pair(indirect=True)
    p.mem.write(POOL[0], DESC.pack(POOL[0] + 64, 16, VIRTQ_DESC_F_INDIRECT, 0))
    p.mem.write(POOL[0] + 64, DESC.pack(BUF, 1, 0, 0))
    write_desc(p, 0, POOL[0], 16, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.NESTED_INDIRECT)


@pytest.mark.parametrize("length", [0, 8, 24])
def test_rule_indirect_len(length: int) -> None:
    p = make_pair(indirect=True)
    write_desc(p, 0, POOL[0], length, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.INDIRECT_LEN)


def test_rule_indirect_addr() -> None:
    p = make_pair(indirect=True)
    write_desc(p, 0, MEM_SIZE - 8, 16, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.INDIRECT_ADDR)


def test_rule_write_before_read_direct() -> None:
    p = make_pair()
    write_desc(p, 0, BUF, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1)
    write_desc(p, 1, BUF, 1, 0, 0)
    publish(p, [0])
    expect(p, QueueRule.WRITE_BEFORE_READ)


def test_rule_write_before_read_inside_indirect() -> None:
    p = make_pair(indirect=True)
    p.mem.write(POOL[0], DESC.pack(BUF, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1))
    p.mem.write(POOL[0] + 16, DESC.pack(BUF, 1, 0, 0))
    write_desc(p, 0, POOL[0], 32, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.WRITE_BEFORE_READ)


def test_rule_write_before_read_across_indirect_boundary() -> None:
    p = make_pair(indirect=True)
    p.mem.write(POOL[0], DESC.pack(BUF, 1, 0, 0))
    write_desc(p, 0, BUF, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1)
    write_desc(p, 1, POOL[0], 16, VIRTQ_DESC_F_INDIRECT, 0)
    publish(p, [0])
    expect(p, QueueRule.WRITE_BEFORE_READ)


def test_rule_used_overrun() -> None:
    p = make_pair()
    p.driver.add([(BUF, 1)], (), None)
    p.mem.write(p.lay.used + 2, U16.pack(2))
    with pytest.raises(QueueError) as info:
        p.driver.pop_used()
    assert info.value.rule is QueueRule.USED_OVERRUN


@pytest.mark.parametrize("bad_id", [5, 8, 0xFFFF_FFFF])
def test_rule_used_id(bad_id: int) -> None:
    p = make_pair()
    p.driver.add([(BUF, 1)], (), None)  # head 0 is the only one in flight
    p.mem.write(p.lay.used + 4, struct.pack("<II", bad_id, 0))
    p.mem.write(p.lay.used + 2, U16.pack(1))
    with pytest.raises(QueueError) as info:
        p.driver.pop_used()
    assert info.value.rule is QueueRule.USED_ID


def test_every_rule_is_tested() -> None:
    source = Path(__file__).read_text()
    assert [r.name for r in QueueRule if f"QueueRule.{r.name}" not in source] == []


# -- property: random interleavings keep both sides consistent -------------------------

ELEMS = st.lists(st.tuples(st.integers(0, 1 << 40), st.integers(0, 1 << 20)), max_size=3)


class QueueMachine(RuleBasedStateMachine):
    """Random add / pop / push (any order) / pop_used; every token must come back exactly
    once, with the chain the device saw equal to what the driver added."""

    def __init__(self) -> None:
        super().__init__()
        self.pair = make_pair()
        self.added: dict[object, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
        self.popped: list[Chain] = []
        self.written: dict[int, int] = {}
        self.head_token: dict[int, object] = {}
        self.returned: set[object] = set()
        self.counter = 0

    @initialize(
        size=st.sampled_from([1, 2, 4, 8]),
        start=st.one_of(st.integers(0, 0xFFFF), st.integers(0xFFF0, 0xFFFF)),
        event_idx=st.booleans(),
        indirect=st.booleans(),
        big_endian=st.booleans(),
    )
    def setup(
        self, size: int, start: int, event_idx: bool, indirect: bool, big_endian: bool
    ) -> None:
        self.pair = make_pair(
            size, event_idx=event_idx, indirect=indirect, big_endian=big_endian, start_idx=start
        )

    @rule(out=ELEMS, in_=ELEMS, use_indirect=st.sampled_from([None, True, False]))
    def add(
        self, out: list[tuple[int, int]], in_: list[tuple[int, int]], use_indirect: bool | None
    ) -> None:
        p = self.pair
        n = len(out) + len(in_)
        if n == 0 or n > p.size or (use_indirect and not p.driver.indirect):
            with pytest.raises(ValueError):
                p.driver.add(out, in_, None, use_indirect=use_indirect)
            return
        token = self.counter
        self.counter += 1
        free = p.driver.num_free
        try:
            head = p.driver.add(out, in_, token, use_indirect=use_indirect)
        except QueueFull:
            assert free < n
            assert p.driver.num_free == free
            return
        self.added[token] = (out, in_)
        self.head_token[head] = token
        p.driver.kick_needed()

    @rule()
    def device_pop(self) -> None:
        p = self.pair
        pending = p.device.avail_pending()
        chain = p.device.pop()
        assert (chain is None) == (pending == 0)
        if chain is not None:
            token = self.head_token[chain.head]
            assert (chain.out, chain.in_) == self.added[token]
            self.popped.append(chain)

    @rule(data=st.data())
    @precondition(lambda self: self.popped)
    def device_push(self, data: st.DataObject) -> None:
        p = self.pair
        chain = self.popped.pop(data.draw(st.integers(0, len(self.popped) - 1)))
        written = data.draw(st.integers(0, 0xFFFF_FFFF))
        self.written[self.head_token[chain.head]] = written
        p.device.push(chain.head, written)
        p.device.needs_interrupt()

    @rule()
    def driver_pop_used(self) -> None:
        p = self.pair
        for elem in p.driver.pop_used():
            assert elem.token not in self.returned
            assert self.head_token.pop(elem.head) == elem.token
            assert self.written.pop(elem.token) == elem.written_len
            self.returned.add(elem.token)

    @rule(enable=st.booleans())
    def toggle_suppression(self, enable: bool) -> None:
        p = self.pair
        if enable:
            p.driver.enable_interrupts()
            p.device.enable_notifications()
        else:
            p.driver.disable_interrupts()
            p.device.disable_notifications()

    @invariant()
    def descriptors_accounted_for(self) -> None:
        p = self.pair
        in_flight = len(self.head_token)
        assert p.driver.num_free <= p.size - in_flight
        if in_flight == 0:
            assert p.driver.num_free == p.size


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)


@given(event=st.integers(0, 0xFFFF), old=st.integers(0, 0xFFFF), count=st.integers(0, 0x8000))
def test_need_event_matches_window_membership(event: int, old: int, count: int) -> None:
    new = (old + count) & 0xFFFF
    written = {(old + k) & 0xFFFF for k in range(count)}
    assert need_event(event, new, old) == (event in written)
