"""`ballast report diff`: per-test and per-clause transitions between two runs (samples A
and B differ by one transition of each kind; see tests/data/make_samples.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ballast.report.diff import KINDS, diff, format_text

DATA = Path(__file__).parent / "data"
OP = "suites/driver/test_operation.py::"
CORE = "suites/driver/test_core.py::"
IMPL = "reference:use_during_inflate"


@pytest.fixture(scope="module")
def changes() -> dict[str, Any]:
    before = json.loads((DATA / "results_a.json").read_text())
    after = json.loads((DATA / "results_b.json").read_text())
    return diff(before, after)


def keys(found: list[dict[str, Any]]) -> list[str]:
    return [c["key"] for c in found]


def test_test_transitions_are_classified(changes: dict[str, Any]) -> None:
    tests = changes["tests"]
    assert list(tests) == list(KINDS)
    assert keys(tests["newly_failing"]) == [CORE + "test_never_clears_status_bits[pci-modern]"]
    assert keys(tests["changed_failure"]) == [
        OP + "test_leaves_pages_alone_until_the_inflate_ack[pci-modern]",
        CORE + "test_status_sequence[pci-modern]",
    ]
    assert keys(tests["newly_passing"]) == [
        OP + "test_updates_actual_after_changing_the_balloon[pci-modern]"
    ]
    assert keys(tests["changed"]) == [
        OP + "test_keeps_the_balloon_without_deflate_on_oom[pci-modern]"
    ]
    assert keys(tests["added"]) == [OP + "test_inflates_when_num_pages_exceeds_actual[mmio-v1]"]
    assert keys(tests["removed"]) == [
        "suites/driver/test_stats.py::test_one_stats_buffer_at_a_time[pci-modern]"
    ]


def test_a_changed_failure_mode_records_what_failed_before_and_after(
    changes: dict[str, Any],
) -> None:
    timeout, moved = changes["tests"]["changed_failure"]
    assert (timeout["before"], timeout["after"]) == ("FAIL", "TIMEOUT")
    assert (moved["before"], moved["after"]) == ("FAIL", "FAIL")
    assert moved["failing_before"] == {"core.driver.init.01": "FAIL"}
    assert moved["failing_after"] == {"core.driver.status.01": "FAIL"}


def test_clause_transitions_are_classified(changes: dict[str, Any]) -> None:
    clauses = changes["clauses"]
    assert keys(clauses["newly_failing"]) == [
        "core.driver.status.01",
        "core.driver.status.02",
    ]
    assert keys(clauses["changed_failure"]) == ["balloon.driver.operation.09"]
    assert clauses["changed_failure"][0]["failing_after"] == {"TIMEOUT": 1}
    assert keys(clauses["newly_passing"]) == [
        "balloon.driver.operation.11",
        "core.driver.init.01",
    ]
    assert keys(clauses["changed"]) == [
        "balloon.driver.operation.04",
        "balloon.driver.stats.01",
    ]


def test_a_run_against_itself_has_no_changes() -> None:
    results = json.loads((DATA / "results_a.json").read_text())
    same = diff(results, results)
    assert all(not found for what in ("tests", "clauses") for found in same[what].values())


def test_the_text_form_leads_with_counts(changes: dict[str, Any]) -> None:
    text = format_text(changes)
    lines = text.splitlines()
    assert lines[0] == "ballast report diff: run sample-a -> run sample-b"
    assert lines[1] == (
        "tests: 1 newly failing, 2 changed failure, 1 newly passing, 1 changed, 1 added, 1 removed"
    )
    assert "[balloon.driver.operation.09 FAIL -> balloon.driver.operation.09 TIMEOUT]" in text
    assert "[was balloon.driver.operation.11 TIMEOUT]" in text
    assert (
        text.index("newly failing tests")
        < text.index("changed failure tests")
        < (text.index("newly passing tests"))
    )


def test_a_variant_run_compares_clause_by_clause_with_a_clean_run() -> None:
    """In a clean run the device and the driver are both "reference"; in a variant run the
    driver is "reference:V".  Clause entries are keyed by side, so the relabelling adds or
    removes nothing: only real verdict changes show."""
    from ballast.report.rollup import rollup_clauses
    from ballast.spec.catalogue import load_catalogue

    variant = json.loads((DATA / "results_a.json").read_text())
    clean = json.loads(json.dumps(variant))
    for test in clean["tests"]:
        test["implementation"] = "reference"
    clean["clauses"] = rollup_clauses(clean["tests"], load_catalogue())
    clauses = diff(clean, variant)["clauses"]
    assert (clauses["added"], clauses["removed"]) == ([], [])
    assert all(not found for found in clauses.values())
