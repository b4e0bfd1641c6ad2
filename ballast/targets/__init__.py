"""Targets: the implementations a run can put under test, found by name.

Built-in: ``reference`` (device and driver) and ``qemu`` (device, over qtest).  Third
parties register more through the entry-point group ``ballast.targets`` (see
docs/targets.md).  A target is selected as ``NAME`` or, for a seeded-bug variant,
``NAME:VARIANT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from ballast.errors import UsageError

TARGET_API_VERSION = "1"
ENTRY_POINT_GROUP = "ballast.targets"


class Target(Protocol):
    """What a target module or object provides (target API version 1)."""

    name: str
    sides: tuple[str, ...]  # which sides it can stand in for: "device", "driver"
    api_version: str
    # Optional: the matrix (fixtures/feature-sets.yaml) its device tests run in by default;
    # a target without one gets "reference" (every transport, the full offer).
    # matrix: str

    def prerequisites(self) -> str | None:
        """None when it can run here, else the first missing piece and how to get it."""

    def variants(self, side: str) -> dict[str, str]:
        """Seeded-bug variants it offers for ``side``: name -> what is wrong."""

    def describe(self, side: str, variant: str | None) -> dict[str, Any]:
        """Run info: version, command line, anything a report reader needs."""

    def open_link(self, subject: str, config: Any, catalogue: Any) -> Any:
        """A link (ballast.link.LinkLike) with this target on the ``subject`` side and the
        reference implementation on the other, built from a ballast.link.LinkConfig whose
        subject-side options carry the chosen variant's faults."""


@dataclass(frozen=True)
class Choice:
    """A target picked for one side, with its variant (None: the implementation as is)."""

    side: str
    target: Target
    variant: str | None

    @property
    def label(self) -> str:
        return self.target.name + (f":{self.variant}" if self.variant else "")


def registry() -> dict[str, Target]:
    """Every known target: built-ins first, then entry points (a plugin may not shadow a
    built-in name)."""
    from ballast.targets.qemu.target import QEMU
    from ballast.targets.reference import REFERENCE

    targets: dict[str, Target] = {REFERENCE.name: REFERENCE, QEMU.name: QEMU}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in targets:
            continue
        try:
            target = entry.load()
        except Exception as exc:  # a broken plugin must not take the whole run down
            raise UsageError(
                f"target plugin '{entry.name}' ({entry.value}) failed to load: {exc}"
            ) from exc
        if getattr(target, "api_version", None) != TARGET_API_VERSION:
            raise UsageError(
                f"target plugin '{entry.name}' speaks target API "
                f"{getattr(target, 'api_version', '?')}, ballast speaks {TARGET_API_VERSION}"
            )
        targets[entry.name] = target
    return targets


def choose(side: str, spec: str) -> Choice:
    """Resolve ``NAME[:VARIANT]`` for ``side``, or raise a one-line UsageError."""
    name, _, variant = spec.partition(":")
    targets = registry()
    if name not in targets:
        raise UsageError(
            f"unknown target '{name}' for --{side}; known: {', '.join(sorted(targets))} "
            "(`ballast targets` lists them)"
        )
    target = targets[name]
    if side not in target.sides:
        raise UsageError(f"target '{name}' cannot stand in for the {side}")
    if variant and variant not in target.variants(side):
        raise UsageError(
            f"target '{name}' has no {side} variant '{variant}' "
            "(`ballast targets --variants` lists them)"
        )
    missing = target.prerequisites()
    if missing:
        raise UsageError(f"target '{name}' cannot run here: {missing}")
    return Choice(side, target, variant or None)
