"""Writes the sample results files of tests/data from the hand-written tests below: run A,
run B (A with the changes tests/test_report_diff.py expects) and run A split into two
shards.  Roll-ups, coverage and certification come from ballast.report.rollup, so after a
rule change re-run ``.venv/bin/python tests/data/make_samples.py`` and review the diff."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ballast.report.rollup import certify, coverage, rollup_clauses
from ballast.spec.catalogue import load_catalogue

HERE = Path(__file__).resolve().parent
DEVICE = "reference"
DRIVER = "reference:use_during_inflate"
OP = "suites/driver/test_operation.py::"


def event(seq: int, observer: str, kind: str, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "observer": observer, "kind": kind, **data}


INFLATE = [
    event(
        40, "device", "avail_buffer", queue=0, role="inflateq", head=0, out=[[1052672, 8]], in_=[]
    ),
    event(41, "device", "balloon_inflate", head=0, pfns=[4096, 4097], length=8),
    event(42, "backdoor", "page_access", pfn=4096, access="write", actor="guest"),
]


def test(nodeid: str, clauses: list[str], verdict: str, **extra: Any) -> dict[str, Any]:
    subject = "device" if "/device/" in nodeid else "driver"
    transport = nodeid.rsplit("[", 1)[1].rstrip("]") if "[" in nodeid else None
    failed = verdict != "PASS"
    record = {
        "nodeid": nodeid,
        "clauses": clauses,
        "primary": clauses[0],
        "subject": subject,
        "implementation": DEVICE if subject == "device" else DRIVER,
        "transport": transport,
        "params": {"transport": transport} if transport else {},
        "verdict": verdict,
        "clause_verdicts": {c: verdict for c in clauses},
        "expected": None,
        "unexpected": False,
        "suspect": False,
        "waiver": None,
        "duration": 0.25,
        "message": "exercised without violation" if not failed else f"{clauses[0]}: {verdict}",
        "findings": [],
        "evidence": INFLATE if failed else [],
        "artifacts": {},
        "reproduce": f"python -m pytest '{nodeid}' --device {DEVICE} --driver {DRIVER}",
    }
    record.update(extra)
    return record


def run_a_tests() -> list[dict[str, Any]]:
    use = "balloon.driver.operation.09"
    return [
        test(
            OP + "test_inflates_when_num_pages_exceeds_actual[pci-modern]",
            ["balloon.driver.operation.01"],
            "PASS",
        ),
        test(
            OP + "test_inflates_when_num_pages_exceeds_actual[mmio-v2]",
            ["balloon.driver.operation.01"],
            "PASS",
        ),
        test(
            OP + "test_leaves_pages_alone_until_the_inflate_ack[pci-modern]",
            [use],
            "FAIL",
            message=f"{use}: guest wrote pfn 0x1000 after queueing it for inflation",
            findings=[
                {
                    "clause": use,
                    "verdict": "FAIL",
                    "message": "guest wrote pfn 0x1000 after queueing it for inflation",
                    "evidence": INFLATE,
                }
            ],
            artifacts={"events": "events/test_leaves_pages_alone.jsonl"},
        ),
        test(OP + "test_leaves_pages_alone_until_the_inflate_ack[mmio-v2]", [use], "PASS"),
        test(
            OP + "test_updates_actual_after_changing_the_balloon[pci-modern]",
            ["balloon.driver.operation.11"],
            "TIMEOUT",
            expected="PASS",
            unexpected=True,
            message="balloon.driver.operation.11: no write to actual within 5.0 s",
        ),
        test(
            OP + "test_deflates_only_acknowledged_pages[pci-modern]",
            ["balloon.driver.operation.10"],
            "PASS",
            clause_verdicts={
                "balloon.driver.operation.10": "PASS",
                "balloon.driver.operation.06": "FAIL",
            },
            findings=[
                {
                    "clause": "balloon.driver.operation.06",
                    "verdict": "FAIL",
                    "message": "reused pfn 0x1001 without a deflate request",
                    "evidence": INFLATE[1:],
                }
            ],
        ),
        test(
            OP + "test_keeps_the_balloon_without_deflate_on_oom[pci-modern]",
            ["balloon.driver.operation.04"],
            "NOT_APPLICABLE",
            message="balloon.driver.operation.04: DEFLATE_ON_OOM was negotiated",
        ),
        test(
            "suites/driver/test_features.py::test_accepts_must_tell_host[pci-modern]",
            ["balloon.driver.features.01"],
            "WARN",
            message="balloon.driver.features.01: MUST_TELL_HOST offered, not accepted",
            findings=[
                {
                    "clause": "balloon.driver.features.01",
                    "verdict": "WARN",
                    "message": "MUST_TELL_HOST offered, not accepted",
                    "evidence": [event(7, "device", "driver_features_written", select=0, value=6)],
                }
            ],
        ),
        test(
            "suites/driver/test_stats.py::test_one_stats_buffer_at_a_time[pci-modern]",
            ["balloon.driver.stats.01"],
            "NOT_SUPPORTED",
            message="the driver does not accept VIRTIO_BALLOON_F_STATS_VQ",
        ),
        test(
            "suites/driver/test_core.py::test_status_sequence[pci-modern]",
            ["core.driver.status.01", "core.driver.init.01"],
            "FAIL",
            expected="FAIL",
            clause_verdicts={"core.driver.status.01": "PASS", "core.driver.init.01": "FAIL"},
            message="core.driver.init.01: status 0x7: DRIVER_OK before FEATURES_OK",
            findings=[
                {
                    "clause": "core.driver.init.01",
                    "verdict": "FAIL",
                    "message": "status 0x7: DRIVER_OK before FEATURES_OK",
                    "evidence": [event(3, "device", "status_written", value=7, previous=3)],
                }
            ],
        ),
        test(
            "suites/driver/test_core.py::test_never_clears_status_bits[pci-modern]",
            ["core.driver.status.02"],
            "PASS",
        ),
        test(
            "suites/device/test_core.py::test_no_used_buffers_before_driver_ok[pci-modern]",
            ["core.device.status.01"],
            "PASS",
        ),
        test(
            "suites/device/test_stats.py::test_ignores_unknown_tags[pci-modern]",
            ["balloon.device.stats.01"],
            "NOT_OBSERVABLE",
            message="the target does not expose what the device did with the entries",
        ),
        test(
            "suites/device/test_core.py::test_needs_reset_notification[pci-modern]",
            ["core.device.status.03"],
            "ERROR",
            message="core.device.status.03: RuntimeError: harness lost the QMP socket",
        ),
    ]


def run_b_tests() -> list[dict[str, Any]]:
    """A's tests with one transition of each kind (see tests/test_report_diff.py)."""
    tests = {t["nodeid"]: copy.deepcopy(t) for t in run_a_tests()}
    fail = tests[OP + "test_leaves_pages_alone_until_the_inflate_ack[pci-modern]"]
    fail.update(
        verdict="TIMEOUT",
        message="no inflate ack within 5.0 s",
        findings=[],
        clause_verdicts={"balloon.driver.operation.09": "TIMEOUT"},
    )
    fixed = tests[OP + "test_updates_actual_after_changing_the_balloon[pci-modern]"]
    fixed.update(
        verdict="PASS",
        unexpected=False,
        message="exercised without violation",
        clause_verdicts={"balloon.driver.operation.11": "PASS"},
        evidence=[],
    )
    broke = tests["suites/driver/test_core.py::test_never_clears_status_bits[pci-modern]"]
    broke.update(
        verdict="FAIL",
        message="core.driver.status.02: status write 0x3 clears 0x4",
        clause_verdicts={"core.driver.status.02": "FAIL"},
        evidence=INFLATE,
    )
    moved = tests["suites/driver/test_core.py::test_status_sequence[pci-modern]"]
    moved.update(
        clause_verdicts={"core.driver.status.01": "FAIL", "core.driver.init.01": "PASS"},
        message="core.driver.status.01: FEATURES_OK never set",
    )
    na = tests[OP + "test_keeps_the_balloon_without_deflate_on_oom[pci-modern]"]
    na.update(
        verdict="NOT_SUPPORTED", clause_verdicts={"balloon.driver.operation.04": "NOT_SUPPORTED"}
    )
    del tests["suites/driver/test_stats.py::test_one_stats_buffer_at_a_time[pci-modern]"]
    added = test(
        OP + "test_inflates_when_num_pages_exceeds_actual[mmio-v1]",
        ["balloon.driver.operation.01"],
        "PASS",
    )
    return [*tests.values(), added]


