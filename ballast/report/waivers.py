"""Waivers: agreed exceptions a certification run honours.

A waivers file is a YAML list; each entry names a ``clause``, a ``test`` (a node ID; without
brackets it covers every parametrisation) or both, and gives a ``reason``, an optional
``link`` and an ``expiry`` date (YYYY-MM-DD, the last day it applies).  Only in a
certification run does a covered FAIL or WARN become WAIVED; an expired waiver is recorded
and reported, never applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ballast.errors import UsageError
from ballast.report.rollup import verdicts_by_clause
from ballast.spec.catalogue import Catalogue, load_catalogue
from ballast.spec.yamlio import load

FIELDS = ("clause", "test", "reason", "link", "expiry")
WAIVABLE = ("FAIL", "WARN")


@dataclass(frozen=True)
class Waiver:
    reason: str
    expiry: dt.date
    clause: str | None = None
    test: str | None = None
    link: str | None = None
    expired: bool = False

    def covers(self, nodeid: str, clause: str) -> bool:
        if self.clause is not None and self.clause != clause:
            return False
        return self.test is None or nodeid == self.test or nodeid.startswith(self.test + "[")

    def describe(self) -> str:
        link = f" ({self.link})" if self.link else ""
        return f"{self.reason}{link}, until {self.expiry}"

    def record(self, applied: bool) -> dict[str, Any]:
        """What a test's ``waiver`` field holds, so a report (or a merge) can show it."""
        return {
            "clause": self.clause,
            "test": self.test,
            "reason": self.reason,
            "link": self.link,
            "expiry": self.expiry.isoformat(),
            "applied": applied,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Waiver:
        return cls(
            reason=record["reason"],
            expiry=dt.date.fromisoformat(record["expiry"]),
            clause=record.get("clause"),
            test=record.get("test"),
            link=record.get("link"),
            expired=not record.get("applied", True),
        )


def load_waivers(
    path: Path, catalogue: Catalogue | None = None, today: dt.date | None = None
) -> list[Waiver]:
    """Read and check a waivers file; any problem is a one-line UsageError naming the entry."""
    catalogue = catalogue or load_catalogue()
    today = today or dt.date.today()
    data = load(path, "waivers file")
    if data is None:
        return []
    if not isinstance(data, list):
        raise UsageError(
            f"{path}: a waivers file is a list of {{clause or test, reason, "
            "link, expiry}} entries"
        )
    return [
        _waiver(entry, f"{path}: waiver {i}", catalogue, today) for i, entry in enumerate(data, 1)
    ]


def _waiver(entry: Any, where: str, catalogue: Catalogue, today: dt.date) -> Waiver:
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: must be a mapping with {', '.join(FIELDS)}")
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise UsageError(
            f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}"
        )
    for name in ("clause", "test", "reason", "link"):
        if name in entry and not (isinstance(entry[name], str) and entry[name].strip()):
            raise UsageError(f"{where}: '{name}' must be a non-empty string")
    clause, test = entry.get("clause"), entry.get("test")
    if clause is None and test is None:
        raise UsageError(f"{where}: names neither a clause nor a test")
    if clause is not None and clause not in catalogue:
        raise UsageError(
            f"{where}: unknown clause ID '{clause}'; `ballast spec list` shows the valid IDs"
        )
    if "reason" not in entry:
        raise UsageError(f"{where} ({clause or test}): missing reason")
    expiry = _date(entry.get("expiry"), f"{where} ({clause or test})")
    return Waiver(
        entry["reason"].strip(), expiry, clause, test, entry.get("link"), expired=expiry < today
    )


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: expiry must be a date YYYY-MM-DD, got {value!r}") from None


def apply_waivers(
    tests: Sequence[dict[str, Any]], waivers: Sequence[Waiver], certification_run: bool
) -> list[dict[str, Any]]:
    """The tests with every covered FAIL/WARN clause verdict made WAIVED (and the test's
    verdict too once none is left), each such test recording its waiver; a failure covered
    only by an expired waiver stays and records the expired waiver.  Outside a
    certification run the tests are returned unchanged."""
    if not certification_run or not waivers:
        return list(tests)
    return [_apply(test, waivers) for test in tests]


def _apply(test: dict[str, Any], waivers: Sequence[Waiver]) -> dict[str, Any]:
    verdicts = verdicts_by_clause(test)
    applied: Waiver | None = None
    expired: Waiver | None = None
    for clause, verdict in verdicts.items():
        if verdict not in WAIVABLE:
            continue
        covering = [w for w in waivers if w.covers(test["nodeid"], clause)]
        live = next((w for w in covering if not w.expired), None)
        if live is not None:
            verdicts[clause] = "WAIVED"
            applied = applied or live
        elif covering:
            expired = expired or covering[0]
    if applied is not None:
        record = applied.record(True)
    elif expired is not None:
        record = expired.record(False)
    else:
        return test
    waived = dict(test, clause_verdicts=verdicts, waiver=record)
    if test["verdict"] in WAIVABLE and not any(verdicts[c] in WAIVABLE for c in test["clauses"]):
        waived["verdict"] = "WAIVED"
    return waived


def waivers_of(tests: Sequence[dict[str, Any]]) -> list[Waiver]:
    """The waivers a run recorded in its tests (to recompute its certification)."""
    found: dict[Waiver, None] = {}
    for test in tests:
        if test.get("waiver"):
            try:
                found[Waiver.from_record(test["waiver"])] = None
            except (KeyError, TypeError, ValueError):
                raise UsageError(
                    f"test {test['nodeid']}: its waiver record lacks a reason "
                    "or a YYYY-MM-DD expiry"
                ) from None
    return list(found)
