"""summary.md: the run as a CI job summary (GitHub's $GITHUB_STEP_SUMMARY, say): headline
verdicts, the certification table, unexpected results, then failing clauses with a
one-line reason each, those involving unexpected results first."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ballast.report.rollup import (
    FAILING,
    MANDATORY,
    Rollup,
    describe_counts,
    verdict_counts,
    verdicts_by_clause,
)
from ballast.report.templates import environment

MAX_ITEMS = 50  # per list: a job summary is read, not searched (index.html has the rest)
BAD = (Rollup.NONCOMPLIANT, Rollup.PARTIAL)


def render_summary(results: dict[str, Any]) -> str:
    tests = results["tests"]
    by_id = {t["nodeid"]: t for t in tests}
    failing = [_failing(e, by_id) for e in results["clauses"] if e["rollup"] in BAD]
    failing.sort(key=lambda f: (not f["unexpected"], f.get("level") not in MANDATORY))
    certified = Counter(c["verdict"] for c in results["certification"])
    return (
        environment()
        .get_template("summary.md")
        .render(
            run=results["run"],
            headline=", ".join(f"{n} {v}" for v, n in sorted(certified.items())) or "no profile",
            totals=describe_counts(verdict_counts(t["verdict"] for t in tests)),
            tests=len(tests),
            certification=results["certification"],
            unexpected=[t for t in tests if t.get("unexpected")],
            failing=failing,
            limit=MAX_ITEMS,
        )
    )


def _failing(entry: dict[str, Any], tests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    covering = [tests[n] for n in entry["tests"] if n in tests]
    return {
        **entry,
        "unexpected": any(t.get("unexpected") for t in covering),
        "reason": next(filter(None, (_reason(entry["id"], t) for t in covering)), ""),
    }


def _reason(clause: str, test: dict[str, Any]) -> str | None:
    """The failure a test shows for the clause: its finding's message if there is one,
    else the test's message."""
    verdict = verdicts_by_clause(test).get(clause)
    if verdict not in FAILING:
        return None
    failed = (
        f["message"] for f in test["findings"] if f["clause"] == clause and f["verdict"] != "PASS"
    )
    message = next(failed, test["message"])
    return f"{verdict} in {test['nodeid']}: {message}"
