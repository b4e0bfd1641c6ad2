"""Waivers: the file format with its one-line errors, and how a certification run applies
them (and only a certification run)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from ballast.errors import UsageError
from ballast.report.waivers import Waiver, apply_waivers, load_waivers, waivers_of

DATA = Path(__file__).parent / "data"
TODAY = dt.date(2025, 6, 1)
NODE = "suites/driver/test_core.py::test_status_sequence"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    return path


def test_the_sample_file_loads_and_marks_the_expired_waiver() -> None:
    waivers = load_waivers(DATA / "waivers.yaml", today=TODAY)
    assert [(w.clause, w.test, w.expired) for w in waivers] == [
        ("balloon.driver.operation.09", None, False),
        (None, "suites/driver/test_features.py::test_accepts_must_tell_host", False),
        ("core.driver.init.01", f"{NODE}[pci-modern]", True),
    ]
    assert waivers[0].link == "https://bugs.example.invalid/1234"
    assert waivers[0].expiry == dt.date(2099, 12, 31)


def test_an_empty_file_has_no_waivers(tmp_path: Path) -> None:
    assert load_waivers(write(tmp_path, "# nothing yet\n")) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("clause: x\n", "a waivers file is a list"),
        ("- just a string\n", "waiver 1: must be a mapping"),
        (
            "- {clause: core.driver.init.01, reason: r, expiry: 2099-01-01, owner: me}\n",
            "waiver 1: unknown field(s) owner",
        ),
        ("- {reason: r, expiry: 2099-01-01}\n", "waiver 1: names neither a clause nor a test"),
        (
            "- {clause: core.driver.nope.01, reason: r, expiry: 2099-01-01}\n",
            "waiver 1: unknown clause ID 'core.driver.nope.01'",
        ),
        (
            "- {clause: core.driver.init.01, expiry: 2099-01-01}\n",
            "waiver 1 (core.driver.init.01): missing reason",
        ),
        (
            "- {clause: core.driver.init.01, reason: '  ', expiry: 2099-01-01}\n",
            "waiver 1: 'reason' must be a non-empty string",
        ),
        (
            "- {test: t, reason: r, expiry: 31/12/2099}\n",
            "waiver 1 (t): expiry must be a date YYYY-MM-DD, got '31/12/2099'",
        ),
        ("- {test: t, reason: r}\n", "waiver 1 (t): expiry must be a date YYYY-MM-DD, got None"),
        ("- [unclosed\n", "waivers file"),
    ],
)
def test_problems_are_one_line_errors_naming_the_entry(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(problem)) as caught:
        load_waivers(write(tmp_path, text), today=TODAY)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_waivers(tmp_path / "absent.yaml")


def make_test(nodeid: str, verdicts: dict[str, str], verdict: str) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "clauses": list(verdicts),
        "primary": next(iter(verdicts)),
        "subject": "driver",
        "verdict": verdict,
        "clause_verdicts": verdicts,
        "duration": 0.1,
        "message": "m",
        "findings": [],
        "evidence": [],
        "artifacts": {},
    }


def waiver(**kw: Any) -> Waiver:
    return Waiver(kw.pop("reason", "known"), kw.pop("expiry", dt.date(2099, 1, 1)), **kw)


def test_waivers_apply_only_in_a_certification_run() -> None:
    tests = [make_test("t", {"a": "FAIL"}, "FAIL")]
    assert apply_waivers(tests, [waiver(clause="a")], certification_run=False) == tests
    (waived,) = apply_waivers(tests, [waiver(clause="a")], certification_run=True)
    assert (waived["verdict"], waived["clause_verdicts"]) == ("WAIVED", {"a": "WAIVED"})
    assert waived["waiver"] == {
        "clause": "a",
        "test": None,
        "reason": "known",
        "link": None,
        "expiry": "2099-01-01",
        "applied": True,
    }
    assert tests[0]["verdict"] == "FAIL", "the input is not modified"


def test_a_test_stays_failing_while_an_unwaived_failure_remains() -> None:
    tests = [make_test("t", {"a": "FAIL", "b": "WARN", "c": "PASS"}, "FAIL")]
    (result,) = apply_waivers(tests, [waiver(clause="a")], certification_run=True)
    assert result["verdict"] == "FAIL"
    assert result["clause_verdicts"] == {"a": "WAIVED", "b": "WARN", "c": "PASS"}


def test_only_fail_and_warn_are_waivable() -> None:
    tests = [make_test("t", {"a": "TIMEOUT"}, "TIMEOUT"), make_test("u", {"a": "PASS"}, "PASS")]
    assert apply_waivers(tests, [waiver(clause="a")], certification_run=True) == tests


def test_a_test_waiver_covers_every_parametrisation_and_may_name_a_clause() -> None:
    tests = [
        make_test(f"{NODE}[pci-modern]", {"a": "FAIL", "b": "FAIL"}, "FAIL"),
        make_test(f"{NODE}[mmio-v2]", {"a": "FAIL"}, "FAIL"),
        make_test(f"{NODE}_other[mmio-v2]", {"a": "FAIL"}, "FAIL"),
    ]
    results = apply_waivers(tests, [waiver(test=NODE, clause="a")], certification_run=True)
    assert [r["clause_verdicts"]["a"] for r in results] == ["WAIVED", "WAIVED", "FAIL"]
    assert results[0]["clause_verdicts"]["b"] == "FAIL"


def test_an_expired_waiver_is_recorded_but_not_applied() -> None:
    tests = [make_test("t", {"a": "FAIL"}, "FAIL")]
    (result,) = apply_waivers(tests, [waiver(clause="a", expired=True)], certification_run=True)
    assert result["verdict"] == "FAIL"
    assert result["waiver"]["applied"] is False


def test_waivers_of_recovers_the_waivers_a_run_recorded() -> None:
    live, old = waiver(clause="a", link="l"), waiver(clause="b", expired=True)
    tests = [
        make_test("t", {"a": "FAIL"}, "FAIL"),
        make_test("u", {"b": "FAIL"}, "FAIL"),
        make_test("v", {"a": "FAIL"}, "FAIL"),
    ]
    assert waivers_of(apply_waivers(tests, [live, old], certification_run=True)) == [live, old]
    broken = dict(tests[0], waiver={"clause": "a"})
    with pytest.raises(UsageError, match="its waiver record lacks"):
        waivers_of([broken])
