"""The synthetic run generator used for the browser performance test and the benchmark
produces valid results of the asked size."""

from __future__ import annotations

from pathlib import Path

from ballast.report.render import render
from ballast.report.schema import validate
from ballast.report.synthetic import IMPLEMENTATIONS, synthetic_catalogue, synthetic_results


def test_a_small_synthetic_run_is_valid_and_full(tmp_path: Path) -> None:
    catalogue = synthetic_catalogue(40)
    results = synthetic_results(catalogue, seed=3, tail=5)
    validate(results)
    assert len(results["tests"]) == 40 * len(IMPLEMENTATIONS)
    assert len(results["clauses"]) == 40 * len(IMPLEMENTATIONS)
    failed = [t for t in results["tests"] if t["verdict"] != "PASS"]
    assert failed and all(len(t["evidence"]) == 5 for t in failed)
    assert synthetic_results(catalogue, seed=3, tail=5) == results, "deterministic per seed"
    render(results, tmp_path, catalogue)


def test_the_catalogue_is_cycled_past_its_size() -> None:
    catalogue = synthetic_catalogue(500)
    ids = [c.id for c in catalogue]
    assert len(ids) == len(set(ids)) == 500
    assert ids[-1].endswith("-1")
