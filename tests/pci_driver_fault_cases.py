"""The PCI driver faults' cases for tests/test_reference_driver_faults.py: what the clean
reference device observed of each faulty driver (and must not observe of the clean one)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

from ballast.machine.pci import ENVIRONMENT_SUBSYSTEM, PciOptions
from ballast.monitors.events import Kind
from ballast.reference import balloon as b
from ballast.reference.balloon import Queue
from ballast.reference.device import DeviceOptions
from ballast.virtio.layout import CapType, PciCfg
from tests.test_reference_driver import Rig

Observed = Any  # tests.test_reference_driver_faults.Observed (which imports this module)


def nothing(rig: Rig) -> None:
    """Initialization alone."""


def balloon(rig: Rig) -> None:
    rig.target(300)
    rig.target(100)


def shared_interrupt(rig: Rig) -> None:
    """A configuration change and a used stats buffer in one interrupt, then another."""
    rig.device.set_target(64)
    rig.device.request_stats()
    rig.run()
    rig.device.request_stats()
    rig.run()


def restart(rig: Rig) -> None:
    rig.driver.reset_queue(Queue.INFLATE)
    rig.driver.restart_queue(Queue.INFLATE)
    rig.target(64)


def pci(**options: Any) -> DeviceOptions:
    return DeviceOptions(pci=PciOptions(**options))


def any_event(kind: str, test: Callable[[Any], bool]) -> Callable[[Observed], bool]:
    return lambda o: any(test(e) for e in o.of(kind, "device"))


def never_driven(o: Observed) -> bool:
    return not o.of(Kind.STATUS_WRITTEN)


def never_claimed(o: Observed) -> bool:
    return not [e for e in o.of(Kind.PCI_CONFIG_ACCESS) if e["write"]]


def never_looked(o: Observed) -> bool:
    """No read where the capability list is found (status register, capabilities pointer)."""
    spots = (PciCfg.STATUS, PciCfg.CAPABILITIES)
    return not any(
        e["offset"] <= spot < e["offset"] + e["width"]
        for e in o.of(Kind.PCI_CONFIG_ACCESS)
        if not e["write"]
        for spot in spots
    )


def reinit_unseen(o: Observed) -> bool:
    """A status write after a reset with no status read between them."""
    kinds = (Kind.STATUS_WRITTEN, Kind.STATUS_READ)
    events = [e for e in o.rig.events if e.kind in kinds and e.observer == "device"]
    return any(
        a.kind == Kind.STATUS_WRITTEN and a["value"] == 0 and b_.kind == Kind.STATUS_WRITTEN
        for a, b_ in pairwise(events)
    )


def config_after_next_interrupt(o: Observed) -> bool:
    """After an ISR read showing both reasons, another interrupt before a config read."""
    kinds = (Kind.ISR_CLEARED, Kind.CONFIG_READ)
    events = [e for e in o.rig.events if e.kind in kinds]
    for i, event in enumerate(events):
        if event.kind == Kind.ISR_CLEARED and event["value"] & 3 == 3:
            later = next(
                (e for e in events[i + 1 :] if e.kind == Kind.CONFIG_READ or e["value"]), None
            )
            return later is not None and later.kind == Kind.ISR_CLEARED
    return False


def queue_reset_unread(o: Observed) -> bool:
    kinds = (Kind.QUEUE_RESET, Kind.QUEUE_RESET_READ, Kind.QUEUE_FIELD_WRITTEN)
    events = [e for e in o.rig.events if e.kind in kinds]
    return any(
        a.kind == Kind.QUEUE_RESET and b_.kind == Kind.QUEUE_FIELD_WRITTEN
        for a, b_ in pairwise(events)
    )


def _writes_outside_driver_fields(e: Any) -> bool:
    fields = (range(b.ACTUAL, b.ACTUAL + 4), range(b.POISON_VAL, b.POISON_VAL + 4))
    return not any(e["offset"] in f and e["offset"] + e["size"] - 1 in f for f in fields)


def pci_driver_cases(case: Callable[..., Any]) -> dict[str, Any]:
    """``case`` builds a Case (scenario, evidence, link=..., options=..., policy=...)."""
    refused = {"fault_refused": True}
    window = {"pci_cfg_access": True}
    return {
        "pci_config_halfword_write": case(
            balloon, any_event(Kind.CONFIG_WRITTEN, lambda e: e["size"] == 2)
        ),
        "pci_write_notify_off": case(
            nothing,
            any_event(Kind.REGISTER_MISUSE, lambda e: e["register"] == "queue_notify_off"),
        ),
        "pci_queue_size_not_pow2": case(
            nothing,
            any_event(
                Kind.QUEUE_FIELD_WRITTEN,
                lambda e: e["field"] == "size" and e["value"] & (e["value"] - 1),
            ),
        ),
        "pci_enable_before_setup": case(
            nothing, any_event(Kind.QUEUE_FIELD_WRITTEN, lambda e: e["enabled"])
        ),
        "pci_reinit_without_reset_wait": case(nothing, reinit_unseen),
        "pci_queue_enable_zero": case(
            nothing, any_event(Kind.QUEUE_ENABLED, lambda e: not e["enabled"])
        ),
        "pci_notify_32bit": case(
            balloon, any_event(Kind.QUEUE_NOTIFIED, lambda e: e["width"] == 4)
        ),
        "pci_notify_wrong_value": case(
            balloon, any_event(Kind.QUEUE_NOTIFIED, lambda e: e["value"] != e["index"])
        ),
        "pci_match_transitional_only": case(nothing, never_claimed, **refused),
        "pci_match_modern_only": case(nothing, never_claimed, link="pci-transitional", **refused),
        "pci_match_known_revision": case(
            nothing, never_driven, options=pci(revision=0x2A), **refused
        ),
        "pci_match_virtio_subsystem": case(
            nothing, never_driven, options=pci(subsystem=ENVIRONMENT_SUBSYSTEM), **refused
        ),
        "pci_cap_reject_reserved_type": case(
            nothing, never_driven, options=pci(reserved_cap=True), **refused
        ),
        "pci_cap_exact_len": case(nothing, never_driven, options=pci(cap_len_extra=8), **refused),
        "pci_cap_keep_reserved_bar": case(
            nothing, never_driven, options=pci(reserved_bar_cap=True), **refused
        ),
        "pci_cap_reject_large_length": case(
            nothing, never_driven, options=pci(large_lengths=True), **refused
        ),
        "pci_cap_last_instance": case(
            balloon,
            lambda o: bool(o.of(Kind.PCI_LATER_INSTANCE_USED)),
            options=pci(second_instances=True),
        ),
        "pci_cap_write_back": case(
            nothing,
            any_event(
                Kind.PCI_CONFIG_ACCESS,
                lambda e: e["write"] and e["cap"] not in (None, CapType.PCI_CFG),
            ),
        ),
        "pci_legacy_skip_caps": case(nothing, never_looked, link="pci-legacy"),
        "pci_legacy_refuse_without_caps": case(nothing, never_driven, link="pci-legacy", **refused),
        "pci_legacy_last_io_bar": case(
            nothing,
            any_event(Kind.REGISTER_MISUSE, lambda e: e["block"] == "pci-extra-io"),
            link="pci-legacy",
            options=pci(extra_io_bar=True),
            **refused,
        ),
        "pci_legacy_msix_offset": case(
            nothing,
            any_event(Kind.CONFIG_WRITTEN, _writes_outside_driver_fields),
            link="pci-legacy",
        ),
        "pci_caps_unchecked": case(
            nothing,
            never_looked,
            link="pci-legacy",
            policy={"transitional": False},
            fault_refused=True,
            clean_refused=True,
        ),
        "pci_nontransitional_falls_back": case(
            nothing,
            any_event(Kind.STATUS_WRITTEN, lambda e: e["legacy"]),
            link="pci-legacy",
            policy={"transitional": False},
            clean_refused=True,
        ),
        "pci_isr_one_reason": case(shared_interrupt, config_after_next_interrupt),
        "pci_cfg_misaligned_peek": case(
            balloon,
            any_event(Kind.PCI_CFG_WINDOW, lambda e: e["length"] and e["offset"] % e["length"]),
            policy=window,
        ),
        "pci_cfg_wrong_bar": case(
            balloon, any_event(Kind.PCI_CFG_WINDOW, lambda e: not e["covered"]), policy=window
        ),
        "pci_queue_reset_no_wait": case(restart, queue_reset_unread),
    }
