"""`ballast spec check`: every way the catalogue can disagree with its sources or itself,
one line per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ballast.errors import UsageError
from ballast.spec.build import render
from ballast.spec.catalogue import (
    OVERLAY_FIELDS,
    REQUIRED_FIELDS,
    TESTABILITY,
    load_catalogue_uncached,
)
from ballast.spec.sources import Sources
from ballast.spec.yamlio import load, parse


def check(sources: Sources, refs: Path) -> list[str]:
    problems = _committed_records_problems(refs, sources.revision)
    if problems:
        return problems  # the rest needs loadable records
    problems += _drift(sources, refs)
    catalogue = load_catalogue_uncached(refs)
    known_features = {f["name"] for f in catalogue.features}
    interpretations = (load(refs / "interpretations.yaml", "interpretations file") or {}).get(
        "interpretations", {}
    )
    for clause in catalogue:
        for name in clause.features:
            if name not in known_features:
                problems.append(
                    f"{clause.id}: condition names unknown feature {name} "
                    "(add it to spec_refs/features.yaml or fix the overlay)"
                )
        if not clause.active:
            continue
        if clause.testability not in TESTABILITY:
            problems.append(
                f"{clause.id}: testability '{clause.testability or 'missing'}' "
                f"(set one of {', '.join(TESTABILITY)} in spec_refs/overlay/{clause.prefix}.yaml)"
            )
        elif clause.testability != "automatic" and not clause.rationale:
            problems.append(f"{clause.id}: testability {clause.testability} needs a rationale")
        key = (clause.interpretation or {}).get("key")
        if key and key not in interpretations:
            problems.append(f"{clause.id}: interpretation key '{key}' not in interpretations.yaml")
        if clause.suspect:
            problems.append(
                f"{clause.id}: text changed since review (set reviewed: {clause.fingerprint} "
                f"in spec_refs/overlay/{clause.prefix}.yaml once its tests are checked)"
            )
    problems += _overlay_problems(refs, catalogue)
    for key, entry in interpretations.items():
        for clause_id in entry.get("clauses", []):
            if clause_id not in catalogue:
                problems.append(f"interpretations.yaml: {key} names unknown clause {clause_id}")
    return problems


def _committed_records_problems(refs: Path, revision: str) -> list[str]:
    problems: list[str] = []
    seen: dict[str, Path] = {}
    files = sorted((refs / revision).glob("*.yaml"))
    if not files:
        return [f"{refs / revision}: no catalogue files; run `ballast spec extract`"]
    for path in files:
        try:
            data = parse(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            problems.append(f"{path}: malformed YAML: {str(exc).splitlines()[0]}")
            continue
        if not isinstance(data, list):
            problems.append(f"{path}: a catalogue file is a list of clauses")
            continue
        for index, record in enumerate(data):
            clause_id = record.get("id") if isinstance(record, dict) else None
            label = clause_id or f"entry {index + 1}"
            missing = [
                f for f in REQUIRED_FIELDS if not isinstance(record, dict) or f not in record
            ]
            if missing:
                problems.append(f"{path.name}: {label}: missing field(s) {', '.join(missing)}")
            if clause_id in seen:
                problems.append(
                    f"{path.name}: duplicate ID {clause_id} (also in {seen[clause_id].name})"
                )
            elif clause_id:
                seen[clause_id] = path
    return problems


def _drift(sources: Sources, refs: Path) -> list[str]:
    problems: list[str] = []
    expected = render(sources, refs)
    for path, content in expected.items():
        if path.exists() and path.read_text(encoding="utf-8") == content:
            continue
        if path.name == "profiles.yaml" or not path.exists():
            problems.append(
                f"drift: {path.name} differs from the sources; run `ballast spec extract`"
            )
            continue
        problems += _record_drift(path, content)
    return problems


def _record_drift(path: Path, content: str) -> list[str]:
    committed = {r["id"]: r for r in parse(path.read_text(encoding="utf-8"))}
    fresh = {r["id"]: r for r in parse(content)}
    lines = []
    for clause_id, record in fresh.items():
        old: dict[str, Any] | None = committed.get(clause_id)
        if old is None:
            lines.append(
                f"drift: new sentence in the sources, would become {clause_id}: "
                f"{record['text'][:80]!r}"
            )
        elif record["status"] == "retired" and old["status"] != "retired":
            lines.append(f"drift: {clause_id} is no longer in the sources (would be retired)")
        elif record["fingerprint"] != old["fingerprint"]:
            lines.append(f"drift: {clause_id} text changed in the sources")
        elif record != old:
            changed = sorted(k for k in record if record.get(k) != old.get(k))
            lines.append(f"drift: {clause_id} {', '.join(changed)} changed in the sources")
    if not lines:
        lines.append(f"drift: {path.name} is not byte-identical to the extractor's output")
    return [f"{line}; run `ballast spec extract`" for line in lines]


def _overlay_problems(refs: Path, catalogue: Any) -> list[str]:
    problems: list[str] = []
    areas = {c.area_key for c in catalogue}
    for path in sorted((refs / "overlay").glob("*.yaml")):
        try:
            data = load(path, "overlay file") or {}
        except UsageError as exc:
            problems.append(str(exc))
            continue
        for clause_id, entry in (data.get("clauses") or {}).items():
            if clause_id not in catalogue:
                problems.append(f"{path.name}: entry for unknown clause {clause_id}")
            problems += _field_problems(path, clause_id, entry)
        for area, entry in (data.get("areas") or {}).items():
            if area not in areas:
                problems.append(f"{path.name}: defaults for unknown area {area}")
            problems += _field_problems(path, area, entry)
    return problems


def _field_problems(path: Path, name: str, entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{path.name}: {name} must be a mapping"]
    unknown = sorted(set(entry) - set(OVERLAY_FIELDS))
    problems = [f"{path.name}: {name}: unknown field {f}" for f in unknown]
    if "testability" in entry and entry["testability"] not in TESTABILITY:
        problems.append(f"{path.name}: {name}: testability must be one of {', '.join(TESTABILITY)}")
    return problems
