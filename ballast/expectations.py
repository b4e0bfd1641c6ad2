"""Expectations files: the verdict each test is expected to give on one target.

A VMM's CI keeps one (e.g. expectations/qemu-7.2.yaml) and runs with ``--expectations``:
a verdict that differs, in either direction, fails the run.  ``ballast expectations update``
writes the file from a run's results.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from ballast.errors import UsageError
from ballast.spec.yamlio import write

HEADER = (
    "# Expected verdict per test (ballast expectations update). A run with --expectations\n"
    "# fails on any difference, including an unexpected PASS.\n"
)


def update(results_path: Path, out: Path, subject: str | None = None) -> int:
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read results file {results_path}: {exc}") from exc
    tests = {
        t["nodeid"]: t["verdict"]
        for t in results.get("tests", [])
        if subject is None or t["subject"] == subject
    }
    run = results.get("run", {})
    target = run.get(subject or "device", {}).get("target", "?")
    write(out, {"target": target, "tests": dict(sorted(tests.items()))}, HEADER)
    return len(tests)
