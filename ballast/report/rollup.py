"""The roll-up rules: test verdicts -> a state per clause and implementation -> coverage of
the catalogue and a certification verdict per profile.

Pure functions of the tests and the catalogue: the plugin applies them when it writes
results.json and ``ballast report merge`` applies them again to merged shards, so the two
agree by construction.  docs/reports.md states the same rules in prose.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ballast.errors import UsageError
from ballast.monitors.verdicts import SEVERITY
from ballast.spec.catalogue import Catalogue, Clause

if TYPE_CHECKING:
    from ballast.report.waivers import Waiver

MANDATORY = frozenset({"MUST", "MUST NOT", "REQUIRED", "SHALL", "SHALL NOT"})
ADVISORY = frozenset({"SHOULD", "SHOULD NOT", "RECOMMENDED", "NOT RECOMMENDED"})
PASS, WAIVED, TIMEOUT, ERROR = "PASS", "WAIVED", "TIMEOUT", "ERROR"
# A failure of the implementation (WAIVED is a FAIL or WARN a waiver covers).
FAILING = frozenset({"FAIL", "WARN", "CRASH", TIMEOUT, WAIVED})
# Verdicts that say something about the implementation: the clause was assessed.
ASSESSED = FAILING | {PASS}
# Verdicts that say nothing about the clause: its condition was false, or the harness broke.
IGNORED = frozenset({"NOT_APPLICABLE", ERROR})
ORDER = [str(v) for v in SEVERITY]  # worst first, for verdict counts


class Rollup(StrEnum):
    COMPLIANT = "COMPLIANT"
    PARTIAL = "PARTIAL"
    NONCOMPLIANT = "NONCOMPLIANT"
    UNTESTED = "UNTESTED"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    NOT_OBSERVABLE = "NOT_OBSERVABLE"


_UNTESTED: dict[str, Any] = {"rollup": Rollup.UNTESTED, "verdicts": {}, "tests": []}
COUNT_KEYS = (
    "mandatory",
    "compliant",
    "noncompliant",
    "partial",
    "waived",
    "timeout",
    "untested",
    "not_observable",
    "not_supported",
    "not_assessed",
    "should_violations",
    "errors",
)


def implementation_of(test: dict[str, Any]) -> str:
    """The column a test counts in: its implementation, or its subject side when unnamed."""
    return test.get("implementation") or test["subject"]


def verdicts_by_clause(test: dict[str, Any]) -> dict[str, str]:
    """Every clause verdict the test recorded: the tagged clauses (their own verdict, else
    the test's) and any other clause the subject was seen to violate during the test."""
    own = test.get("clause_verdicts") or {}
    return {**{c: own.get(c, test["verdict"]) for c in test["clauses"]}, **own}


def rollup(verdicts: Iterable[str]) -> Rollup:
    """One clause for one implementation, from the verdicts of the tests that cover it."""
    seen = set(verdicts) - IGNORED
    failed = bool(seen & FAILING)
    passed = PASS in seen
    if failed:
        return Rollup.PARTIAL if passed else Rollup.NONCOMPLIANT
    if passed:
        return Rollup.COMPLIANT
    if "NOT_OBSERVABLE" in seen:
        return Rollup.NOT_OBSERVABLE
    if "NOT_SUPPORTED" in seen:
        return Rollup.NOT_SUPPORTED
    return Rollup.UNTESTED


def verdict_counts(verdicts: Iterable[str]) -> dict[str, int]:
    counts = Counter(str(v) for v in verdicts)
    return {v: counts[v] for v in ORDER if counts[v]}


def describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {v}" for v, n in counts.items()) or "no tests"


def column_of(test: dict[str, Any]) -> tuple[str, str]:
    """(implementation, side): whose conformance a test speaks for.  The side matters even
    when both are named alike: a clean run judges the reference device and the reference
    driver, two implementations both labelled "reference"."""
    return implementation_of(test), test["subject"]


def rollup_clauses(tests: Sequence[dict[str, Any]], catalogue: Catalogue) -> list[dict[str, Any]]:
    """One entry per clause and (implementation, side), in catalogue order: every clause a
    test speaks for, plus every active clause of that side as UNTESTED, so the matrix and
    the certification see what was not tested."""
    covering: dict[tuple[str, tuple[str, str]], list[tuple[str, str]]] = {}
    columns: dict[tuple[str, str], None] = {}
    for test in tests:
        column = column_of(test)
        columns[column] = None
        for clause, verdict in verdicts_by_clause(test).items():
            if clause not in catalogue:
                raise UsageError(
                    f"test {test['nodeid']} names clause '{clause}', which the catalogue "
                    "does not know (results from another catalogue revision?)"
                )
            covering.setdefault((clause, column), []).append((test["nodeid"], verdict))
    for column in columns:
        for c in catalogue:
            if c.active and c.role == column[1]:
                covering.setdefault((c.id, column), [])
    position = {c.id: i for i, c in enumerate(catalogue)}
    order = {column: i for i, column in enumerate(columns)}
    suspect = {t["nodeid"] for t in tests if t.get("suspect")}
    ordered = sorted(covering.items(), key=lambda kv: (position[kv[0][0]], order[kv[0][1]]))
    return [
        _entry(catalogue.get(clause), column, found, suspect) for (clause, column), found in ordered
    ]


def _entry(
    clause: Clause, column: tuple[str, str], found: list[tuple[str, str]], suspect: set[str]
) -> dict[str, Any]:
    verdicts = [v for _, v in found]
    return {
        "id": clause.id,
        "implementation": column[0],
        "side": column[1],
        "role": clause.role,
        "level": clause.level,
        "area": clause.area_key,
        "text": clause.text,
        "testability": clause.testability,
        "rollup": str(rollup(verdicts)),
        "tests": list(dict.fromkeys(nodeid for nodeid, _ in found)),
        "verdicts": verdict_counts(verdicts),
        "suspect": clause.suspect or any(nodeid in suspect for nodeid, _ in found),
    }


def coverage(tests: Sequence[dict[str, Any]], catalogue: Catalogue) -> dict[str, Any]:
    """How much of the catalogue the run assessed, overall and per area: active clauses,
    those marked automatic, and those some test gave an assessing verdict (PASS or a
    failure; not NOT_* or ERROR)."""
    assessed = {
        clause
        for test in tests
        for clause, verdict in verdicts_by_clause(test).items()
        if verdict in ASSESSED
    }
    keys = ("active", "automatic", "tested", "automatic_tested")
    totals = dict.fromkeys(keys, 0)
    by_area: dict[str, dict[str, int]] = {}
    for c in catalogue:
        if not c.active:
            continue
        automatic = c.testability == "automatic"
        tested = c.id in assessed
        area = by_area.setdefault(c.area_key, dict.fromkeys(keys, 0))
        for key, on in zip(keys, (True, automatic, tested, automatic and tested), strict=True):
            area[key] += on
            totals[key] += on
    return {"clauses": len(catalogue), **totals, "by_area": dict(sorted(by_area.items()))}


def certify(
    clause_rollups: Sequence[dict[str, Any]],
    catalogue: Catalogue,
    waivers: Sequence[Waiver],
    certification_run: bool,
    profile: str | None = None,
) -> list[dict[str, Any]]:
    """A verdict per profile (only ``profile`` when given) and implementation of that
    profile's role (side), with every reason.  Waivers are honoured through the WAIVED
    verdicts ``apply_waivers`` left in the tests, only in a certification run; ``waivers``
    supplies their reasons and the expired ones."""
    if profile is not None and profile not in catalogue.profiles:
        raise UsageError(f"unknown profile '{profile}'; known: {', '.join(catalogue.profiles)}")
    by_column: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for entry in clause_rollups:
        by_column.setdefault((entry["implementation"], entry["side"]), {})[entry["id"]] = entry
    errors = sum(entry["verdicts"].get(ERROR, 0) for entry in clause_rollups)
    out = []
    for name in [profile] if profile else list(catalogue.profiles):
        members = [c for c in catalogue if c.active and name in c.profiles]
        role = catalogue.profiles[name].get("role")
        for (impl, side), rollups in by_column.items():
            if role not in (None, side):
                continue
            if any(c.level in MANDATORY and c.id in rollups for c in members):
                judged = _Judged(rollups, waivers, certification_run)
                for clause in members:
                    judged.add(clause)
                out.append(judged.result(name, impl, side, errors))
    return out


class _Judged:
    """The reasons for one profile and implementation, sorted into blocking (a definite
    violation), incomplete (not shown either way) and notes (listed, never blocking)."""

    def __init__(
        self, rollups: dict[str, dict[str, Any]], waivers: Sequence[Waiver], cert: bool
    ) -> None:
        self.rollups = rollups
        self.waivers = waivers
        self.cert = cert
        self.reasons: dict[str, list[str]] = {"blocking": [], "incomplete": [], "notes": []}
        self.counts = dict.fromkeys(COUNT_KEYS, 0)

    def add(self, clause: Clause) -> None:
        entry = self.rollups.get(clause.id, _UNTESTED)
        judged = self._classify(clause, entry)
        if clause.level in MANDATORY:
            self.counts["mandatory"] += 1
        if judged is None:
            return
        key, bucket, reason = judged
        self.counts[key] += 1
        if bucket:
            self.reasons[bucket].append(f"{clause.id} ({clause.level}): {reason}")
        if bucket == "blocking":
            self.reasons["notes"].extend(
                f"{clause.id} ({clause.level}): waiver expired on {w.expiry}, not applied"
                for w in self._matching(clause, entry)
                if w.expired
            )

    def _classify(self, clause: Clause, entry: dict[str, Any]) -> tuple[str, str, str] | None:
        """(count key, reason bucket or "", reason) for one clause; None: it does not count."""
        state, verdicts = entry["rollup"], entry["verdicts"]
        failing = {v for v in verdicts if v in FAILING}
        if self.cert:
            failing.discard(WAIVED)
        seen = f"{state} ({describe_counts(verdicts)})"
        bad = state in (Rollup.NONCOMPLIANT, Rollup.PARTIAL)
        if bad and not failing:
            return "waived", "notes", f"waived: {self._waiver(clause, entry)}"
        if clause.level in ADVISORY:
            if not bad:
                return None
            return "should_violations", "notes", f"{seen}: a SHOULD-level violation, not blocking"
        if clause.level not in MANDATORY:
            return None
        if state == Rollup.COMPLIANT:
            return "compliant", "", ""
        if bad:
            if failing == {TIMEOUT}:
                return "timeout", "incomplete", f"{seen}: TIMEOUT without a definite failure"
            return state.lower(), "blocking", seen
        if clause.testability == "untestable":
            return "not_assessed", "notes", f"not assessed (untestable), {seen}"
        if state == Rollup.NOT_SUPPORTED:
            return "not_supported", "notes", f"{seen}: lacks what the clause is conditional on"
        return state.lower(), "incomplete", seen

    def _matching(self, clause: Clause, entry: dict[str, Any]) -> list[Waiver]:
        return [
            w for w in self.waivers if any(w.covers(nodeid, clause.id) for nodeid in entry["tests"])
        ]

    def _waiver(self, clause: Clause, entry: dict[str, Any]) -> str:
        live = [w for w in self._matching(clause, entry) if not w.expired]
        return live[0].describe() if live else "no waiver details recorded"

    def result(self, profile: str, impl: str, side: str, errors: int) -> dict[str, Any]:
        self.counts["errors"] = errors
        run = (
            [f"run: {errors} clause verdict(s) are ERROR (harness faults): the run is incomplete"]
            if errors
            else []
        )
        if self.reasons["blocking"]:
            verdict = "NOT_CONFORMANT"
        elif self.reasons["incomplete"] or errors:
            verdict = "INCOMPLETE"
        else:
            verdict = "CONFORMANT"
        return {
            "profile": profile,
            "implementation": impl,
            "side": side,
            "verdict": verdict,
            "reasons": [
                *self.reasons["blocking"],
                *self.reasons["incomplete"],
                *run,
                *self.reasons["notes"],
            ],
            "counts": self.counts,
        }
