"""expectations/qemu-7.2.yaml and docs/findings-qemu-7.2.md tell the same story: every
verdict other than PASS is explained, and no expectation pins a harness fault or a hang."""

from __future__ import annotations

import fnmatch
import re

import pytest

from ballast.paths import REPO_ROOT
from ballast.spec.coverage import marked_tests
from ballast.spec.yamlio import load

EXPECTATIONS = load(REPO_ROOT / "expectations" / "qemu-7.2.yaml", "expectations file")["tests"]
FINDINGS = (REPO_ROOT / "docs" / "findings-qemu-7.2.md").read_text(encoding="utf-8")
CANNOT_SHOW = FINDINGS.split("## What QEMU 7.2 cannot show", 1)[1].split("\n## ", 1)[0]
NOT_PASS = sorted((node, verdict) for node, verdict in EXPECTATIONS.items() if verdict != "PASS")


def _clauses(node: str) -> list[str]:
    path, name = node.split("[", 1)[0].split("::")
    return dict(marked_tests(REPO_ROOT / path))[name]


def test_no_expectation_is_a_harness_fault_or_a_hang() -> None:
    assert {v for _, v in NOT_PASS} <= {"FAIL", "WARN", "NOT_OBSERVABLE", "NOT_SUPPORTED"}


@pytest.mark.parametrize(("node", "verdict"), NOT_PASS, ids=[n for n, _ in NOT_PASS])
def test_every_verdict_other_than_pass_is_explained(node: str, verdict: str) -> None:
    clause = _clauses(node)[0]
    if verdict in ("FAIL", "WARN"):
        assert re.search(rf"^## {re.escape(clause)} ", FINDINGS, re.M), (
            f"{node} is expected {verdict}: docs/findings-qemu-7.2.md needs a '## {clause}' entry"
        )
        return
    param = node.rsplit("[", 1)[1].rstrip("]")
    patterns = re.findall(r"`(\*[^`]+)`", CANNOT_SHOW)
    named = clause in CANNOT_SHOW or node.split("[")[0].split("::")[0] in CANNOT_SHOW
    assert named or any(fnmatch.fnmatch(param, p) for p in patterns), (
        f"{node} is expected {verdict}: say why under 'What QEMU 7.2 cannot show'"
    )
