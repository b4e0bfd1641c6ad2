"""The transport-independent device model: the device's own decisions and what it
records of the driver."""

from __future__ import annotations

import pytest

from ballast.monitors.events import EventLog, Kind
from ballast.virtio.device import VirtioDeviceModel
from ballast.virtio.features import Feature, mask
from ballast.virtio.status import Status
from tests.fakes.virtio_backend import MODERN_FEATURES, FakeBackend


class Wire:
    """An interrupt line that remembers its level."""

    level = False

    def set_level(self, level: bool) -> None:
        self.level = level


def _model(
    backend: FakeBackend | None = None, *, legacy: bool = False, modern: bool = True
) -> VirtioDeviceModel:
    model = VirtioDeviceModel(
        FakeBackend() if backend is None else backend,
        EventLog(),
        legacy_capable=legacy,
        modern_capable=modern,
    )
    model.connect_irq(Wire())
    return model


def _offer_and_decide(model: VirtioDeviceModel, features: int) -> int:
    model.write_status(Status.ACKNOWLEDGE | Status.DRIVER)
    model.write_driver_features(0, features & 0xFFFFFFFF)
    model.write_driver_features(1, features >> 32)
    model.write_status(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK)
    return model.status


VERSION_1 = mask(Feature.VIRTIO_F_VERSION_1)


@pytest.mark.parametrize(
    ("legacy", "features", "accepted"),
    [
        (False, MODERN_FEATURES, True),
        (False, MODERN_FEATURES | 1 << 50, False),  # not offered
        (False, MODERN_FEATURES & ~VERSION_1, False),  # no legacy to fall back to
        (True, MODERN_FEATURES & ~VERSION_1, True),  # a transitional device may
    ],
)
def test_features_ok_decision(legacy: bool, features: int, accepted: bool) -> None:
    model = _model(legacy=legacy)
    status = _offer_and_decide(model, features)
    assert bool(status & Status.FEATURES_OK) == accepted
    (decision,) = model.events.of(Kind.FEATURES_OK_DECIDED)
    assert decision.data == {"features": features, "accepted": accepted}


def test_legacy_link_has_no_features_ok_decision() -> None:
    model = _model(legacy=True, modern=False)
    legacy_bits = mask(Feature.VIRTIO_F_ANY_LAYOUT, Feature.VIRTIO_F_UNUSED)  # always offered
    assert model.device_features == MODERN_FEATURES & 0xFFFFFFFF | legacy_bits
    model.write_driver_features(0, 0xFFFFFFFF, legacy=True)
    model.write_status(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK)
    assert model.events.of(Kind.FEATURES_OK_DECIDED) == []
    assert model.negotiated == MODERN_FEATURES & 0xFFFFFFFF | legacy_bits


def test_driver_ok_reaches_the_backend_once() -> None:
    backend = FakeBackend()
    model = _model(backend)
    _offer_and_decide(model, MODERN_FEATURES)
    model.write_status(model.status | Status.DRIVER_OK)
    model.write_status(model.status | Status.DRIVER_OK)
    assert backend.driver_oks == 1


def test_needs_reset_notifies_a_live_driver_and_sticks_until_reset() -> None:
    model = _model()
    _offer_and_decide(model, MODERN_FEATURES)
    model.write_status(model.status | Status.DRIVER_OK)
    model.set_needs_reset()
    assert model.status & Status.DEVICE_NEEDS_RESET
    assert model.isr == 0x2
    model.write_status(Status.ACKNOWLEDGE)  # the driver cannot clear the device's bit
    assert model.status & Status.DEVICE_NEEDS_RESET
    model.write_status(0)
    assert model.status == 0


def test_needs_reset_does_not_exist_on_legacy_links() -> None:
    model = _model(legacy=True, modern=False)
    model.set_needs_reset()
    assert model.status == 0


def test_config_change_before_driver_ok_bumps_generation_without_interrupt() -> None:
    model = _model()
    model.config_changed()
    assert (model.config_generation, model.isr) == (1, 0)


def test_generation_wraps_at_8_bits_and_survives_reset() -> None:
    model = _model()
    for _ in range(257):
        model.config_changed()
    model.reset()
    assert model.config_generation == 1


def test_config_outside_the_space_reads_all_ones_and_drops_writes() -> None:
    backend = FakeBackend()
    model = _model(backend)
    assert model.config_read(10, 4) == b"\xff" * 4
    model.config_write(11, b"\x00\x00")
    assert backend.config[11] == 12
    assert len(model.events.of(Kind.CONFIG_WRITTEN)) == 1  # recorded all the same


def test_queue_epoch_grows_with_each_enable() -> None:
    model = _model()
    model.queue_select = 0
    model.write_queue_enable(1)
    model.write_queue_reset(1)
    assert not model.queue(0).enabled
    model.write_queue_enable(1)
    assert model.queue(0).epoch == 2


def test_absent_queue_is_recorded_but_not_configured() -> None:
    backend = FakeBackend()
    model = _model(backend)
    model.queue_select = 2  # max size 0: absent
    model.write_queue("size", 8)
    model.write_queue_enable(1)
    model.notify(2, 2)
    assert model.queue(2).size == 0
    assert backend.notified == []
    assert [e.kind for e in model.events] == [
        Kind.QUEUE_FIELD_WRITTEN,
        Kind.QUEUE_ENABLED,
        Kind.QUEUE_NOTIFIED,
    ]


def test_queue_writes_while_enabled_are_marked() -> None:
    model = _model()
    model.write_queue_enable(1)
    model.write_queue_half("desc", True, 0x1)
    (written,) = model.events.of(Kind.QUEUE_FIELD_WRITTEN)
    assert written.data == {"index": 0, "field": "desc", "value": 1 << 32, "enabled": True}


def test_legacy_pfn_computes_the_legacy_layout() -> None:
    model = _model(legacy=True, modern=False)
    model.write_queue("legacy_align", 256)
    model.write_queue_pfn(0x10, 4096)
    queue = model.queue(0)
    assert (queue.desc, queue.avail, queue.used) == (0x10000, 0x10400, 0x10500)
    model.write_queue_pfn(0, 4096)
    assert not queue.enabled


def test_host_reset_rereads_features_and_is_recorded() -> None:
    backend = FakeBackend()
    model = _model(backend)
    backend.features |= 1 << 2
    model.reset()
    assert model.device_features & 1 << 2
    assert [e["cause"] for e in model.events.of(Kind.DEVICE_RESET)] == ["host"]


def test_a_device_needs_an_interface() -> None:
    with pytest.raises(ValueError, match="legacy or a modern"):
        _model(legacy=False, modern=False)
