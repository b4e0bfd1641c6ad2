"""spec_refs/sources.yaml: which spec files the catalogue comes from and how each normative
block maps to a clause-ID prefix and area."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ballast.errors import UsageError
from ballast.paths import REPO_ROOT, spec_refs_dir
from ballast.spec.yamlio import load

_AREA_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
PREFIX_TRANSPORT = {"pci": "pci", "mmio": "mmio"}


@dataclass(frozen=True)
class Area:
    label: str
    prefix: str
    area: str
    scope: str  # "in" | "out"
    rationale: str

    @property
    def transport(self) -> str | None:
        return PREFIX_TRANSPORT.get(self.prefix)


@dataclass(frozen=True)
class Sources:
    revision: str
    root: Path
    files: list[str]
    conformance: list[str]
    areas: dict[str, Area]

    def area_for(self, anchor: str) -> Area | None:
        return self.areas.get(anchor.split(":", 1)[1] if ":" in anchor else anchor)


def load_sources(spec_root: Path | None = None, refs: Path | None = None) -> Sources:
    path = (refs or spec_refs_dir()) / "sources.yaml"
    data = load(path, "sources file")
    try:
        areas: dict[str, Area] = {}
        for entry in data["areas"]:
            area = Area(
                label=entry["label"],
                prefix=entry["prefix"],
                area=entry["area"],
                scope=entry.get("scope", "in"),
                rationale=entry.get("rationale", ""),
            )
            if not _AREA_NAME.match(area.area) or not _AREA_NAME.match(area.prefix):
                raise UsageError(f"{path}: area '{area.area}' must match {_AREA_NAME.pattern}")
            if area.scope not in ("in", "out") or (area.scope == "out" and not area.rationale):
                raise UsageError(f"{path}: '{area.label}': scope out needs a rationale")
            if area.label in areas:
                raise UsageError(f"{path}: label '{area.label}' is listed twice")
            areas[area.label] = area
        root = spec_root or Path(os.environ.get("BALLAST_SPEC_ROOT", REPO_ROOT / data["root"]))
        return Sources(
            data["revision"], root, list(data["files"]), list(data["conformance"]), areas
        )
    except (KeyError, TypeError) as exc:
        raise UsageError(f"{path}: missing or malformed field {exc}; see its header") from exc
