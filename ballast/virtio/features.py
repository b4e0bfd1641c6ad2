"""Feature bits of the balloon device (device type 5) and the device-independent bits.

Names are spelled exactly as in the spec so reports and test ids can be grepped against
it.  Bit numbers follow device-types/balloon/description.tex "Feature bits" and
core/content.tex "Reserved Feature Bits" (plus its legacy section for 24, 27 and 30).
"""

from __future__ import annotations

from enum import IntEnum


class Feature(IntEnum):
    """A feature *bit number* (not a mask); use :func:`mask` to build feature words."""

    VIRTIO_BALLOON_F_MUST_TELL_HOST = 0
    VIRTIO_BALLOON_F_STATS_VQ = 1
    VIRTIO_BALLOON_F_DEFLATE_ON_OOM = 2
    VIRTIO_BALLOON_F_FREE_PAGE_HINT = 3
    VIRTIO_BALLOON_F_PAGE_POISON = 4
    VIRTIO_BALLOON_F_PAGE_REPORTING = 5
    VIRTIO_F_NOTIFY_ON_EMPTY = 24
    VIRTIO_F_ANY_LAYOUT = 27
    VIRTIO_F_INDIRECT_DESC = 28
    VIRTIO_F_EVENT_IDX = 29
    VIRTIO_F_UNUSED = 30
    VIRTIO_F_BAD_FEATURE = 30  # legacy (QEMU) name of the same bit; an alias of UNUSED
    VIRTIO_F_VERSION_1 = 32
    VIRTIO_F_ACCESS_PLATFORM = 33
    VIRTIO_F_RING_PACKED = 34
    VIRTIO_F_IN_ORDER = 35
    VIRTIO_F_ORDER_PLATFORM = 36
    VIRTIO_F_SR_IOV = 37
    VIRTIO_F_NOTIFICATION_DATA = 38
    VIRTIO_F_NOTIF_CONFIG_DATA = 39
    VIRTIO_F_RING_RESET = 40
    VIRTIO_F_ADMIN_VQ = 41
    VIRTIO_F_SUSPEND = 43


def bit(name: Feature | str | int) -> int:
    """Bit number of a feature given by member, spec name (e.g. "VIRTIO_F_VERSION_1")
    or number; unknown names raise ``KeyError`` so typos fail loudly."""
    if isinstance(name, str):
        return int(Feature[name])
    if name < 0:
        raise ValueError(f"feature bit must be non-negative, got {name}")
    return int(name)


def mask(*names: Feature | str | int) -> int:
    """Feature word with exactly the given bits set."""
    value = 0
    for name in names:
        value |= 1 << bit(name)
    return value


def has(value: int, name: Feature | str | int) -> bool:
    """Whether feature word ``value`` has the given bit set."""
    return bool(value >> bit(name) & 1)


def names(value: int) -> list[str]:
    """Spec names of the bits set in ``value``, lowest first; unknown bits as "bit N"."""
    if value < 0:
        raise ValueError(f"feature word must be non-negative, got {value:#x}")
    out = []
    n = 0
    while value >> n:
        if value >> n & 1:
            try:
                out.append(Feature(n).name)
            except ValueError:
                out.append(f"bit {n}")
        n += 1
    return out
