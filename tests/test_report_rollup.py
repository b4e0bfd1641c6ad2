"""The roll-up rules (docs/reports.md): per clause and implementation, coverage, and the
certification verdict per profile, on a small hand-made catalogue so each rule shows."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ballast.errors import UsageError
from ballast.report.rollup import (
    Rollup,
    certify,
    coverage,
    rollup,
    rollup_clauses,
    verdicts_by_clause,
)
from ballast.report.waivers import Waiver, apply_waivers
from ballast.spec.catalogue import Catalogue, Clause, load_catalogue

DATA = Path(__file__).parent / "data"


def clause(
    cid: str,
    level: str = "MUST",
    testability: str = "automatic",
    conditions: dict[str, Any] | None = None,
    status: str = "active",
) -> Clause:
    role = cid.split(".")[1]
    return Clause(
        id=cid,
        anchor="a",
        role=role,
        level=level,
        text=f"text of {cid}",
        context="",
        keyword=0,
        conditions=conditions or {},
        legacy=False,
        scope="in",
        source="s",
        fingerprint="f",
        status=status,
        testability=testability,
        rationale="",
        interpretation=None,
        changed_from=None,
        reviewed=None,
        profiles=(f"p-{role}",),
    )


def catalogue(*clauses: Clause) -> Catalogue:
    profiles = {"p-device": {"role": "device"}, "p-driver": {"role": "driver"}}
    return Catalogue(clauses, profiles, [], Path("."))


def make_test(
    nodeid: str, clauses: list[str], verdict: str, subject: str = "device", **extra: Any
) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "clauses": clauses,
        "primary": clauses[0],
        "subject": subject,
        "implementation": "impl",
        "verdict": verdict,
        "duration": 0.1,
        "message": "",
        "findings": [],
        "evidence": [],
        "artifacts": {},
        **extra,
    }


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([], Rollup.UNTESTED),
        (["PASS", "PASS"], Rollup.COMPLIANT),
        (["PASS", "NOT_APPLICABLE"], Rollup.COMPLIANT),
        (["PASS", "NOT_SUPPORTED", "NOT_OBSERVABLE"], Rollup.COMPLIANT),
        (["FAIL"], Rollup.NONCOMPLIANT),
        (["WARN", "NOT_APPLICABLE"], Rollup.NONCOMPLIANT),
        (["CRASH"], Rollup.NONCOMPLIANT),
        (["TIMEOUT"], Rollup.NONCOMPLIANT),
        (["WAIVED"], Rollup.NONCOMPLIANT),
        (["PASS", "FAIL"], Rollup.PARTIAL),
        (["PASS", "WARN"], Rollup.PARTIAL),
        (["PASS", "TIMEOUT"], Rollup.PARTIAL),
        (["NOT_SUPPORTED"], Rollup.NOT_SUPPORTED),
        (["NOT_OBSERVABLE"], Rollup.NOT_OBSERVABLE),
        (["NOT_OBSERVABLE", "NOT_SUPPORTED"], Rollup.NOT_OBSERVABLE),
        (["NOT_APPLICABLE"], Rollup.UNTESTED),
        (["ERROR"], Rollup.UNTESTED),
        (["ERROR", "PASS"], Rollup.COMPLIANT),
    ],
)
def test_rollup_of_one_clause(verdicts: list[str], expected: Rollup) -> None:
    assert rollup(verdicts) == expected


def test_clause_verdicts_default_to_the_test_verdict_and_keep_also_seen_violations() -> None:
    t = make_test("t", ["a", "b"], "FAIL", clause_verdicts={"a": "PASS", "x": "FAIL"})
    assert verdicts_by_clause(t) == {"a": "PASS", "b": "FAIL", "x": "FAIL"}


def test_rollup_clauses_pads_the_sides_tested_and_keeps_catalogue_order() -> None:
    cat = catalogue(
        clause("p.device.a.01"),
        clause("p.device.a.02"),
        clause("p.driver.a.01"),
        clause("p.device.a.03", status="retired"),
    )
    tests = [
        make_test("t1", ["p.device.a.02"], "PASS"),
        make_test("t2", ["p.device.a.02"], "FAIL", suspect=True),
    ]
    entries = rollup_clauses(tests, cat)
    assert [(e["id"], e["rollup"]) for e in entries] == [
        ("p.device.a.01", "UNTESTED"),
        ("p.device.a.02", "PARTIAL"),
    ]
    second = entries[1]
    assert second["tests"] == ["t1", "t2"]
    assert second["verdicts"] == {"FAIL": 1, "PASS": 1}  # worst first
    assert second["suspect"] is True
    assert (second["role"], second["level"], second["area"]) == ("device", "MUST", "p.a")


def test_rollup_clauses_counts_in_the_column_of_each_implementation() -> None:
    cat = catalogue(clause("p.device.a.01"))
    tests = [
        make_test("t1", ["p.device.a.01"], "PASS"),
        make_test("t2", ["p.device.a.01"], "FAIL", implementation="other"),
    ]
    assert [(e["implementation"], e["rollup"]) for e in rollup_clauses(tests, cat)] == [
        ("impl", "COMPLIANT"),
        ("other", "NONCOMPLIANT"),
    ]
    unnamed = dict(tests[0])
    del unnamed["implementation"]
    assert rollup_clauses([unnamed], cat)[0]["implementation"] == "device"


def test_one_label_on_both_sides_is_two_implementations() -> None:
    """A clean run names the reference device and the reference driver alike; a driver MAY
    clause a device test judges (tolerance) must not merge with the driver's own entry."""
    cat = catalogue(clause("p.driver.a.01", level="MAY"), clause("p.device.a.01"))
    tests = [
        make_test("t1", ["p.driver.a.01"], "FAIL"),
        make_test("t2", ["p.driver.a.01"], "PASS", subject="driver"),
    ]
    entries = rollup_clauses(tests, cat)
    assert [(e["id"], e["implementation"], e["side"], e["rollup"]) for e in entries] == [
        ("p.driver.a.01", "impl", "device", "NONCOMPLIANT"),
        ("p.driver.a.01", "impl", "driver", "COMPLIANT"),
        ("p.device.a.01", "impl", "device", "UNTESTED"),
    ]


