"""What a conformance test drives: one link with the implementation under test on one
side (the *subject*) and the reference implementation on the other."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ballast.errors import NotSupported
from ballast.link import TRANSPORTS, LinkConfig, LinkLike
from ballast.matrix import FeatureSet, Matrix, load_feature_sets
from ballast.monitors.verdicts import Finding
from ballast.reference.balloon import Numbering
from ballast.reference.device import DeviceOptions
from ballast.reference.driver import DriverPolicy
from ballast.reference.guestmem import MemoryLayout
from ballast.spec.catalogue import Catalogue, Clause
from ballast.targets import Choice
from ballast.timeouts import scaled
from ballast.virtio.features import Feature


@dataclass(frozen=True)
class LinkParam:
    """One cell a test runs in: a transport, the guest byte order, and the feature set the
    device offers (see ballast.matrix)."""

    transport: str
    big_endian: bool = False
    feature_set: FeatureSet | None = None  # None: the device's own default offer
    unmet: int = 0  # features the test needs offered that no cell of the matrix offers

    @property
    def transport_id(self) -> str:
        return self.transport + ("-be" if self.big_endian else "")

    @property
    def id(self) -> str:
        suffix = f"@{self.feature_set.id}" if self.feature_set else ""
        return self.transport_id + suffix


TRANSPORT_PARAMS = (
    LinkParam("pci-modern"),
    LinkParam("pci-transitional"),
    LinkParam("mmio-v2"),
    LinkParam("pci-legacy"),
    LinkParam("pci-legacy", big_endian=True),
    LinkParam("mmio-v1"),
    LinkParam("mmio-v1", big_endian=True),
)
TRANSPORT_IDS = tuple(p.transport_id for p in TRANSPORT_PARAMS)


def params_for(
    clauses: list[Clause],
    matrix: Matrix,
    wanted: list[str] | None = None,
    explicit: bool = False,
    offered: int = 0,
) -> list[LinkParam]:
    """The cells a test runs in: its clauses' legacy and transport conditions pick the
    transports (big-endian guests only matter for legacy clauses), the matrix the feature
    sets.  ``explicit``: the test named its transports itself (``requires(transport=...)``),
    so only ``wanted`` counts; ``offered``: features its scenario needs the device to offer
    (``requires(offered=[...])``)."""
    legacy = any(c.legacy or c.conditions.get("legacy") for c in clauses)
    buses = {c.conditions["transport"] for c in clauses if "transport" in c.conditions}

    def applies(param: LinkParam) -> bool:
        if explicit and wanted is not None:
            return param.transport_id in wanted
        spec = TRANSPORTS[param.transport]
        if spec.legacy != legacy or (param.big_endian and not legacy):
            return False
        if buses and spec.bus not in buses:
            return False
        return not wanted or param.transport_id in wanted or param.transport in wanted

    transports = [p for p in TRANSPORT_PARAMS if applies(p)]

    def cells(need_offer: bool) -> list[LinkParam]:
        return [
            dataclasses.replace(
                param,
                feature_set=cell.feature_set,
                unmet=0 if need_offer else offered & ~cell.feature_set.features,
            )
            for cell in matrix.cells
            for param in transports
            if cell.runs(param.transport, clauses, offered, need_offer)
        ]

    # A test no set of the matrix can meet still runs in the base cells, where it reports
    # that its feature is not offered (NOT_APPLICABLE from its clauses' monitors, or
    # NOT_SUPPORTED for what ``offered`` asks) rather than vanishing from the results.
    return cells(need_offer=True) or cells(need_offer=False)


class Harness:
    """A link under test.  ``host`` is the device's host interface, ``driver`` the driver."""

    def __init__(self, link: LinkLike, subject: str) -> None:
        self.link = link
        self.subject = subject
        self.host = link.device
        self.driver = link.driver
        self.machine = link.machine
        self.events = link.events

    def findings(self) -> list[Finding]:
        return self.link.findings()

    def close(self) -> None:
        self.link.close()


def build(
    subject: str,
    param: LinkParam,
    device: Choice,
    driver: Choice,
    catalogue: Catalogue,
    interpretations: dict[str, str],
    device_overrides: dict[str, Any] | None = None,
    driver_overrides: dict[str, Any] | None = None,
    memory_size: int = 16 << 20,
) -> Harness:
    """A harness whose subject side carries the chosen variant, the other side clean."""
    device_faults = (
        frozenset([device.variant]) if subject == "device" and device.variant else (frozenset())
    )
    driver_faults = (
        frozenset([driver.variant]) if subject == "driver" and driver.variant else (frozenset())
    )
    # Both sides number queues by the chosen reading (interpretation "queue-numbering");
    # every wait of the reference driver scales with BALLAST_TIMEOUT_FACTOR.
    numbering = Numbering(interpretations.get("queue-numbering", Numbering.FIXED))
    options = dataclasses.replace(
        DeviceOptions(numbering=numbering), **(device_overrides or {}), faults=device_faults
    )
    if param.unmet:
        names = ", ".join(f.name for f in Feature if param.unmet >> f & 1)
        raise NotSupported(f"no cell of the matrix has the device offer {names}")
    if param.feature_set is not None:  # the cell's offer bounds what the test asks for
        allowed = param.feature_set.features | ~load_feature_sets().scope
        options = dataclasses.replace(options, features=options.features & allowed)
    policy = dataclasses.replace(
        DriverPolicy(numbering=numbering, timeout=scaled(DriverPolicy.timeout)),
        memory_layout=MemoryLayout.for_ram(memory_size),
        **(driver_overrides or {}),
        faults=driver_faults,
    )
    config = LinkConfig(
        transport=param.transport,
        big_endian=param.big_endian,
        memory_size=memory_size,
        device=options,
        driver=policy,
        interpretations=interpretations,
    )
    target = (device if subject == "device" else driver).target
    return Harness(target.open_link(subject, config, catalogue), subject)
