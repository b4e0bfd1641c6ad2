"""`ballast selftest`: proof that the suite's checks can fail.

Runs every conformance test against the clean reference pair and against each seeded-bug
variant of its clauses, then checks three things: the reference pair passes everything;
every test gives its primary clause's violation verdict against at least one variant; every
variant is caught — its clause gets the violation verdict — and breaks no other clause than
those its definition declares (``Fault.also``) or the test provokes on purpose.  Anything
else is a defect and the command exits non-zero.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballast.paths import REPO_ROOT
from ballast.reference.faults import FAULTS, Fault
from ballast.spec.catalogue import Catalogue, load_catalogue

VIOLATIONS = ("FAIL", "WARN")


@dataclass
class Report:
    tests: int = 0
    runs: int = 0
    defects: list[str] = field(default_factory=list)
    # "side:variant" -> the runs that caught it (a name can exist on both sides)
    caught: dict[str, list[str]] = field(default_factory=dict)


def function_of(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def analyse(results: dict[str, Any], catalogue: Catalogue, complete: bool = True) -> Report:
    """``complete``: the whole suite ran, so every variant must have been run; otherwise
    only the variants of the clauses that were run are accounted for."""
    report = Report()
    by_function: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for test in results["tests"]:
        by_function[function_of(test["nodeid"])].append(test)
    report.tests = len(by_function)
    report.runs = len(results["tests"])
    faults = {(f.side, f.name): f for f in FAULTS.values()}
    for function, runs in sorted(by_function.items()):
        primary = runs[0]["primary"]
        level = catalogue.get(primary).violation
        for run in runs:
            if run["params"].get("variant") is None and run["verdict"] not in (
                "PASS",
                "NOT_APPLICABLE",
                "NOT_SUPPORTED",
            ):
                report.defects.append(
                    f"{run['nodeid']}: the reference pair gives {run['verdict']}: "
                    f"{run['message'][:160]}"
                )
        failing = [
            r
            for r in runs
            if r["params"].get("variant") and r["clause_verdicts"].get(primary) == level
        ]
        if not failing:
            report.defects.append(
                f"{function}: no variant makes it give {level} for {primary} "
                "(a test that cannot fail)"
            )
        for run in runs:
            variant = run["params"].get("variant")
            if not variant:
                continue
            fault: Fault = faults[(run["subject"], variant)]
            verdict = run["clause_verdicts"].get(fault.clause)
            if verdict == catalogue.get(fault.clause).violation:
                report.caught.setdefault(f"{fault.side}:{variant}", []).append(run["nodeid"])
            related = {fault.clause, *fault.also, *run.get("provoked", [])}
            stray = sorted(
                c for c, v in run["clause_verdicts"].items() if v in VIOLATIONS and c not in related
            )
            if stray:
                report.defects.append(
                    f"{run['nodeid']}: {variant} also breaks {', '.join(stray)} "
                    "(undeclared: fix the variant or declare it in Fault.also)"
                )
    tested = {(r["subject"], r["params"].get("variant")) for r in results["tests"]}
    ran = {c for r in results["tests"] for c in r["clauses"]}
    for (side, name), fault in sorted(faults.items()):
        if not complete and fault.clause not in ran:
            continue
        if (side, name) not in tested:
            report.defects.append(f"variant {side}:{name} ({fault.clause}) is run by no test")
        elif f"{side}:{name}" not in report.caught:
            report.defects.append(
                f"variant {side}:{name} is not caught: no run gave "
                f"{catalogue.get(fault.clause).violation} for {fault.clause}"
            )
    return report


def run(extra: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="ballast-selftest-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--selftest",
            "--report-dir",
            tmp,
            str(REPO_ROOT / "suites"),
            *extra,
        ]
        print("+ " + " ".join(cmd), flush=True)
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        path = Path(tmp) / "results.json"
        if not path.exists():
            print(proc.stdout[-4000:])
            print("ballast selftest: the suite run produced no results.json", file=sys.stderr)
            return 1
        results = json.loads(path.read_text())
    partial = any(a.startswith(("--clause", "--area", "--transport", "-k")) for a in extra)
    report = analyse(results, load_catalogue(), complete=not partial)
    print(f"{report.tests} tests, {report.runs} runs, {len(report.caught)} variants caught")
    for defect in report.defects:
        print(f"DEFECT: {defect}")
    if report.defects:
        print(f"ballast selftest: {len(report.defects)} defect(s)", file=sys.stderr)
        return 1
    print(
        "ballast selftest: every test can fail, every variant is caught, the reference pair passes"
    )
    return 0