def test_rollup_clauses_rejects_a_clause_the_catalogue_does_not_know() -> None:
    with pytest.raises(UsageError, match=re.escape("t1 names clause 'p.device.zz.01'")):
        rollup_clauses([make_test("t1", ["p.device.zz.01"], "PASS")], catalogue())


def test_coverage_counts_assessed_active_clauses_per_area() -> None:
    cat = catalogue(
        clause("p.device.a.01"),
        clause("p.device.a.02", testability="untestable"),
        clause("p.device.b.01"),
        clause("p.device.b.02", status="retired"),
    )
    tests = [
        make_test("t1", ["p.device.a.02"], "FAIL"),
        make_test("t2", ["p.device.b.01"], "NOT_SUPPORTED"),
    ]
    assert coverage(tests, cat) == {
        "clauses": 4,
        "active": 3,
        "automatic": 2,
        "tested": 1,
        "automatic_tested": 0,
        "by_area": {
            "p.a": {"active": 2, "automatic": 1, "tested": 1, "automatic_tested": 0},
            "p.b": {"active": 1, "automatic": 1, "tested": 0, "automatic_tested": 0},
        },
    }


# --- certification ----------------------------------------------------------------------

CAT = catalogue(
    clause("p.device.a.01"),
    clause("p.device.a.02", "MUST NOT"),
    clause("p.device.a.03", "SHOULD"),
    clause("p.device.a.04", testability="untestable"),
    clause("p.device.a.05", conditions={"negotiated": ["F"]}),
    clause("p.device.a.06", "MAY"),
)
PASSING = dict.fromkeys(
    ["p.device.a.01", "p.device.a.02", "p.device.a.03", "p.device.a.05"], "PASS"
)


def certify_with(
    verdicts: dict[str, str],
    waivers: list[Waiver] | None = None,
    cert: bool = False,
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    tests = [make_test(f"t-{c}", [c], v) for c, v in verdicts.items()] + (extra or [])
    tests = apply_waivers(tests, waivers or [], cert)
    (result,) = certify(rollup_clauses(tests, CAT), CAT, waivers or [], cert)
    return result


def test_conformant_when_every_mandatory_clause_is_compliant() -> None:
    result = certify_with(PASSING)
    assert (result["profile"], result["implementation"]) == ("p-device", "impl")
    assert result["verdict"] == "CONFORMANT"
    assert result["reasons"] == [
        "p.device.a.04 (MUST): not assessed (untestable), UNTESTED (no tests)"
    ]
    assert result["counts"]["mandatory"] == 4
    assert result["counts"]["compliant"] == 3


def test_a_failing_or_partial_must_is_not_conformant() -> None:
    result = certify_with(
        {**PASSING, "p.device.a.02": "FAIL"}, extra=[make_test("t9", ["p.device.a.01"], "CRASH")]
    )
    assert result["verdict"] == "NOT_CONFORMANT"
    assert result["reasons"][:2] == [
        "p.device.a.01 (MUST): PARTIAL (1 CRASH, 1 PASS)",
        "p.device.a.02 (MUST NOT): NONCOMPLIANT (1 FAIL)",
    ]
    assert (result["counts"]["partial"], result["counts"]["noncompliant"]) == (1, 1)


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [
        (
            "TIMEOUT",
            "p.device.a.02 (MUST NOT): NONCOMPLIANT (1 TIMEOUT): TIMEOUT without a "
            "definite failure",
        ),
        ("NOT_OBSERVABLE", "p.device.a.02 (MUST NOT): NOT_OBSERVABLE (1 NOT_OBSERVABLE)"),
        ("NOT_APPLICABLE", "p.device.a.02 (MUST NOT): UNTESTED (1 NOT_APPLICABLE)"),
    ],
)
def test_a_must_not_shown_either_way_is_incomplete(verdict: str, reason: str) -> None:
    result = certify_with({**PASSING, "p.device.a.02": verdict})
    assert result["verdict"] == "INCOMPLETE"
    assert result["reasons"][0] == reason


