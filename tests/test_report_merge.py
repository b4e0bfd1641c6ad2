"""`ballast report merge`: shards of one run make the run, and what would make the merged
file lie is refused with a one-line error."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ballast.errors import UsageError
from ballast.report.merge import merge
from ballast.spec.catalogue import load_catalogue

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def shards() -> list[tuple[str, dict[str, Any]]]:
    return [("shard_1.json", load("shard_1.json")), ("shard_2.json", load("shard_2.json"))]


def merged_problem(shards: list[tuple[str, dict[str, Any]]]) -> str:
    with pytest.raises(UsageError) as caught:
        merge(shards, load_catalogue())
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_the_shards_of_run_a_merge_into_run_a(shards: list[tuple[str, dict[str, Any]]]) -> None:
    whole = load("results_a.json")
    merged = merge(shards, load_catalogue())
    assert sorted(t["nodeid"] for t in merged["tests"]) == sorted(
        t["nodeid"] for t in whole["tests"]
    )
    by_key = {(e["id"], e["implementation"]): e for e in merged["clauses"]}
    assert by_key == {(e["id"], e["implementation"]): e for e in whole["clauses"]}
    assert merged["coverage"] == whole["coverage"]
    assert sorted(
        merged["certification"], key=lambda c: (c["profile"], c["implementation"])
    ) == sorted(whole["certification"], key=lambda c: (c["profile"], c["implementation"]))
    run = merged["run"]
    assert (run["id"], run["shard"]) == ("sample-a", None)
    assert (run["started"], run["finished"], run["duration"]) == (
        "2025-03-01T10:00:00+00:00",
        "2025-03-01T10:02:00+00:00",
        120.0,
    )


def test_a_test_in_two_shards_is_refused(shards: list[tuple[str, dict[str, Any]]]) -> None:
    stray = copy.deepcopy(shards[1][1]["tests"][0])
    shards[0][1]["tests"].append(stray)
    assert merged_problem(shards) == (
        f"duplicate test {stray['nodeid']}: results in both shard_1.json and shard_2.json"
    )


def test_a_test_collected_twice_is_refused(shards: list[tuple[str, dict[str, Any]]]) -> None:
    nodeid = shards[0][1]["collected"][0]
    shards[1][1]["collected"].append(nodeid)
    assert merged_problem(shards) == (
        f"duplicate test {nodeid}: collected in both shard_1.json and shard_2.json"
    )


def test_a_collected_test_without_a_result_is_refused(
    shards: list[tuple[str, dict[str, Any]]],
) -> None:
    lost = shards[1][1]["tests"].pop(2)
    assert merged_problem(shards) == (
        f"shard_2.json: 1 collected test(s) have no result, the first {lost['nodeid']}; was "
        "the shard interrupted?"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("catalogue_revision", "v1.3"),
        ("certification_run", True),
        ("profile", "p"),
        ("interpretations", {}),
        ("ballast_version", "9"),
    ],
)
def test_shards_of_different_runs_are_refused(
    shards: list[tuple[str, dict[str, Any]]], field: str, value: Any
) -> None:
    shards[1][1]["run"][field] = value
    assert merged_problem(shards).startswith(
        f"shard_2.json: run.{field} is {value!r} but shard_1.json has"
    )


def test_different_targets_need_implementation_names(
    shards: list[tuple[str, dict[str, Any]]],
) -> None:
    shards[1][1]["run"]["driver"]["target"] = "linux"
    assert merge(shards, load_catalogue())["run"]["driver"]["target"] == "reference"
    for test in shards[1][1]["tests"]:
        del test["implementation"]
    assert "tests a different driver than shard_1.json" in merged_problem(shards)


def test_bad_timestamps_and_invalid_shards_are_refused(
    shards: list[tuple[str, dict[str, Any]]],
) -> None:
    shards[1][1]["run"]["started"] = "yesterday"
    assert merged_problem(shards) == (
        "shard_2.json: run.started 'yesterday' is not an ISO 8601 timestamp"
    )
    del shards[1][1]["collected"]
    assert merged_problem(shards).startswith("shard_2.json does not match results.schema.json")
    assert merged_problem([]) == "nothing to merge: give at least one shard"


def test_recorded_waivers_survive_a_merge(shards: list[tuple[str, dict[str, Any]]]) -> None:
    for _, shard in shards:
        shard["run"]["certification_run"] = True
    failing = next(t for t in shards[1][1]["tests"] if t["verdict"] == "FAIL")
    failing.update(
        verdict="WAIVED",
        clause_verdicts={failing["primary"]: "WAIVED"},
        waiver={
            "clause": failing["primary"],
            "test": None,
            "reason": "known bug",
            "link": None,
            "expiry": "2099-01-01",
            "applied": True,
        },
    )
    merged = merge(shards, load_catalogue())
    reasons = [r for c in merged["certification"] for r in c["reasons"]]
    assert f"{failing['primary']} (MUST NOT): waived: known bug, until 2099-01-01" in reasons
