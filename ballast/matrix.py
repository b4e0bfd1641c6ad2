"""The feature-set dimension: which features a link's device offers, and which cells
(transport x feature set) a device target is tested in.

The sets and matrices are data (``fixtures/feature-sets.yaml``): a VMM project reads there
what was tested, and the QEMU matrix follows the issue's rule -- defaults on every transport,
each property switched once on pci-modern -- without code knowing property names.  A
variation cell runs only the tests whose clauses depend on what the variation changes, so
the matrix costs a few tests per property rather than a suite per property.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ballast.errors import UsageError
from ballast.paths import REPO_ROOT
from ballast.spec.catalogue import Clause
from ballast.virtio.features import Feature, mask

FEATURE_SETS_FILE = REPO_ROOT / "fixtures" / "feature-sets.yaml"
CONDITION_KEYS = ("negotiated", "offered", "not_negotiated")
DEFAULT_MATRIX = "reference"  # for a target that names none (target API: ``matrix``)


@dataclass(frozen=True)
class FeatureSet:
    """A named offer: the device offers ``features`` (a mask), as far as a test asks."""

    id: str
    description: str
    features: int

    def can_satisfy(self, clauses: list[Clause], offered: int = 0) -> bool:
        """Whether a link with this offer can meet the clauses' feature conditions (the
        driver may always decline a feature, never accept an unoffered one) and offers
        what the test itself needs (``offered``, from ``requires(offered=[...])``)."""
        needed = _named(clauses, ("negotiated", "offered"))
        # a feature ballast does not model cannot be offered by any set
        if not all(name in Feature.__members__ for name in needed):
            return False
        wanted = mask(*needed) | offered
        return self.features & wanted == wanted


@dataclass(frozen=True)
class Cell:
    """One cell of a matrix: a feature set on the transports it runs on.  ``changed`` is
    what the set changes from the matrix's base (empty for the base itself)."""

    feature_set: FeatureSet
    transports: tuple[str, ...] | None  # None: every transport
    changed: int
    every_test: bool

    def runs(
        self, transport: str, clauses: list[Clause], offered: int = 0, need_offer: bool = True
    ) -> bool:
        """Whether a test of ``clauses`` needing ``offered`` belongs in this cell on
        ``transport`` (``need_offer``: only where the set can meet both)."""
        if self.transports is not None and transport not in self.transports:
            return False
        if need_offer and not self.feature_set.can_satisfy(clauses, offered):
            return False
        depends = depends_on(clauses) | offered
        return self.every_test or not self.changed or bool(self.changed & depends)


@dataclass(frozen=True)
class Matrix:
    id: str
    description: str
    cells: tuple[Cell, ...]


def depends_on(clauses: list[Clause]) -> int:
    """The features the clauses' conditions name (offered, negotiated or not)."""
    return mask(*(n for n in _named(clauses, CONDITION_KEYS) if n in Feature.__members__))


def _named(clauses: list[Clause], keys: tuple[str, ...]) -> set[str]:
    """Feature names the clauses' conditions of the given kinds mention."""
    return {name for clause in clauses for key in keys for name in clause.conditions.get(key, ())}