def results(
    run_id: str,
    tests: list[dict[str, Any]],
    shard: str | None = None,
    started: str = "2025-03-01T10:00:00+00:00",
    finished: str = "2025-03-01T10:02:00+00:00",
) -> dict[str, Any]:
    catalogue = load_catalogue()
    rollups = rollup_clauses(tests, catalogue)
    return {
        "schema_version": "1.0",
        "run": {
            "id": run_id,
            "started": started,
            "finished": finished,
            "duration": 120.0,
            "ballast_version": "0.1.0",
            "catalogue_revision": "v1.4-cs01",
            "command": f"pytest suites --device {DEVICE} --driver {DRIVER}",
            "device": {
                "side": "device",
                "target": "reference",
                "variant": None,
                "version": "0.1.0",
                "details": {"machine": "in-process"},
            },
            "driver": {
                "side": "driver",
                "target": "reference",
                "variant": "use_during_inflate",
                "version": "0.1.0",
                "details": {},
            },
            "interpretations": {"stats-buffer-multiple": "10"},
            "profile": None,
            "certification_run": False,
            "shard": shard,
        },
        "collected": [t["nodeid"] for t in tests],
        "tests": tests,
        "clauses": rollups,
        "coverage": coverage(tests, catalogue),
        "certification": certify(rollups, catalogue, [], False),
    }


def samples() -> dict[str, dict[str, Any]]:
    a = run_a_tests()
    device = [t for t in a if t["subject"] == "device"]
    driver = [t for t in a if t["subject"] == "driver"]
    return {
        "results_a.json": results("sample-a", a),
        "results_b.json": results("sample-b", run_b_tests()),
        "shard_1.json": results("sample-a", device, "1/2", finished="2025-03-01T10:01:00+00:00"),
        "shard_2.json": results("sample-a", driver, "2/2", started="2025-03-01T10:00:30+00:00"),
    }


def main() -> None:
    for name, content in samples().items():
        (HERE / name).write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
