"""QtestClient against a scripted peer: reply parsing, IRQ lines interleaved with
replies, late replies after a timeout, argument validation, disconnects, history."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import pytest

from ballast.targets.qemu.errors import (
    QtestArgumentError,
    QtestDisconnected,
    QtestError,
    QtestTimeout,
)
from ballast.targets.qemu.qtest import HISTORY_LINE_MAX, MAX_TRANSFER, QtestClient
from ballast.timeouts import TIMEOUT_FACTOR_ENV, scaled
from ballast.virtio.bus import BusError
from tests.fakes.qtest_peer import FakeQtestPeer


@pytest.fixture
def peer() -> Iterator[FakeQtestPeer]:
    fake = FakeQtestPeer()
    yield fake
    fake.close()


@pytest.fixture
def client(peer: FakeQtestPeer) -> Iterator[QtestClient]:
    qtest = QtestClient(peer.client_sock, timeout=0.2)
    yield qtest
    qtest.close()


def test_register_reads_parse_qemu_formats(peer: FakeQtestPeer, client: QtestClient) -> None:
    peer.queue("OK 0x00000000000000ab", "OK 0x000000000000beef", "OK 0x0000000074726976")
    peer.queue("OK 0x8000000000000001", "OK 0x1af4", "OK 0x10021af4")
    assert client.readb(0x10) == 0xAB
    assert client.readw(0x12) == 0xBEEF
    assert client.readl(0xFEB00000) == 0x74726976
    assert client.readq(0xFFFFFFFFFFFFFFF8) == 0x8000000000000001
    assert client.inw(0xCFC) == 0x1AF4
    assert client.inl(0xCFC) == 0x10021AF4
    assert peer.received() == [
        "readb 0x10",
        "readw 0x12",
        "readl 0xfeb00000",
        "readq 0xfffffffffffffff8",
        "inw 0xcfc",
        "inl 0xcfc",
    ]


def test_writes_format_commands(peer: FakeQtestPeer, client: QtestClient) -> None:
    peer.queue(*["OK"] * 9)
    client.writeb(1, 0xFF)
    client.writew(2, 0xFFFF)
    client.writel(4, 0xFFFFFFFF)
    client.writeq(8, 2**64 - 1)
    client.outb(0x80, 0)
    client.outw(0xCFC, 0x1234)
    client.outl(0xCF8, 0x80001800)
    client.memset(0x1000, 16, 0xA5)
    client.irq_intercept_in("/machine/unattached/device[3]")
    assert peer.received() == [
        "writeb 0x1 0xff",
        "writew 0x2 0xffff",
        "writel 0x4 0xffffffff",
        "writeq 0x8 0xffffffffffffffff",
        "outb 0x80 0x0",
        "outw 0xcfc 0x1234",
        "outl 0xcf8 0x80001800",
        "memset 0x1000 0x10 0xa5",
        "irq_intercept_in /machine/unattached/device[3]",
    ]


def test_bulk_transfers_encode_and_decode(peer: FakeQtestPeer, client: QtestClient) -> None:
    data = bytes(range(256)) * 3
    peer.queue("OK 0x00ff10", "OK " + base64.b64encode(data).decode(), "OK", "OK")
    assert client.read(0x2000, 3) == b"\x00\xff\x10"
    assert client.b64read(0x3000, len(data)) == data
    client.write(0x2000, b"\x01\xab")
    client.b64write(0x3000, data)
    sent = peer.received()
    assert sent[:3] == [
        "read 0x2000 0x3",
        f"b64read 0x3000 0x{len(data):x}",
        "write 0x2000 0x2 0x01ab",
    ]
    assert sent[3] == f"b64write 0x3000 0x{len(data):x} " + base64.b64encode(data).decode()


def test_short_read_reply_is_a_protocol_error(peer: FakeQtestPeer, client: QtestClient) -> None:
    peer.queue("OK", "OK 0xZZ")
    with pytest.raises(QtestError, match="expected a number"):
        client.readl(0)
    with pytest.raises(QtestError, match="expected a number"):
        client.inb(0x80)
    peer.queue("OK 0x00", "OK AAA=")
    with pytest.raises(QtestError, match="reply of 1 bytes to a 2-byte read"):
        client.read(0, 2)
    with pytest.raises(QtestError, match="reply of 2 bytes"):
        client.b64read(0, 4)


def test_irq_lines_interleave_with_replies(peer: FakeQtestPeer, client: QtestClient) -> None:
    peer.queue("IRQ raise 23", "IRQ raise 0", "OK 0x0000000000000003", "IRQ lower 0", "OK")
    assert not client.irq_level(23)
    assert client.readl(0x1000) == 3
    assert client.irq_level(23) and client.irq_level(0)
    client.writel(0x1000, 0)
    assert client.irq_level(23) and not client.irq_level(0)
    kinds = [(e.kind, e.text) for e in client.history()]
    assert kinds == [
        (">", "readl 0x1000"),
        ("!", "IRQ raise 23"),
        ("!", "IRQ raise 0"),
        ("<", "OK 0x0000000000000003"),
        (">", "writel 0x1000 0x0"),
        ("!", "IRQ lower 0"),
        ("<", "OK"),
    ]


def test_reply_split_across_reads_is_reassembled(peer: FakeQtestPeer, client: QtestClient) -> None:
    peer.queue_raw(b"IRQ rai")
    done = threading.Timer(0.05, peer.queue_raw, args=(b"se 5\nOK 0x00000000000000",))
    rest = threading.Timer(0.1, peer.queue_raw, args=(b"07\n",))
    done.start()
    rest.start()
    assert client.readq(0) == 7
    assert client.irq_level(5)


def test_drain_and_wait_async_between_commands(peer: FakeQtestPeer, client: QtestClient) -> None:
    assert client.drain() is False
    assert client.wait_async(0.02) is False
    peer.queue("IRQ raise 7")
    assert client.drain() is True
    assert client.irq_level(7)
    threading.Timer(0.05, peer.queue, args=("IRQ lower 7",)).start()
    start = time.monotonic()
    assert client.wait_async(2.0) is True
    assert time.monotonic() - start < 1.0
    assert not client.irq_level(7)


def test_unsolicited_reply_between_commands_is_an_error(
    peer: FakeQtestPeer, client: QtestClient
) -> None:
    peer.queue("OK")
    with pytest.raises(QtestError, match="unsolicited"):
        client.drain()


@pytest.mark.parametrize(
    "line", ["IRQ raise", "IRQ raise 256", "IRQ blink 3", "IRQ raise -1", "IRQ raise x"]
)
def test_malformed_irq_line_is_an_error(
    peer: FakeQtestPeer, client: QtestClient, line: str
) -> None:
    peer.queue(line, "OK")
    with pytest.raises(QtestError, match="malformed"):
        client.writeb(0, 0)


@pytest.mark.parametrize(
    ("reply", "pattern"),
    [
        ("FAIL Unknown command 'clock_step'", "Unknown command"),
        ("ERR invalid argument size", "invalid argument size"),
        ("FAIL", "FAIL"),
    ],
)
def test_fail_and_err_raise_qtest_error(
    peer: FakeQtestPeer, client: QtestClient, reply: str, pattern: str
) -> None:
    peer.queue(reply)
    with pytest.raises(QtestError, match=pattern) as info:
        client.clock_step()
    assert isinstance(info.value, BusError)
    peer.queue("OK 123")
    assert client.clock_step(1000) == 123
    assert peer.received() == ["clock_step", "clock_step 1000"]


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.read(0, 0),
        lambda c: c.b64read(0, 0),
        lambda c: c.write(0, b""),
        lambda c: c.b64write(0, b""),
        lambda c: c.memset(0, 0, 1),
        lambda c: c.memset(0, 1, 256),
        lambda c: c.read(0, MAX_TRANSFER + 1),
        lambda c: c.read(2**64 - 1, 2),
        lambda c: c.readl(-4),
        lambda c: c.readq(2**64 - 4),
        lambda c: c.writeb(0, 256),
        lambda c: c.writew(0, -1),
        lambda c: c.writel(2**64, 0),
        lambda c: c.inb(0x10000),
        lambda c: c.inl(0xFFFE),
        lambda c: c.outw(0x80, 0x10000),
        lambda c: c.outb(-1, 0),
        lambda c: c.irq_intercept_in(""),
        lambda c: c.irq_intercept_in("io apic"),
        lambda c: c.irq_intercept_in("ioapic\nreadl 0x0"),
        lambda c: c.clock_step(-1),
        lambda c: c.irq_level(256),
    ],
)
def test_bad_arguments_are_refused_before_sending(
    peer: FakeQtestPeer, client: QtestClient, call
) -> None:
    with pytest.raises(QtestArgumentError):
        call(client)
    assert peer.received() == []
    assert client.history() == []


def test_timeout_then_late_reply_is_skipped(peer: FakeQtestPeer, client: QtestClient) -> None:
    start = time.monotonic()
    with pytest.raises(QtestTimeout, match="no reply to 'readl 0x0'"):
        client.readl(0)
    elapsed = time.monotonic() - start
    assert client.timeout <= elapsed < client.timeout + 0.3
    peer.queue("OK 0x0000000000000001", "IRQ raise 3", "OK 0x0000000000000002")
    assert client.readl(4) == 2
    assert client.irq_level(3)
    assert [e.kind for e in client.history()] == [">", ">", "~", "!", "<"]


def test_peer_hangup_gives_disconnected_not_a_hang(
    peer: FakeQtestPeer, client: QtestClient
) -> None:
    peer.close()
    start = time.monotonic()
    with pytest.raises(QtestDisconnected, match=r"went away|closed the connection"):
        client.readl(0)
    assert time.monotonic() - start < 0.1
    assert client.closed
    with pytest.raises(QtestDisconnected):
        client.readl(0)
    with pytest.raises(QtestDisconnected):
        client.drain()


def test_peer_dying_while_a_reply_is_awaited_gives_disconnected(
    peer: FakeQtestPeer, client: QtestClient
) -> None:
    threading.Timer(0.05, peer.close).start()
    with pytest.raises(QtestDisconnected, match=r"went away|closed the connection"):
        client.readl(0)


def test_stalled_peer_times_out_a_large_send(peer: FakeQtestPeer, client: QtestClient) -> None:
    with pytest.raises(QtestTimeout, match="did not accept"):
        client.b64write(0, bytes(8 << 20))
    with pytest.raises(QtestDisconnected, match="abandoned"):
        client.readl(0)


def test_history_is_a_bounded_ring(peer: FakeQtestPeer) -> None:
    client = QtestClient(peer.client_sock, timeout=0.2, history=4)
    peer.queue("OK", "OK", "OK 0x00000000000000ff")
    client.writeb(0, 1)
    client.writeb(1, 2)
    assert client.readb(0) == 0xFF
    assert [(e.kind, e.text) for e in client.history()] == [
        (">", "writeb 0x1 0x2"),
        ("<", "OK"),
        (">", "readb 0x0"),
        ("<", "OK 0x00000000000000ff"),
    ]
    client.close()


def test_history_clips_long_lines(peer: FakeQtestPeer, client: QtestClient) -> None:
    peer.queue("OK")
    client.b64write(0, bytes(1000))
    sent = client.history()[0]
    assert sent.kind == ">" and sent.text.endswith("...")
    assert len(sent.text) == HISTORY_LINE_MAX + 3
    assert [e.kind for e in client.history()] == [">", "<"]


def test_close_is_idempotent(client: QtestClient) -> None:
    client.close()
    client.close()
    with pytest.raises(QtestDisconnected, match="closed"):
        client.readb(0)


def test_timeouts_scale_with_global_factor(
    peer: FakeQtestPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TIMEOUT_FACTOR_ENV, "2.5")
    assert scaled(2.0) == 5.0
    client = QtestClient(peer.client_sock, timeout=0.1)
    assert client.timeout == pytest.approx(0.25)
    client.close()
    for bad in ("0", "-1", "fast", "inf", "nan"):
        monkeypatch.setenv(TIMEOUT_FACTOR_ENV, bad)
        with pytest.raises(ValueError, match=TIMEOUT_FACTOR_ENV):
            scaled(1.0)
