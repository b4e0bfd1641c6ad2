"""The device properties of QEMU's virtio-balloon that a link can ask for, and how the
reference device's feature bits map onto them.

A test describes the device it wants with ``DeviceOptions.features`` (the bits the
reference device would offer).  QEMU cannot offer an arbitrary set: each bit falls in one
of three groups, measured on QEMU 7.2 (``-device virtio-balloon-pci,help`` and the
offered features read over qtest):

* switchable: a ``-device`` property turns the bit on or off (``PROPERTY_OF``);
* always offered: ``VIRTIO_BALLOON_F_STATS_VQ`` (``virtio_balloon_get_features`` adds
  it unconditionally) — a test that needs it *absent* cannot run on QEMU (NotSupported);
* never offered: ``VIRTIO_BALLOON_F_MUST_TELL_HOST`` — QEMU has no property for it, so a
  request for it is dropped: the driver sees it unoffered and every clause conditional on
  it becomes NOT_APPLICABLE, which is the truth about QEMU.

``VIRTIO_F_VERSION_1`` is decided by the transport (legacy or modern line), not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ballast.errors import NotSupported
from ballast.virtio.features import Feature, has

PROPERTY_OF: dict[Feature, str] = {
    Feature.VIRTIO_BALLOON_F_DEFLATE_ON_OOM: "deflate-on-oom",
    Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT: "free-page-hint",
    Feature.VIRTIO_BALLOON_F_PAGE_POISON: "page-poison",
    Feature.VIRTIO_BALLOON_F_PAGE_REPORTING: "free-page-reporting",
    Feature.VIRTIO_F_INDIRECT_DESC: "indirect_desc",
    Feature.VIRTIO_F_EVENT_IDX: "event_idx",
    Feature.VIRTIO_F_RING_RESET: "queue_reset",
}
ALWAYS_OFFERED = (Feature.VIRTIO_BALLOON_F_STATS_VQ,)
NEVER_OFFERED = (Feature.VIRTIO_BALLOON_F_MUST_TELL_HOST,)
HINT_IOTHREAD = "ballast-hint-io"
"""QEMU refuses ``free-page-hint=on`` without an iothread: the link creates this one."""


@dataclass(frozen=True)
class QemuProperties:
    """The switchable properties of one balloon device (QEMU 7.2 defaults)."""

    deflate_on_oom: bool = False
    free_page_hint: bool = False
    page_poison: bool = True
    free_page_reporting: bool = False
    indirect_desc: bool = True
    event_idx: bool = True
    queue_reset: bool = True

    @classmethod
    def from_features(cls, features: int) -> QemuProperties:
        """The properties that make QEMU offer ``features`` as far as it can (see the
        module docstring); raises ``NotSupported`` for a bit QEMU cannot withhold."""
        for feature in ALWAYS_OFFERED:
            if not has(features, feature):
                raise NotSupported(f"QEMU always offers {feature.name}: it cannot be withheld")
        return cls(
            **{_field(name): has(features, feature) for feature, name in PROPERTY_OF.items()}
        )

    def device_options(self) -> list[str]:
        """``name=on|off`` for every property, plus the iothread link hinting needs."""
        options = [
            f"{name}={'on' if getattr(self, _field(name)) else 'off'}"
            for name in PROPERTY_OF.values()
        ]
        if self.free_page_hint:
            options.append(f"iothread={HINT_IOTHREAD}")
        return options

    def extra_args(self) -> list[str]:
        """Objects the device options refer to (the hinting iothread)."""
        return ["-object", f"iothread,id={HINT_IOTHREAD}"] if self.free_page_hint else []


def _field(prop: str) -> str:
    """The dataclass field of a QEMU property name (``free-page-hint`` → ``free_page_hint``)."""
    return prop.replace("-", "_")
