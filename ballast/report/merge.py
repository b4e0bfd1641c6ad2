"""Merging the shards of one run (a CI matrix, say) into one results.json.

Each shard is a complete results file for its part of the run.  The merge keeps every test
once, refuses what would make the merged file lie (a test in two shards, a collected test
with no result, shards of different runs), and recomputes the roll-ups, coverage and
certification with the functions the plugin uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ballast.errors import UsageError
from ballast.report.rollup import certify, coverage, rollup_clauses
from ballast.report.schema import validate
from ballast.report.waivers import waivers_of
from ballast.spec.catalogue import Catalogue

# run fields every shard of one run must agree on
SAME = ("ballast_version", "catalogue_revision", "interpretations", "profile", "certification_run")

Shard = tuple[str, dict[str, Any]]  # (name for messages, results)


def merge(shards: Sequence[Shard], catalogue: Catalogue) -> dict[str, Any]:
    """One results dictionary from the shards, in shard order."""
    if not shards:
        raise UsageError("nothing to merge: give at least one shard")
    for name, results in shards:
        validate(results, name)
    run = _run(shards)
    tests, collected = _tests(shards)
    rollups = rollup_clauses(tests, catalogue)
    merged = {
        "schema_version": shards[0][1]["schema_version"],
        "run": run,
        "collected": collected,
        "tests": tests,
        "clauses": rollups,
        "coverage": coverage(tests, catalogue),
        "certification": certify(
            rollups, catalogue, waivers_of(tests), run["certification_run"], run.get("profile")
        ),
    }
    validate(merged, "merged results")
    return merged


def _run(shards: Sequence[Shard]) -> dict[str, Any]:
    first_name, first = shards[0]
    for name, results in shards[1:]:
        for field in SAME:
            if results["run"].get(field) != first["run"].get(field):
                raise UsageError(
                    f"{name}: run.{field} is {results['run'].get(field)!r} but {first_name} "
                    f"has {first['run'].get(field)!r}; shards of one run must agree"
                )
        for side in ("device", "driver"):
            unnamed = any(
                t["subject"] == side and not t.get("implementation") for t in results["tests"]
            )
            if unnamed and results["run"][side] != first["run"][side]:
                raise UsageError(
                    f"{name}: tests a different {side} than {first_name} without naming the "
                    "implementation in its tests; merged results could not tell them apart"
                )
    starts = [_when(name, r["run"]["started"], "started") for name, r in shards]
    ends = [_when(name, r["run"]["finished"], "finished") for name, r in shards]
    try:
        start, end = min(starts), max(ends)
    except TypeError:
        raise UsageError("shards mix timestamps with and without a time zone") from None
    return {
        **first["run"],
        "id": "+".join(dict.fromkeys(r["run"]["id"] for _, r in shards)),
        "started": shards[starts.index(start)][1]["run"]["started"],
        "finished": shards[ends.index(end)][1]["run"]["finished"],
        "duration": round((end - start).total_seconds(), 3),
        "shard": None,
    }


def _when(name: str, value: str, field: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{name}: run.{field} '{value}' is not an ISO 8601 timestamp") from None


def _tests(shards: Sequence[Shard]) -> tuple[list[dict[str, Any]], list[str]]:
    tests: list[dict[str, Any]] = []
    collected: list[str] = []
    ran: dict[str, str] = {}
    collected_by: dict[str, str] = {}
    for name, results in shards:
        for test in results["tests"]:
            nodeid = test["nodeid"]
            if nodeid in ran:
                raise UsageError(f"duplicate test {nodeid}: results {_both(ran[nodeid], name)}")
            ran[nodeid] = name
            tests.append(test)
        for nodeid in results["collected"]:
            if nodeid in collected_by:
                raise UsageError(
                    f"duplicate test {nodeid}: collected {_both(collected_by[nodeid], name)}"
                )
            collected_by[nodeid] = name
            collected.append(nodeid)
        missing = [n for n in results["collected"] if ran.get(n) != name]
        if missing:
            raise UsageError(
                f"{name}: {len(missing)} collected test(s) have no result, the first "
                f"{missing[0]}; was the shard interrupted?"
            )
    return tests, collected


def _both(first: str, second: str) -> str:
    return f"twice in {first}" if first == second else f"in both {first} and {second}"