def test_an_error_anywhere_makes_the_run_incomplete() -> None:
    result = certify_with(PASSING, extra=[make_test("t9", ["p.device.a.06"], "ERROR")])
    assert result["verdict"] == "INCOMPLETE"
    assert result["reasons"][0].startswith("run: 1 clause verdict(s) are ERROR")
    assert result["counts"]["errors"] == 1


def test_should_violations_and_unsupported_optional_features_are_listed_not_blocking() -> None:
    result = certify_with({**PASSING, "p.device.a.03": "WARN", "p.device.a.05": "NOT_SUPPORTED"})
    assert result["verdict"] == "CONFORMANT"
    assert (
        "p.device.a.03 (SHOULD): NONCOMPLIANT (1 WARN): a SHOULD-level violation, not "
        "blocking" in result["reasons"]
    )
    assert any(r.startswith("p.device.a.05 (MUST): NOT_SUPPORTED") for r in result["reasons"])


def test_waivers_count_only_in_a_certification_run() -> None:
    waiver = Waiver(
        "known bug", dt.date(2099, 12, 31), clause="p.device.a.02", link="https://bugs.invalid/1"
    )
    failing = {**PASSING, "p.device.a.02": "FAIL"}
    assert certify_with(failing, [waiver], cert=False)["verdict"] == "NOT_CONFORMANT"
    result = certify_with(failing, [waiver], cert=True)
    assert result["verdict"] == "CONFORMANT"
    assert (
        "p.device.a.02 (MUST NOT): waived: known bug (https://bugs.invalid/1), until "
        "2099-12-31" in result["reasons"]
    )
    assert result["counts"]["waived"] == 1


def test_an_expired_waiver_is_reported_not_applied() -> None:
    waiver = Waiver("old bug", dt.date(2020, 1, 1), clause="p.device.a.02", expired=True)
    result = certify_with({**PASSING, "p.device.a.02": "FAIL"}, [waiver], cert=True)
    assert result["verdict"] == "NOT_CONFORMANT"
    assert (
        "p.device.a.02 (MUST NOT): waiver expired on 2020-01-01, not applied" in (result["reasons"])
    )


def test_a_timeout_is_not_waived() -> None:
    waiver = Waiver("slow", dt.date(2099, 1, 1), clause="p.device.a.02")
    result = certify_with({**PASSING, "p.device.a.02": "TIMEOUT"}, [waiver], cert=True)
    assert result["verdict"] == "INCOMPLETE"


def test_profiles_go_to_implementations_of_their_role_and_can_be_chosen() -> None:
    cat = catalogue(clause("p.device.a.01"), clause("p.driver.a.01"))
    tests = [
        make_test("t1", ["p.device.a.01"], "PASS"),
        make_test("t2", ["p.driver.a.01"], "FAIL", subject="driver", implementation="drv"),
    ]
    rollups = rollup_clauses(tests, cat)
    assert [
        (c["profile"], c["implementation"], c["side"], c["verdict"])
        for c in certify(rollups, cat, [], False)
    ] == [
        ("p-device", "impl", "device", "CONFORMANT"),
        ("p-driver", "drv", "driver", "NOT_CONFORMANT"),
    ]
    assert [c["profile"] for c in certify(rollups, cat, [], False, "p-driver")] == ["p-driver"]
    with pytest.raises(UsageError, match="unknown profile 'nope'"):
        certify(rollups, cat, [], False, "nope")


@pytest.mark.parametrize(
    "name", ["results_a.json", "results_b.json", "shard_1.json", "shard_2.json"]
)
def test_samples_agree_with_the_rules(name: str) -> None:
    """If this fails after a rule change: `.venv/bin/python tests/data/make_samples.py`."""
    results = json.loads((DATA / name).read_text())
    catalogue_ = load_catalogue()
    rollups = rollup_clauses(results["tests"], catalogue_)
    assert results["clauses"] == rollups
    assert results["coverage"] == coverage(results["tests"], catalogue_)
    assert results["certification"] == certify(rollups, catalogue_, [], False)
