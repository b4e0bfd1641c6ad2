"""Conformance profiles, read from the spec's conformance chapter.

core/conformance.tex defines a conformant balloon device (driver) as one that satisfies the
general device (driver) list, the list of one transport, the balloon list and, when it is
transitional, the legacy list.  Each list is a set of ``\\ref``s to normative blocks (or, for
the legacy list, to "Legacy Interface" sections).  A profile here is one such combination;
references to blocks that are not in our sources, or that we catalogue as out of scope, are
kept with the reason so the report can say what a certification does not cover.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ballast.errors import UsageError
from ballast.spec.latex import braced, normalise_label, strip_comments
from ballast.spec.sources import Sources

_CONFORMANCE = re.compile(r"\\conformance\{\\\w+\}")
_REF = re.compile(r"\\ref\{([^}]*)\}")

LISTS = {
    ("device", "general"): "Device Conformance",
    ("device", "pci"): "Device Conformance / PCI Device Conformance",
    ("device", "mmio"): "Device Conformance / MMIO Device Conformance",
    ("device", "balloon"): "Device Conformance / Traditional Memory Balloon Device Conformance",
    ("driver", "general"): "Driver Conformance",
    ("driver", "pci"): "Driver Conformance / PCI Driver Conformance",
    ("driver", "mmio"): "Driver Conformance / MMIO Driver Conformance",
    ("driver", "balloon"): "Driver Conformance / Traditional Memory Balloon Driver Conformance",
    ("both", "legacy"): "Legacy Interface: Transitional Device and Transitional Driver Conformance",
}


def conformance_lists(sources: Sources) -> dict[str, list[str]]:
    """Every \\conformance section of the sources: its label -> the anchors it references."""
    lists: dict[str, list[str]] = {}
    for rel in sources.conformance:
        path: Path = sources.root / rel
        try:
            text = strip_comments(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read spec source {path}: {exc.strerror}") from exc
        heads = list(_CONFORMANCE.finditer(text))
        for i, head in enumerate(heads):
            _title, pos = braced(text, head.end())
            label_match = re.match(r"\s*\\label\{", text[pos:])
            if not label_match:
                continue
            label, pos = braced(text, pos + label_match.end() - 1)
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            refs = [normalise_label(r) for r in _REF.findall(text[pos:end])]
            lists[normalise_label(label).removeprefix("sec:Conformance / ")] = refs
    return lists


def build_profiles(sources: Sources, anchors: set[str]) -> dict[str, Any]:
    """The eight balloon profiles: {device, driver} x {pci, mmio} x {non-transitional,
    transitional}."""
    lists = conformance_lists(sources)
    missing = [title for title in LISTS.values() if title not in lists]
    if missing:
        raise UsageError(f"conformance list(s) not found in the sources: {', '.join(missing)}")
    profiles: dict[str, Any] = {}
    for role in ("device", "driver"):
        for transport in ("pci", "mmio"):
            for transitional in (False, True):
                parts = ["general", transport, "balloon"] + (["legacy"] if transitional else [])
                name = f"balloon-{role}-{transport}" + ("-transitional" if transitional else "")
                included: list[str] = []
                out: list[dict[str, str]] = []
                for part in parts:
                    for ref in lists[LISTS[(role if part != "legacy" else "both", part)]]:
                        reason = _out_of_scope(ref, anchors, sources)
                        if reason:
                            out.append({"ref": ref, "reason": reason})
                        elif ref not in included:
                            included.append(ref)
                profiles[name] = {
                    "role": role,
                    "transport": transport,
                    "transitional": transitional,
                    "lists": [LISTS[(role if p != "legacy" else "both", p)] for p in parts],
                    "anchors": included,
                    "out_of_scope": out,
                }
    return {"profiles": profiles}


def _out_of_scope(ref: str, anchors: set[str], sources: Sources) -> str:
    if ref not in anchors:
        return "not in this project's spec sources (../shared/spec)"
    area = sources.area_for(ref)
    if area is not None and area.scope == "out":
        return area.rationale
    return ""
