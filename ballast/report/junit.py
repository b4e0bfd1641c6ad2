"""junit.xml: one testcase per test, for CI systems that chart JUnit results.

Mapping: FAIL, TIMEOUT and CRASH are failures, ERROR an error, NOT_* skipped; PASS, WARN
and WAIVED pass (WARN and WAIVED say so in a property).  Every testcase carries its
clauses, primary clause and verdict as properties so a CI view can be grouped by clause.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from ballast.report.rollup import implementation_of

FAILURE = ("FAIL", "TIMEOUT", "CRASH")
ERROR = ("ERROR",)
SKIPPED = ("NOT_SUPPORTED", "NOT_APPLICABLE", "NOT_OBSERVABLE")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_junit(results: dict[str, Any]) -> bytes:
    suites: dict[str, list[dict[str, Any]]] = {}
    for test in results["tests"]:
        suites.setdefault(implementation_of(test), []).append(test)
    root = ET.Element("testsuites", name=f"ballast {results['run']['id']}")
    _totals(root, results["tests"])
    for name, tests in suites.items():
        suite = ET.SubElement(root, "testsuite", name=name)
        _totals(suite, tests)
        for test in tests:
            _testcase(suite, test)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _totals(element: ET.Element, tests: Sequence[dict[str, Any]]) -> None:
    element.set("tests", str(len(tests)))
    for key, verdicts in (("failures", FAILURE), ("errors", ERROR), ("skipped", SKIPPED)):
        element.set(key, str(sum(t["verdict"] in verdicts for t in tests)))
    element.set("time", f"{sum(t['duration'] for t in tests):.3f}")


def _testcase(suite: ET.Element, test: dict[str, Any]) -> None:
    path, *rest = test["nodeid"].split("::")
    module = path.removesuffix(".py").replace("/", ".")
    case = ET.SubElement(
        suite,
        "testcase",
        classname=".".join([module, *rest[:-1]]),
        name=rest[-1] if rest else path,
        time=f"{test['duration']:.3f}",
    )
    verdict = test["verdict"]
    properties = ET.SubElement(case, "properties")
    pairs = [("clause", c) for c in test["clauses"]]
    pairs += [("primary", test["primary"]), ("verdict", verdict)]
    if test.get("expected"):
        pairs.append(("expected", test["expected"]))
    if verdict == "WARN":
        pairs.append(("warning", test["message"]))
    if test.get("waiver"):
        pairs.append(("waiver", test["waiver"].get("reason", "")))
    for name, value in pairs:
        ET.SubElement(properties, "property", name=name, value=_text(value))
    message = _text(f"{verdict}: {test['message']}")
    if verdict in FAILURE:
        ET.SubElement(case, "failure", message=message, type=verdict).text = _details(test)
    elif verdict in ERROR:
        ET.SubElement(case, "error", message=message, type=verdict).text = _details(test)
    elif verdict in SKIPPED:
        ET.SubElement(case, "skipped", message=message)


def _details(test: dict[str, Any]) -> str:
    lines = []
    for finding in test["findings"]:
        lines.append(f"{finding['clause']} {finding['verdict']}: {finding['message']}")
        lines += [f"    {json.dumps(e, default=str)}" for e in finding.get("evidence", [])]
    if test.get("reproduce"):
        lines.append(f"reproduce: {test['reproduce']}")
    return _text("\n".join(lines) or test["message"])


def _text(value: str) -> str:
    """XML 1.0 cannot carry control characters; a message may hold any."""
    return _NOT_XML.sub("\ufffd", value)
