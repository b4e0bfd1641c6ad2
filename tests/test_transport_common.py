"""Behaviour every driver-side transport shares, run against every device kind of the
in-process machine (PCI modern, transitional, legacy; MMIO v1, v2)."""

from __future__ import annotations

import pytest

from ballast.monitors.events import Kind
from ballast.virtio.features import Feature, mask
from ballast.virtio.splitq import layout, legacy_layout
from ballast.virtio.status import Status
from tests.fakes.virtio_backend import KINDS, MODERN_FEATURES, FakeBackend, Rig, make_rig

ACK_DRIVER = Status.ACKNOWLEDGE | Status.DRIVER
LEGACY_KINDS = {"pci-legacy", "mmio-v1"}
LEGACY_ONLY = mask(Feature.VIRTIO_F_ANY_LAYOUT, Feature.VIRTIO_F_UNUSED)


@pytest.fixture(params=KINDS)
def rig(request: pytest.FixtureRequest) -> Rig:
    return make_rig(request.param)


def _legacy(rig: Rig) -> bool:
    return rig.transport.legacy


def _ring(rig: Rig, index: int = 0, base: int = 0x10000) -> tuple[int, int, int, int]:
    """A ring the transport can express: legacy layout where needed, else packed."""
    size = rig.transport.queue_max_size(index)
    lay = legacy_layout(size, base) if _legacy(rig) else layout(size, base)
    return size, lay.desc, lay.avail, lay.used


def _live(rig: Rig) -> None:
    """Initialise the device far enough that it may interrupt (DRIVER_OK)."""
    t = rig.transport
    t.reset()
    t.set_status(ACK_DRIVER)
    t.set_driver_features(t.device_features())
    if not _legacy(rig):
        t.set_status(ACK_DRIVER | Status.FEATURES_OK)
    t.setup_queue(0, *_ring(rig))
    t.enable_queue(0)
    t.set_status(t.get_status() | Status.DRIVER_OK)


@pytest.mark.parametrize("kind", KINDS)
def test_transport_identity(kind: str) -> None:
    transport = make_rig(kind).transport
    expected = {"pci-transitional": "pci-modern"}.get(kind, kind)
    assert transport.name == expected
    assert transport.legacy == (kind in LEGACY_KINDS)


def test_status_round_trip(rig: Rig) -> None:
    t = rig.transport
    t.reset()
    assert t.get_status() == 0
    t.set_status(Status.ACKNOWLEDGE)
    t.set_status(ACK_DRIVER)
    assert t.get_status() == ACK_DRIVER
    writes = [(e["value"], e["previous"]) for e in rig.machine.events.of(Kind.STATUS_WRITTEN)]
    assert writes == [(0, 0), (1, 0), (3, 1)]


def test_feature_negotiation(rig: Rig) -> None:
    t = rig.transport
    offered = t.device_features()
    legacy_offer = MODERN_FEATURES & 0xFFFFFFFF | LEGACY_ONLY  # ANY_LAYOUT and bit 30
    assert offered == (legacy_offer if _legacy(rig) else MODERN_FEATURES)
    t.set_status(ACK_DRIVER)
    t.set_driver_features(offered)
    assert rig.model.driver_features == offered
    if not _legacy(rig):  # FEATURES_OK exists on modern links only
        t.set_status(ACK_DRIVER | Status.FEATURES_OK)
        assert t.get_status() & Status.FEATURES_OK
        assert rig.backend.accepted == [offered]
    words = {e["select"]: e["value"] for e in rig.machine.events.of(Kind.DRIVER_FEATURES_WRITTEN)}
    assert words[0] == offered & 0xFFFFFFFF


@pytest.mark.parametrize("kind", sorted(set(KINDS) - LEGACY_KINDS))
def test_features_ok_refusal_is_visible_on_read_back(kind: str) -> None:
    rig = make_rig(kind, FakeBackend(accept=False))
    t = rig.transport
    t.set_status(ACK_DRIVER)
    t.set_driver_features(MODERN_FEATURES)
    t.set_status(ACK_DRIVER | Status.FEATURES_OK)
    assert t.get_status() == ACK_DRIVER
    (decision,) = rig.machine.events.of(Kind.FEATURES_OK_DECIDED)
    assert decision.data == {"features": MODERN_FEATURES, "accepted": False}


