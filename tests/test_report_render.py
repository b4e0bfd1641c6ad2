"""The four reports rendered from a results file: index.html (self-contained), summary.md,
junit.xml and traceability.csv, and the schema check in front of them."""

from __future__ import annotations

import copy
import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ballast.errors import UsageError
from ballast.report.render import render
from ballast.report.rollup import ORDER

DATA = Path(__file__).parent / "data"
FAILING_NODE = (
    "suites/driver/test_operation.py::test_leaves_pages_alone_until_the_inflate_ack[pci-modern]"
)


@pytest.fixture
def results() -> dict[str, Any]:
    return json.loads((DATA / "results_a.json").read_text())


@pytest.fixture
def rendered(results: dict[str, Any], tmp_path: Path) -> dict[str, Path]:
    return render(results, tmp_path / "out")


def test_render_writes_the_four_reports(rendered: dict[str, Path], tmp_path: Path) -> None:
    assert sorted(rendered) == ["index.html", "junit.xml", "summary.md", "traceability.csv"]
    for name, path in rendered.items():
        assert path == tmp_path / "out" / name
        assert path.stat().st_size > 0


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda r: r["tests"][3].update(verdict="MAYBE"), "at tests[3].verdict: 'MAYBE' is not"),
        (lambda r: r.pop("coverage"), "at top level: 'coverage' is a required property"),
        (lambda r: r["run"].pop("driver"), "at run: 'driver' is a required property"),
        (lambda r: r["tests"][0].update(clauses=[]), "at tests[0].clauses: [] should be non-empty"),
    ],
)
def test_invalid_results_name_the_first_problem(
    results: dict[str, Any], tmp_path: Path, damage: Any, problem: str
) -> None:
    damage(results)
    with pytest.raises(UsageError, match=re.escape(problem)) as caught:
        render(results, tmp_path)
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir()), "nothing is written from bad input"


