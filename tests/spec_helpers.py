"""Shared helpers for the catalogue tests: a throw-away copy of the spec sources and of
spec_refs, so tests can tamper with both."""

from __future__ import annotations

import shutil
from pathlib import Path

from ballast.paths import spec_refs_dir
from ballast.spec.sources import Sources, load_sources

BALLOON = "device-types/balloon/description.tex"


def copy_world(tmp_path: Path) -> tuple[Sources, Path]:
    """Copy the spec sources and the catalogue into tmp_path; return (sources, refs)."""
    original = load_sources()
    root = tmp_path / "spec"
    shutil.copytree(original.root, root)
    refs = tmp_path / "spec_refs"
    shutil.copytree(spec_refs_dir(), refs)
    return load_sources(root, refs), refs


def edit(sources: Sources, rel: str, old: str, new: str) -> None:
    path = sources.root / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur exactly once in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")