def test_config_read_write_and_generation(rig: Rig) -> None:
    t = rig.transport
    assert t.config_read(0, 4) == 0x04030201
    assert t.config_read(0, 8) == 0x0807060504030201
    assert t.config_read(6, 2) == 0x0807
    t.set_status(ACK_DRIVER)
    t.config_write(4, 4, 0xAABBCCDD)  # one 4-byte access, also on the legacy header
    assert rig.backend.config[4:8] == bytes.fromhex("ddccbbaa")
    (written,) = rig.machine.events.of(Kind.CONFIG_WRITTEN)
    assert written.data == {"offset": 4, "size": 4, "value": 0xAABBCCDD, "status": ACK_DRIVER}
    before = t.config_generation()
    rig.backend.host_changes_config(0, b"\x10")
    assert t.config_read(0, 1) == 0x10
    assert t.config_generation() == (before if _legacy(rig) else before + 1)


def test_queue_discovery(rig: Rig) -> None:
    t = rig.transport
    assert t.num_queues() == 2
    assert [t.queue_max_size(i) for i in range(3)] == [64, 64, 0]


def test_queue_setup_is_visible_in_the_model(rig: Rig) -> None:
    t = rig.transport
    size, desc, avail, used = _ring(rig, 1, 0x20000)
    t.setup_queue(1, size, desc, avail, used)
    t.enable_queue(1)
    queue = rig.model.queue(1)
    assert (queue.size, queue.desc, queue.avail, queue.used) == (size, desc, avail, used)
    assert queue.enabled
    (configured,) = rig.machine.events.of(Kind.QUEUE_CONFIGURED)
    assert configured.data == {"index": 1, "size": size, "desc": desc, "avail": avail, "used": used}


def test_notify_reaches_the_backend_synchronously(rig: Rig) -> None:
    _live(rig)
    rig.transport.notify(0)
    assert rig.backend.notified == [0]
    (notified,) = rig.machine.events.of(Kind.QUEUE_NOTIFIED)
    assert {k: notified[k] for k in ("index", "value")} == {"index": 0, "value": 0}
    assert notified["width"] in (0, 2)  # 0: the transport does not say


def test_deferred_notifications_run_on_poll(rig: Rig) -> None:
    _live(rig)
    rig.machine.defer_notifications = True
    rig.transport.notify(0)
    rig.transport.notify(0)
    assert rig.backend.notified == []
    assert rig.machine.pending_notifications == 2
    assert len(rig.machine.events.of(Kind.QUEUE_NOTIFIED)) == 2  # recorded at the write
    rig.machine.poll()
    assert rig.backend.notified == [0, 0]


def test_vring_interrupt_is_acknowledged(rig: Rig) -> None:
    _live(rig)
    assert not rig.line.level
    rig.transport.notify(0)
    assert rig.line.level
    assert rig.transport.ack_interrupt() == {"vring"}
    assert not rig.line.level
    assert rig.transport.ack_interrupt() == set()


def test_config_interrupt_sets_bit_1(rig: Rig) -> None:
    _live(rig)
    rig.backend.host_changes_config(0, b"\x01")
    assert rig.model.isr == 0x2
    assert rig.line.level
    assert rig.transport.ack_interrupt() == {"config"}
    assert not rig.line.level


def test_reset_clears_state(rig: Rig) -> None:
    _live(rig)
    rig.transport.notify(0)
    rig.transport.reset()
    model = rig.model
    assert (model.status, model.driver_features, model.isr) == (0, 0, 0)
    assert not model.queue(0).enabled
    assert model.queue(0).desc == 0
    assert not rig.line.level
    assert rig.backend.resets == 2  # the one in _live, then this one
    causes = [e["cause"] for e in rig.machine.events.of(Kind.DEVICE_RESET)]
    assert causes == ["driver", "driver"]
