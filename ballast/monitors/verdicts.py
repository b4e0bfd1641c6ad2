"""The closed set of verdicts (INTERPRETING.md is the contract) and a monitor finding."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"  # a MUST / MUST NOT violated (or an intolerant peer of a MAY)
    WARN = "WARN"  # a SHOULD / SHOULD NOT violated
    NOT_SUPPORTED = "NOT_SUPPORTED"  # the implementation does not offer a needed feature
    NOT_APPLICABLE = "NOT_APPLICABLE"  # the clause's condition is false on this link
    NOT_OBSERVABLE = "NOT_OBSERVABLE"  # this target cannot show what the clause is about
    WAIVED = "WAIVED"
    TIMEOUT = "TIMEOUT"
    CRASH = "CRASH"
    ERROR = "ERROR"  # harness fault: the run is incomplete


# Worse first: when several findings concern one clause in one test, the worst wins.
SEVERITY = [
    Verdict.ERROR,
    Verdict.CRASH,
    Verdict.TIMEOUT,
    Verdict.FAIL,
    Verdict.WARN,
    Verdict.NOT_OBSERVABLE,
    Verdict.NOT_SUPPORTED,
    Verdict.NOT_APPLICABLE,
    Verdict.WAIVED,
    Verdict.PASS,
]


def worst(verdicts: list[Verdict]) -> Verdict:
    return min(verdicts, key=SEVERITY.index)


@dataclass
class Finding:
    """One clause's outcome as one monitor saw it, with the events that prove it."""

    clause: str
    verdict: Verdict
    message: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    judged: str = ""  # the side the monitor judged ("device" | "driver")