class FeatureSets:
    """The sets and matrices of one feature-sets file, validated on load."""

    def __init__(self, data: Any, source: Path, transports: tuple[str, ...]) -> None:
        self.source = source
        self._transports = transports
        if not isinstance(data, dict) or set(data) != {"sets", "matrices"}:
            self._fail("top level must have exactly the keys 'sets' and 'matrices'")
        self.sets: dict[str, FeatureSet] = {}
        for set_id, entry in _mapping(data["sets"], "sets", self).items():
            self.sets[set_id] = self._set(set_id, entry, data["sets"])
        # the features a cell decides; a test's other bits (undefined ones it offers on
        # purpose) are not the matrix's business
        self.scope = 0
        for feature_set in self.sets.values():
            self.scope |= feature_set.features
        self.matrices = {
            matrix_id: self._matrix(matrix_id, entry)
            for matrix_id, entry in _mapping(data["matrices"], "matrices", self).items()
        }

    def _fail(self, problem: str) -> None:
        raise UsageError(f"{self.source}: {problem}")

    def _features(self, where: str, names: Any) -> int:
        if not isinstance(names, list):
            self._fail(f"{where} must be a list of feature names")
        unknown = [n for n in names if n not in Feature.__members__]
        if unknown:
            self._fail(f"{where}: unknown feature(s) {', '.join(map(str, unknown))}")
        return mask(*names)

    def _set(self, set_id: str, entry: Any, raw: dict[str, Any]) -> FeatureSet:
        entry = _mapping(entry, f"set {set_id}", self)
        keys = set(entry)
        if not keys <= {"description", "features", "base", "add", "remove"} or (
            ("features" in keys) == ("base" in keys)
        ):
            self._fail(
                f"set {set_id}: give 'features', or 'base' with 'add'/'remove' "
                "(and a 'description')"
            )
        if "features" in entry:
            features = self._features(f"set {set_id}.features", entry["features"])
        else:
            base = entry["base"]
            if base not in self.sets:
                self._fail(f"set {set_id}: base '{base}' must be a set defined above it")
            features = self.sets[base].features
            features |= self._features(f"set {set_id}.add", entry.get("add", []))
            features &= ~self._features(f"set {set_id}.remove", entry.get("remove", []))
        return FeatureSet(set_id, str(entry.get("description", "")), features)

    def _matrix(self, matrix_id: str, entry: Any) -> Matrix:
        entry = _mapping(entry, f"matrix {matrix_id}", self)
        allowed = {
            "description",
            "base",
            "variations",
            "variation-transports",
            "combinations",
            "every-test",
        }
        if not set(entry) <= allowed or "base" not in entry:
            self._fail(
                f"matrix {matrix_id}: needs 'base'; known keys: {', '.join(sorted(allowed))}"
            )
        base = self._get_set(matrix_id, entry["base"])
        variations = [self._get_set(matrix_id, v) for v in entry.get("variations", [])]
        where = entry.get("variation-transports", "all")
        if where != "all":
            unknown = [t for t in where if t not in self._transports]
            if not isinstance(where, list) or unknown:
                self._fail(
                    f"matrix {matrix_id}: variation-transports must be 'all' or a list of "
                    f"{', '.join(self._transports)}"
                )
        transports = None if where == "all" else tuple(where)
        every_test = bool(entry.get("every-test", False))
        groups = (
            [
                c
                for n in range(1, len(variations) + 1)
                for c in itertools.combinations(variations, n)
            ]
            if entry.get("combinations")
            else [(v,) for v in variations]
        )
        cells = [Cell(base, None, 0, True)]
        for group in groups:
            combined = _combine(base, group)
            cells.append(Cell(combined, transports, combined.features ^ base.features, every_test))
        return Matrix(matrix_id, str(entry.get("description", "")), tuple(cells))

    def _get_set(self, matrix_id: str, set_id: Any) -> FeatureSet:
        if set_id not in self.sets:
            self._fail(
                f"matrix {matrix_id}: unknown feature set '{set_id}' "
                f"(known: {', '.join(self.sets)})"
            )
        return self.sets[set_id]

    def matrix(self, matrix_id: str) -> Matrix:
        if matrix_id not in self.matrices:
            raise UsageError(
                f"unknown matrix '{matrix_id}'; known: {', '.join(self.matrices)} "
                f"(defined in {self.source})"
            )
        return self.matrices[matrix_id]


def _combine(base: FeatureSet, group: tuple[FeatureSet, ...]) -> FeatureSet:
    """Several variations of ``base`` at once: each adds or removes what it changes."""
    if len(group) == 1:
        return group[0]
    features = base.features
    for variation in group:
        features = (features | (variation.features & ~base.features)) & ~(
            base.features & ~variation.features
        )
    return FeatureSet(
        "+".join(v.id for v in group), " and ".join(v.description for v in group), features
    )


def _mapping(value: Any, where: str, owner: FeatureSets) -> dict[str, Any]:
    if not isinstance(value, dict):
        owner._fail(f"{where} must be a mapping")
    return value


@cache
def load_feature_sets(path: Path = FEATURE_SETS_FILE) -> FeatureSets:
    """The feature sets and matrices (a bad file is a usage error naming what is wrong)."""
    from ballast.link import TRANSPORTS

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read feature sets {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from exc
    return FeatureSets(data, path, tuple(TRANSPORTS))
