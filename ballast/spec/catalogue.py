"""The clause catalogue: the extracted layer merged with the hand-written overlay.

Extracted layer: ``spec_refs/<revision>/<prefix>.yaml`` (written only by ``ballast spec
extract``).  Overlay: ``spec_refs/overlay/<prefix>.yaml`` (written only by people): per-area
defaults and per-clause testability, rationale, interpretation notes, condition overrides,
status and review marks.  Profiles: ``spec_refs/profiles.yaml``; features:
``spec_refs/features.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ballast.errors import UsageError
from ballast.paths import spec_refs_dir
from ballast.spec.yamlio import load, load_section

LEVELS = (
    "MUST",
    "MUST NOT",
    "SHOULD",
    "SHOULD NOT",
    "MAY",
    "RECOMMENDED",
    "NOT RECOMMENDED",
    "REQUIRED",
    "SHALL",
    "SHALL NOT",
    "OPTIONAL",
)
ROLES = ("device", "driver")
TESTABILITY = ("automatic", "observable-on-some-targets", "untestable")
REQUIRED_FIELDS = (
    "id",
    "anchor",
    "role",
    "level",
    "text",
    "conditions",
    "legacy",
    "scope",
    "source",
    "fingerprint",
    "status",
)
OVERLAY_FIELDS = (
    "testability",
    "rationale",
    "interpretation",
    "conditions",
    "status",
    "reviewed",
    "note",
)


@dataclass(frozen=True)
class Clause:
    """One normative statement, with everything ballast knows about it."""

    id: str
    anchor: str
    role: str
    level: str
    text: str
    context: str
    keyword: int
    conditions: dict[str, Any]
    legacy: bool
    scope: str
    source: str
    fingerprint: str
    status: str
    testability: str
    rationale: str
    interpretation: dict[str, Any] | None
    changed_from: str | None
    reviewed: str | None
    profiles: tuple[str, ...] = field(default=())

    @property
    def prefix(self) -> str:
        return self.id.split(".")[0]

    @property
    def area(self) -> str:
        return self.id.split(".")[2]

    @property
    def area_key(self) -> str:
        """``prefix.area``: the unit the suites and reports group by."""
        return f"{self.prefix}.{self.area}"

    @property
    def features(self) -> list[str]:
        c = self.conditions
        return [*c.get("negotiated", []), *c.get("not_negotiated", []), *c.get("offered", [])]

    @property
    def suspect(self) -> bool:
        """The text changed since the overlay (and the tests) were last reviewed."""
        return self.changed_from is not None and self.reviewed != self.fingerprint

    @property
    def violation(self) -> str:
        """The verdict a violation of this clause earns."""
        return (
            "WARN"
            if self.level in ("SHOULD", "SHOULD NOT", "RECOMMENDED", "NOT RECOMMENDED")
            else "FAIL"
        )

    @property
    def active(self) -> bool:
        return self.status == "active" and self.scope == "in"


class Catalogue:
    """All clauses, indexed by ID, with the query helpers the CLI and plugin use."""

    def __init__(
        self,
        clauses: Iterable[Clause],
        profiles: dict[str, dict[str, Any]],
        features: list[dict[str, Any]],
        directory: Path,
    ) -> None:
        self._by_id = {c.id: c for c in clauses}
        self.profiles = profiles
        self.features = features
        self.directory = directory

    def __iter__(self) -> Iterator[Clause]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, clause_id: object) -> bool:
        return clause_id in self._by_id

    def get(self, clause_id: str) -> Clause:
        try:
            return self._by_id[clause_id]
        except KeyError:
            raise UsageError(
                f"unknown clause ID '{clause_id}'; `ballast spec list` shows the valid IDs"
            ) from None

    def select(
        self,
        *,
        role: str | None = None,
        level: str | None = None,
        area: str | None = None,
        feature: str | None = None,
        profile: str | None = None,
        testability: str | None = None,
        include_inactive: bool = False,
    ) -> list[Clause]:
        """``testability`` may also be ``not-automatic``: what the reference pair cannot
        show, which a certification must cover by other means."""
        if profile is not None and profile not in self.profiles:
            raise UsageError(
                f"unknown profile '{profile}'; known: {', '.join(sorted(self.profiles))}"
            )
        if feature is not None and feature not in {f["name"] for f in self.features}:
            raise UsageError(f"unknown feature '{feature}'; see spec_refs/features.yaml")
        levels = {c.level for c in self}
        if level is not None and level.upper() not in levels:
            raise UsageError(f"unknown level '{level}'; known: {', '.join(sorted(levels))}")
        areas = {name for c in self for name in (c.area, c.area_key, c.prefix)}
        if area is not None and area not in areas:
            raise UsageError(
                f"unknown area '{area}'; `ballast spec stats` lists the areas (e.g. balloon, "
                "stats, balloon.stats)"
            )
        kinds = (*TESTABILITY, "not-automatic")
        if testability is not None and testability not in kinds:
            raise UsageError(
                f"unknown testability '{testability}'; known: {', '.join(sorted(kinds))}"
            )
        chosen = []
        for c in self:
            if not include_inactive and not c.active:
                continue
            if role and c.role != role:
                continue
            if level and c.level != level.upper():
                continue
            if area and area not in (c.area, c.area_key, c.prefix):
                continue
            if feature and feature not in c.features:
                continue
            if profile and profile not in c.profiles:
                continue
            if testability == "not-automatic" and c.testability == "automatic":
                continue
            if testability not in (None, "not-automatic", c.testability):
                continue
            chosen.append(c)
        return chosen


def _overlay(directory: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Per-clause entries and per-area defaults from every overlay file."""
    clauses: dict[str, dict[str, Any]] = {}
    areas: dict[str, dict[str, Any]] = {}
    for path in sorted((directory / "overlay").glob("*.yaml")):
        data = load(path, "overlay file") or {}
        if not isinstance(data, dict):
            raise UsageError(f"{path}: an overlay file is a mapping with 'areas' and 'clauses'")
        for key, section, target in (("areas", "area", areas), ("clauses", "clause", clauses)):
            for name, entry in (data.get(key) or {}).items():
                if not isinstance(entry, dict):
                    raise UsageError(f"{path}: {section} '{name}' must be a mapping")
                unknown = set(entry) - set(OVERLAY_FIELDS)
                if unknown:
                    raise UsageError(
                        f"{path}: {section} '{name}' has unknown field(s) "
                        f"{', '.join(sorted(unknown))}; allowed: {', '.join(OVERLAY_FIELDS)}"
                    )
                target[name] = entry
    return clauses, areas


