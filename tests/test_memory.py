"""GuestMemory: sparse pages, integer helpers, discard, watches and actor views."""

from __future__ import annotations

import pytest

from ballast.virtio.memory import PAGE_SIZE, GuestMemory, GuestMemoryError

Event = tuple[int, str, str]


@pytest.fixture
def mem() -> GuestMemory:
    return GuestMemory(16 * PAGE_SIZE)


def recorder() -> tuple[list[Event], object]:
    events: list[Event] = []

    def callback(pfn: int, access: str, actor: str) -> None:
        events.append((pfn, access, actor))

    return events, callback


def test_unpopulated_reads_zero_without_populating(mem: GuestMemory) -> None:
    assert mem.read(3 * PAGE_SIZE + 5, 100) == bytes(100)
    assert mem.read_u64(0) == 0
    assert mem.populated_pfns() == frozenset()
    assert not mem.is_populated(3)


def test_write_populates_only_touched_pages(mem: GuestMemory) -> None:
    mem.write(2 * PAGE_SIZE - 2, b"abcd")
    assert mem.populated_pfns() == {1, 2}
    assert mem.read(2 * PAGE_SIZE - 2, 4) == b"abcd"
    assert mem.read(2 * PAGE_SIZE - 3, 6) == b"\0abcd\0"


def test_large_write_spanning_pages(mem: GuestMemory) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes: three pages from offset 100
    mem.write(100, memoryview(data))
    assert mem.read(100, len(data)) == data
    assert mem.populated_pfns() == {0, 1, 2}


def test_integer_helpers_little_and_big_endian(mem: GuestMemory) -> None:
    mem.write_u16(0x10, 0x1234)
    mem.write_u32(0x20, 0x12345678, big_endian=True)
    mem.write_u64(PAGE_SIZE - 4, 0x0102030405060708)  # straddles a page boundary
    mem.write_u8(0x30, 0xAB)
    assert mem.read(0x10, 2) == b"\x34\x12"
    assert mem.read(0x20, 4) == b"\x12\x34\x56\x78"
    assert mem.read_u16(0x10) == 0x1234
    assert mem.read_u16(0x10, big_endian=True) == 0x3412
    assert mem.read_u32(0x20, big_endian=True) == 0x12345678
    assert mem.read_u64(PAGE_SIZE - 4) == 0x0102030405060708
    assert mem.read_u8(0x30) == 0xAB


def test_integer_write_out_of_range_value(mem: GuestMemory) -> None:
    with pytest.raises(OverflowError):
        mem.write_u16(0, 0x10000)
    with pytest.raises(OverflowError):
        mem.write_u32(0, -1)


def test_discard_zeroes_and_unpopulates_silently(mem: GuestMemory) -> None:
    events, callback = recorder()
    mem.write(PAGE_SIZE + 8, b"data")
    mem.watch([1], callback)
    mem.discard(1)
    mem.discard(5)  # already unpopulated: a no-op
    assert not mem.is_populated(1)
    assert events == []
    assert mem.read(PAGE_SIZE + 8, 4) == bytes(4)


@pytest.mark.parametrize(
    ("addr", "n"), [(-1, 1), (16 * PAGE_SIZE, 1), (16 * PAGE_SIZE - 2, 4), (0, -1)]
)
def test_out_of_range_read_raises_with_address(mem: GuestMemory, addr: int, n: int) -> None:
    with pytest.raises(GuestMemoryError) as info:
        mem.read(addr, n)
    assert info.value.addr == addr


def test_out_of_range_write_and_pfn(mem: GuestMemory) -> None:
    with pytest.raises(GuestMemoryError):
        mem.write(16 * PAGE_SIZE - 1, b"xy")
    with pytest.raises(GuestMemoryError):
        mem.discard(16)
    with pytest.raises(GuestMemoryError):
        mem.is_populated(-1)
    with pytest.raises(GuestMemoryError):
        mem.watch([99], lambda *_: None)


def test_size_need_not_be_page_multiple() -> None:
    mem = GuestMemory(PAGE_SIZE + 10)
    assert mem.num_pages == 2
    mem.write(PAGE_SIZE + 6, b"four")
    with pytest.raises(GuestMemoryError):
        mem.read(PAGE_SIZE + 8, 4)
    with pytest.raises(ValueError):
        GuestMemory(0)


def test_watch_reports_each_touched_page_with_actor(mem: GuestMemory) -> None:
    events, callback = recorder()
    mem.watch([2, 3], callback)
    mem.write(2 * PAGE_SIZE - 4, bytes(PAGE_SIZE + 8), actor="host")  # pages 1, 2, 3
    mem.read(3 * PAGE_SIZE, 4)
    mem.read(0, 64)  # unwatched
    mem.read_u32(2 * PAGE_SIZE, actor="host")
    assert events == [
        (2, "write", "host"),
        (3, "write", "host"),
        (3, "read", "guest"),
        (2, "read", "host"),
    ]


def test_unwatch_all_or_one_callback(mem: GuestMemory) -> None:
    first, cb1 = recorder()
    second, cb2 = recorder()
    mem.watch([4, 5], cb1)
    mem.watch([4], cb2)
    mem.write_u8(4 * PAGE_SIZE, 1)
    assert first == [(4, "write", "guest")]
    assert second == [(4, "write", "guest")]
    mem.unwatch([4], cb1)
    mem.read_u8(4 * PAGE_SIZE)
    assert len(first) == 1
    assert second[-1] == (4, "read", "guest")
    mem.unwatch([4, 5])
    mem.read(4 * PAGE_SIZE, 2 * PAGE_SIZE)
    assert len(first) == 1 and len(second) == 2
    assert mem.watched_pfns() == frozenset()


def test_unwatch_last_callback_drops_page(mem: GuestMemory) -> None:
    _, callback = recorder()
    mem.watch([7], callback)
    mem.unwatch([7, 8], callback)
    assert mem.watched_pfns() == frozenset()


def test_view_binds_actor_to_every_method(mem: GuestMemory) -> None:
    events, callback = recorder()
    mem.watch([0], callback)
    host = mem.view("host")
    assert host.actor == "host"
    host.write(0, b"\x01\x02")
    host.write_u8(2, 3)
    host.write_u16(4, 0x0605)
    host.write_u32(8, 0x0A090807, big_endian=True)
    host.write_u64(16, 0x1122334455667788)
    assert host.read(0, 3) == b"\x01\x02\x03"
    assert host.read_u8(2) == 3
    assert host.read_u16(4) == 0x0605
    assert host.read_u32(8) == 0x0708090A
    assert host.read_u64(16, big_endian=True) == 0x8877665544332211
    assert {actor for _, _, actor in events} == {"host"}
    assert len(events) == 10
    assert mem.read(8, 4) == b"\x0a\x09\x08\x07"
