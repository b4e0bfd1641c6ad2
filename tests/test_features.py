"""Feature bit numbers against the spec, feature-word helpers, and status rendering."""

from __future__ import annotations

import pytest

from ballast.virtio.features import Feature, bit, has, mask, names
from ballast.virtio.status import Status, describe

# (name, bit) as listed in balloon/description.tex "Feature bits" and core/content.tex
# "Reserved Feature Bits" / "Legacy Interface: Reserved Feature Bits".
SPEC_BITS = [
    ("VIRTIO_BALLOON_F_MUST_TELL_HOST", 0),
    ("VIRTIO_BALLOON_F_STATS_VQ", 1),
    ("VIRTIO_BALLOON_F_DEFLATE_ON_OOM", 2),
    ("VIRTIO_BALLOON_F_FREE_PAGE_HINT", 3),
    ("VIRTIO_BALLOON_F_PAGE_POISON", 4),
    ("VIRTIO_BALLOON_F_PAGE_REPORTING", 5),
    ("VIRTIO_F_NOTIFY_ON_EMPTY", 24),
    ("VIRTIO_F_ANY_LAYOUT", 27),
    ("VIRTIO_F_INDIRECT_DESC", 28),
    ("VIRTIO_F_EVENT_IDX", 29),
    ("VIRTIO_F_UNUSED", 30),
    ("VIRTIO_F_VERSION_1", 32),
    ("VIRTIO_F_ACCESS_PLATFORM", 33),
    ("VIRTIO_F_RING_PACKED", 34),
    ("VIRTIO_F_IN_ORDER", 35),
    ("VIRTIO_F_ORDER_PLATFORM", 36),
    ("VIRTIO_F_SR_IOV", 37),
    ("VIRTIO_F_NOTIFICATION_DATA", 38),
    ("VIRTIO_F_NOTIF_CONFIG_DATA", 39),
    ("VIRTIO_F_RING_RESET", 40),
    ("VIRTIO_F_ADMIN_VQ", 41),
    ("VIRTIO_F_SUSPEND", 43),
]


@pytest.mark.parametrize(("name", "number"), SPEC_BITS)
def test_bit_numbers_match_spec(name: str, number: int) -> None:
    assert Feature[name] == number
    assert bit(name) == number


def test_every_member_is_checked_against_the_spec() -> None:
    assert {m.name for m in Feature} == {name for name, _ in SPEC_BITS}


def test_bad_feature_is_an_alias_of_unused() -> None:
    assert Feature.VIRTIO_F_BAD_FEATURE is Feature.VIRTIO_F_UNUSED
    assert bit("VIRTIO_F_BAD_FEATURE") == 30


def test_mask_accepts_members_names_and_numbers() -> None:
    value = mask(Feature.VIRTIO_F_VERSION_1, "VIRTIO_BALLOON_F_STATS_VQ", 0)
    assert value == (1 << 32) | 0b11
    assert mask() == 0


def test_has() -> None:
    value = mask("VIRTIO_F_VERSION_1", "VIRTIO_F_EVENT_IDX")
    assert has(value, "VIRTIO_F_EVENT_IDX")
    assert has(value, Feature.VIRTIO_F_VERSION_1)
    assert not has(value, "VIRTIO_F_INDIRECT_DESC")
    assert not has(value, 99)


def test_names_lowest_first_unknown_as_bit_n() -> None:
    value = mask("VIRTIO_F_VERSION_1", 6, 0, 42, 64)
    expected = ["VIRTIO_BALLOON_F_MUST_TELL_HOST", "bit 6", "VIRTIO_F_VERSION_1", "bit 42"]
    assert names(value) == [*expected, "bit 64"]
    assert names(0) == []


def test_invalid_inputs_fail_loudly() -> None:
    with pytest.raises(KeyError):
        bit("VIRTIO_F_VERSION1")
    with pytest.raises(ValueError):
        bit(-1)
    with pytest.raises(ValueError):
        names(-1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACKNOWLEDGE", 1),
        ("DRIVER", 2),
        ("DRIVER_OK", 4),
        ("FEATURES_OK", 8),
        ("SUSPEND", 16),
        ("DEVICE_NEEDS_RESET", 64),
        ("FAILED", 128),
    ],
)
def test_status_bits_match_spec(name: str, value: int) -> None:
    assert Status[name] == value


def test_describe_status() -> None:
    assert describe(0) == "0x00 (reset)"
    assert describe(0x0B) == "0x0b (ACKNOWLEDGE|DRIVER|FEATURES_OK)"
    assert describe(0xCF) == (
        "0xcf (ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK|DEVICE_NEEDS_RESET|FAILED)"
    )
    assert describe(0x20) == "0x20 (bit 5)"
    with pytest.raises(ValueError):
        describe(0x100)
