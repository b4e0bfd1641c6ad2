"""Synthetic runs at a chosen scale (500 clauses x 4 implementations, say) for the browser
performance test and bench/bench_report.py: the shapes of real results (findings with
evidence, a 40-event tail per test that did not pass), with random verdicts."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

from ballast.report.rollup import ADVISORY, certify, coverage, rollup_clauses
from ballast.spec.catalogue import Catalogue, load_catalogue

IMPLEMENTATIONS = ("qemu-9.2", "cloud-hypervisor-43", "firecracker-1.10", "crosvm-128")
TRANSPORTS = ("pci-modern", "pci-transitional", "mmio-v2")
WEIGHTS = {
    "PASS": 70,
    "FAIL": 8,
    "WARN": 3,
    "NOT_SUPPORTED": 5,
    "NOT_APPLICABLE": 5,
    "NOT_OBSERVABLE": 4,
    "TIMEOUT": 2,
    "CRASH": 1,
    "ERROR": 1,
}
KINDS = ("avail_buffer", "buffer_used", "queue_notified", "config_read", "status_written")


def synthetic_catalogue(n_clauses: int, base: Catalogue | None = None) -> Catalogue:
    """The first ``n_clauses`` active clauses of the catalogue, cycled (copies get an ID
    suffix) until there are enough."""
    base = base or load_catalogue()
    active = [c for c in base if c.active]
    clauses = [
        active[i % len(active)]
        if i < len(active)
        else dataclasses.replace(
            active[i % len(active)], id=f"{active[i % len(active)].id}-{i // len(active)}"
        )
        for i in range(n_clauses)
    ]
    return Catalogue(clauses, base.profiles, base.features, base.directory)


def synthetic_results(
    catalogue: Catalogue,
    implementations: Sequence[str] = IMPLEMENTATIONS,
    seed: int = 0,
    tail: int = 40,
) -> dict[str, Any]:
    """One test per clause and implementation (every implementation on both sides, so the
    matrix is full), with ``tail`` evidence events for each test that did not pass."""
    rng = random.Random(seed)
    tests = [_test(clause, impl, rng, tail) for clause in catalogue for impl in implementations]
    rollups = rollup_clauses(tests, catalogue)
    side = {"target": "synthetic", "variant": None, "version": "0", "details": {}}
    return {
        "schema_version": "1.0",
        "run": {
            "id": f"synthetic-{seed}",
            "started": "2025-01-01T00:00:00+00:00",
            "finished": "2025-01-01T00:10:00+00:00",
            "duration": 600.0,
            "ballast_version": "0.1.0",
            "catalogue_revision": "v1.4-cs01",
            "command": "synthetic",
            "device": {"side": "device", **side},
            "driver": {"side": "driver", **side},
            "interpretations": {},
            "profile": None,
            "certification_run": False,
            "shard": None,
        },
        "collected": [t["nodeid"] for t in tests],
        "tests": tests,
        "clauses": rollups,
        "coverage": coverage(tests, catalogue),
        "certification": certify(rollups, catalogue, [], False),
    }


def _test(clause: Any, impl: str, rng: random.Random, tail: int) -> dict[str, Any]:
    verdict = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    if verdict in ("FAIL", "WARN"):
        verdict = "WARN" if clause.level in ADVISORY else "FAIL"
    transport = rng.choice(TRANSPORTS)
    name = clause.id.replace(".", "_").replace("-", "_")
    nodeid = f"suites/{clause.role}/test_{clause.area}.py::test_{name}[{impl}-{transport}]"
    expected = rng.choice(("PASS", verdict)) if rng.random() < 0.1 else None
    message = (
        "exercised without violation"
        if verdict == "PASS"
        else (f"{clause.id}: synthetic {verdict.lower()} on {transport}")
    )
    failed = verdict != "PASS"
    return {
        "nodeid": nodeid,
        "clauses": [clause.id],
        "primary": clause.id,
        "subject": clause.role,
        "implementation": impl,
        "transport": transport,
        "params": {"transport": transport},
        "verdict": verdict,
        "clause_verdicts": {clause.id: verdict},
        "expected": expected,
        "unexpected": expected is not None and expected != verdict,
        "suspect": False,
        "waiver": None,
        "duration": round(rng.uniform(0.01, 2.0), 3),
        "message": message,
        "findings": [
            {
                "clause": clause.id,
                "verdict": verdict,
                "message": message,
                "evidence": _events(rng, 3),
            }
        ]
        if failed
        else [],
        "evidence": _events(rng, tail) if failed else [],
        "artifacts": {},
        "reproduce": f"python -m pytest '{nodeid}' --device {impl}",
    }


def _events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    start = rng.randrange(1000)
    return [
        {
            "seq": start + i,
            "observer": rng.choice(("device", "driver")),
            "kind": rng.choice(KINDS),
            "queue": rng.randrange(3),
            "head": rng.randrange(256),
            "value": rng.randrange(1 << 16),
        }
        for i in range(count)
    ]