def test_unwritable_output_is_a_usage_error(results: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot write"):
        render(results, tmp_path / "file" / "out")


def test_the_page_is_self_contained(rendered: dict[str, Path]) -> None:
    page = rendered["index.html"].read_text()
    for loads in ("<link", " src=", "@import", "url(", "@font-face"):
        assert loads not in page
    assert not re.search(
        r"""href=["']?(https?:)?//""", page.replace('href="https://bugs.example.invalid', "")
    ), "only waiver links point elsewhere"


def test_the_page_shows_clauses_tests_evidence_and_certification(
    rendered: dict[str, Path], results: dict[str, Any]
) -> None:
    page = rendered["index.html"].read_text()
    rows = re.findall(r'<div class="row" role="row" id="c-([^"]+)"', page)
    assert rows == list(dict.fromkeys(e["id"] for e in results["clauses"]))
    assert "In any case, the driver MUST NOT use pages from the balloon" in page
    failing = next(t for t in results["tests"] if t["nodeid"] == FAILING_NODE)
    assert failing["reproduce"].replace("'", "&#39;") in page
    assert "balloon_inflate" in page and "page_access" in page
    not_passed = sum(t["verdict"] != "PASS" for t in results["tests"])
    assert page.count('<details class="test"') == not_passed + 1  # + a PASS with a violation
    assert "test_deflates_only_acknowledged_pages[pci-modern]</code>" in page
    assert "NOT_CONFORMANT" in page and "balloon-driver-pci" in page
    assert 'data-v="0.WARN *.WARN 0.=NONCOMPLIANT *.=NONCOMPLIANT"' in page


def test_the_page_escapes_what_it_shows(results: dict[str, Any], tmp_path: Path) -> None:
    results["tests"][2]["message"] = "<script>alert(1)</script> & more"
    page = render(results, tmp_path)["index.html"].read_text()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page


def test_only_the_required_fields_are_enough(results: dict[str, Any], tmp_path: Path) -> None:
    minimal = copy.deepcopy(results)
    for test in minimal["tests"]:
        for key in (
            "implementation",
            "transport",
            "params",
            "clause_verdicts",
            "expected",
            "unexpected",
            "suspect",
            "waiver",
            "reproduce",
        ):
            test.pop(key, None)
    for entry in minimal["clauses"]:
        for key in ("role", "level", "area", "text", "testability", "suspect"):
            entry.pop(key)
    for key in ("duration", "command", "profile", "hypothesis", "shard"):
        minimal["run"].pop(key, None)
    minimal["coverage"].pop("by_area")
    minimal["coverage"]["by_area"] = {}
    minimal["certification"] = []
    written = render(minimal, tmp_path)
    assert "No profile applies" in written["index.html"].read_text()
    assert "No profile applies" in written["summary.md"].read_text()


def test_summary_puts_unexpected_results_first(rendered: dict[str, Path]) -> None:
    summary = rendered["summary.md"].read_text()
    assert summary.startswith("## ballast run sample-a: 4 INCOMPLETE, 4 NOT_CONFORMANT\n")
    sections = re.findall(r"^### (.*)$", summary, re.M)
    assert sections == ["Certification", "Unexpected results (1)", "Failing clauses (5)"]
    failing = summary.split("### Failing clauses")[1]
    first_row = failing.split("\n")[4]
    assert first_row.startswith("| `balloon.driver.operation.11` (unexpected) | MUST |")
    assert "TIMEOUT in suites/driver/test_operation.py::test_updates_actual" in first_row
    row = "| `balloon-driver-pci` | reference:use_during_inflate (driver) | **NOT_CONFORMANT** |"
    assert row in summary


def test_summary_cells_stay_on_one_line(results: dict[str, Any], tmp_path: Path) -> None:
    results["tests"][2]["findings"][0]["message"] = "a | b\nc <d>"
    summary = render(results, tmp_path)["summary.md"].read_text()
    assert r"a \| b c &lt;d>" in summary


def test_junit_maps_verdicts_to_failures_errors_and_skips(rendered: dict[str, Path]) -> None:
    root = ET.parse(rendered["junit.xml"]).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "14",
        "3",
        "1",
        "3",
    )
    cases = {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}
    assert len(cases) == 14
    failing = cases["suites.driver.test_operation::" + FAILING_NODE.split("::")[1]]
    props = [(p.get("name"), p.get("value")) for p in failing.iter("property")]
    assert props == [
        ("clause", "balloon.driver.operation.09"),
        ("primary", "balloon.driver.operation.09"),
        ("verdict", "FAIL"),
    ]
    failure = failing.find("failure")
    assert failure is not None and failure.get("type") == "FAIL"
    assert "reproduce: python -m pytest" in (failure.text or "")

    def outcome(name: str) -> list[str]:
        return [child.tag for child in cases[name] if child.tag != "properties"]

    assert outcome("suites.device.test_core::test_needs_reset_notification[pci-modern]") == [
        "error"
    ]
    assert outcome(
        "suites.driver.test_operation::test_updates_actual_after_changing_the_balloon[pci-modern]"
    ) == ["failure"]
    assert outcome("suites.device.test_stats::test_ignores_unknown_tags[pci-modern]") == ["skipped"]
    warned = cases["suites.driver.test_features::test_accepts_must_tell_host[pci-modern]"]
    assert outcome("suites.driver.test_features::test_accepts_must_tell_host[pci-modern]") == []
    assert ("warning", "balloon.driver.features.01: MUST_TELL_HOST offered, not accepted") in [
        (p.get("name"), p.get("value")) for p in warned.iter("property")
    ]
    suites = [s.get("name") for s in root.iter("testsuite")]
    assert suites == ["reference:use_during_inflate", "reference"]


def test_junit_survives_control_characters(results: dict[str, Any], tmp_path: Path) -> None:
    results["tests"][2]["message"] = "bad byte \x00 here"
    root = ET.parse(render(results, tmp_path)["junit.xml"]).getroot()
    assert any("bad byte \ufffd here" in (f.get("message") or "") for f in root.iter("failure"))


def test_traceability_has_a_row_per_clause_and_implementation(
    rendered: dict[str, Path], results: dict[str, Any]
) -> None:
    with rendered["traceability.csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "clause",
        "level",
        "role",
        "area",
        "testability",
        "implementation",
        "side",
        "rollup",
        "tests",
        *ORDER,
    ]
    assert len(rows) == len(results["clauses"])
    partial = next(r for r in rows if r["clause"] == "balloon.driver.operation.09")
    assert partial["rollup"] == "PARTIAL"
    assert partial["tests"].split(";") == [
        FAILING_NODE,
        FAILING_NODE.replace("pci-modern", "mmio-v2"),
    ]
    assert (partial["FAIL"], partial["PASS"], partial["ERROR"]) == ("1", "1", "0")
