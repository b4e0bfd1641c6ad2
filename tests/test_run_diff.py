"""The main job end to end: `ballast run` writes the report, and `ballast report diff`
between a seeded-bug run and a clean run names exactly the clauses the bug breaks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AREA = ["--", "--area", "balloon.stats", "--transport", "pci-modern"]


def ballast(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ballast.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_run_then_diff_names_the_broken_clause(tmp_path: Path) -> None:
    clean = ballast("run", "-n", "0", "--report-dir", str(tmp_path / "clean"), *AREA)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"report {tmp_path / 'clean' / 'index.html'}" in clean.stdout
    for name in ("results.json", "index.html", "summary.md", "junit.xml", "traceability.csv"):
        assert (tmp_path / "clean" / name).is_file()

    buggy = ballast(
        "run",
        "-n",
        "0",
        "--device",
        "reference:stats_stop_at_unknown_tag",
        "--report-dir",
        str(tmp_path / "buggy"),
        *AREA,
    )
    assert buggy.returncode == 1

    diff = ballast(
        "report",
        "diff",
        str(tmp_path / "clean" / "results.json"),
        str(tmp_path / "buggy" / "results.json"),
        "--json",
    )
    assert diff.returncode == 0, diff.stderr
    changes = json.loads(diff.stdout)
    newly_failing = {c["clause"] for c in changes["clauses"]["newly_failing"]}
    assert newly_failing == {"balloon.device.stats.01"}
