"""`ballast run`: the one-command main job — run the conformance suites against a device and
a driver, show progress on one line, and end with where the report is."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ballast.paths import REPO_ROOT

SUITES = REPO_ROOT / "suites"


class Progress:
    """A pytest plugin printing one self-updating line: tests done, verdict counts."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.counts: dict[str, int] = {}
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.total = max(self.total, len(ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and not report.passed):
            return
        self.done += 1
        for name, value in report.user_properties:
            if name == "ballast_result":
                verdict = json.loads(value)["verdict"]
                self.counts[verdict] = self.counts.get(verdict, 0) + 1
        if self.tty or self.done == self.total:
            self._print(end="\n" if self.done == self.total else "\r")

    def _print(self, end: str) -> None:
        counts = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        elapsed = time.monotonic() - self.start
        print(
            f"ballast: {self.done}/{self.total} tests  {counts}  ({elapsed:.1f} s)",
            end=end,
            file=sys.stderr,
            flush=True,
        )


def default_report_dir() -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return REPO_ROOT / "reports" / stamp


def run(
    device: str, driver: str, report_dir: Path | None, workers: str | None, extra: list[str]
) -> int:
    report_dir = (report_dir or default_report_dir()).resolve()
    args = [
        str(SUITES),
        "-qq",
        "-p",
        "no:cacheprovider",
        "--device",
        device,
        "--driver",
        driver,
        "--report-dir",
        str(report_dir),
        *extra,
    ]
    if workers and workers != "0":
        args += ["-n", workers]
    code = pytest.main(args, plugins=[Progress()])
    results = report_dir / "results.json"
    if results.exists():
        data = json.loads(results.read_text())
        for cert in data["certification"]:
            print(f"ballast: {cert['profile']:38} {cert['implementation']:28} {cert['verdict']}")
        print(f"ballast: report {report_dir / 'index.html'}")
    return int(code)