def extracted_records(directory: Path, revision: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted((directory / revision).glob("*.yaml")):
        data = load(path, "catalogue file")
        if not isinstance(data, list):
            raise UsageError(f"{path}: a catalogue file is a list of clauses")
        for record in data:
            missing = [
                f for f in REQUIRED_FIELDS if not isinstance(record, dict) or f not in record
            ]
            if missing:
                what = record.get("id", "?") if isinstance(record, dict) else "?"
                raise UsageError(
                    f"{path}: clause {what} lacks {', '.join(missing)}; "
                    "re-run `ballast spec extract`"
                )
        records.extend(data)
    return records


def build(
    records: list[dict[str, Any]],
    overlay: dict[str, dict[str, Any]],
    area_defaults: dict[str, dict[str, Any]],
    profiles: dict[str, dict[str, Any]],
) -> list[Clause]:
    membership: dict[str, list[str]] = {}
    for name, profile in profiles.items():
        for anchor in profile.get("anchors", []):
            membership.setdefault(anchor, []).append(name)
    clauses = []
    for r in records:
        prefix, role, area, _ = r["id"].split(".")
        note = {**area_defaults.get(f"{prefix}.{area}", {}), **overlay.get(r["id"], {})}
        status = "retired" if "retired" in (r["status"], note.get("status")) else "active"
        clauses.append(
            Clause(
                id=r["id"],
                anchor=r["anchor"],
                role=r["role"],
                level=r["level"],
                text=r["text"],
                context=r.get("context", ""),
                keyword=r.get("keyword", 0),
                conditions=note.get("conditions", r["conditions"]),
                legacy=r["legacy"],
                scope=r["scope"],
                source=r["source"],
                fingerprint=r["fingerprint"],
                status=status,
                testability=note.get("testability", ""),
                rationale=note.get("rationale", ""),
                interpretation=note.get("interpretation"),
                changed_from=r.get("changed_from"),
                reviewed=note.get("reviewed"),
                profiles=tuple(
                    sorted(
                        p for p in membership.get(r["anchor"], []) if profiles[p]["role"] == role
                    )
                ),
            )
        )
    return clauses


@cache
def _cached(directory: Path) -> Catalogue:
    return load_catalogue_uncached(directory)


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """The merged catalogue (cached per directory: it is read-only at run time)."""
    return _cached((directory or spec_refs_dir()).resolve())


def load_catalogue_uncached(directory: Path) -> Catalogue:
    sources = load(directory / "sources.yaml", "sources file")
    revision = sources["revision"] if isinstance(sources, dict) else None
    if not revision:
        raise UsageError(f"{directory / 'sources.yaml'}: missing 'revision'")
    profiles = load_section(directory / "profiles.yaml", "profiles file", "profiles", dict)
    features = load_section(directory / "features.yaml", "features file", "features", list)
    overlay, area_defaults = _overlay(directory)
    clauses = build(extracted_records(directory, revision), overlay, area_defaults, profiles)
    return Catalogue(clauses, profiles, features, directory)
