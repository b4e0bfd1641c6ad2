"""Building results.json: one record per conformance test, gathered on the controller
(so a ``-n 2`` run and a serial run give the same file), rolled up and written at the end."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ballast import __version__
from ballast.errors import UsageError
from ballast.judge import Judgement
from ballast.monitors.base import jsonable
from ballast.monitors.verdicts import Verdict
from ballast.paths import spec_refs_dir
from ballast.spec.yamlio import load
from ballast.targets.qemu.process import BINARY_ENV
from ballast.targets.qemu.settings import QemuSettings, settings_from_options
from ballast.timeouts import TIMEOUT_FACTOR_ENV

if TYPE_CHECKING:
    from ballast.harness import Harness
    from ballast.plugin import Session

SCHEMA_VERSION = "1.0"
EVENT_TAIL = 40


def parse_interpretations(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` choices, validated against spec_refs/interpretations.yaml; every key
    gets its default when not chosen."""
    known = (load(spec_refs_dir() / "interpretations.yaml", "interpretations file") or {}).get(
        "interpretations", {}
    )
    chosen = {key: str(entry["default"]) for key, entry in known.items()}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--spec-interpretation needs KEY=VALUE, got '{pair}'")
        if key not in known:
            raise UsageError(f"unknown interpretation '{key}'; known: {', '.join(sorted(known))}")
        values = [str(v) for v in known[key]["values"]]
        if value not in values:
            raise UsageError(
                f"interpretation {key} has no value '{value}'; choose one of {', '.join(values)}"
            )
        chosen[key] = value
    return chosen


def expectations_for(path: Path | None) -> dict[str, str]:
    """nodeid -> expected verdict from an expectations file (``tests:`` mapping)."""
    if path is None:
        return {}
    data = load(path, "expectations file")
    tests = data.get("tests") if isinstance(data, dict) else None
    if not isinstance(tests, dict):
        raise UsageError(f"{path}: an expectations file maps 'tests' to node ID: VERDICT")
    for nodeid, verdict in tests.items():
        if verdict not in Verdict.__members__:
            raise UsageError(
                f"{path}: {nodeid}: '{verdict}' is not a verdict ({', '.join(Verdict.__members__)})"
            )
    return {str(k): str(v) for k, v in tests.items()}


def test_record(
    item: pytest.Item,
    session: Session,
    judgement: Judgement,
    duration: float,
    harness: Harness | None,
) -> dict[str, Any]:
    clauses = [c for mark in item.iter_markers("clause") for c in mark.args]
    from ballast.plugin import subject_of

    subject = subject_of(item)
    choice = session.device if subject == "device" else session.driver
    expected = session.expectations.get(item.nodeid)
    param = getattr(item, "callspec", None)
    link_param = param.params.get("link_param") if param else None
    variant = param.params.get("selftest_variant") if param else None
    evidence: list[dict[str, Any]] = []
    if harness is not None and judgement.verdict != Verdict.PASS:
        evidence = [
            {
                "seq": e.seq,
                "observer": e.observer,
                "kind": e.kind,
                **{k: jsonable(v) for k, v in e.data.items()},
            }
            for e in list(harness.events)[-EVENT_TAIL:]
        ]
    return {
        "nodeid": item.nodeid,
        "clauses": clauses,
        "provoked": [c for m in item.iter_markers("clause") for c in m.kwargs.get("provoked", ())],
        "primary": clauses[0],
        "subject": subject,
        "implementation": f"reference:{variant}" if variant else choice.label,
        "transport": link_param.id if link_param is not None else None,
        "params": {
            "transport": link_param.id if link_param is not None else None,
            "variant": variant,
        },
        "verdict": str(judgement.verdict),
        "clause_verdicts": {c: str(v) for c, v in judgement.clause_verdicts.items()},
        "expected": expected,
        "unexpected": expected is not None and expected != judgement.verdict,
        "suspect": any(session.catalogue.get(c).suspect for c in clauses),
        "waiver": None,
        "duration": round(duration, 6),
        "message": judgement.message,
        "findings": [
            {
                "clause": f.clause,
                "verdict": str(f.verdict),
                "message": f.message,
                "evidence": f.evidence,
            }
            for f in judgement.findings
            if f.verdict != Verdict.PASS or f.clause in clauses
        ],
        "evidence": evidence,
        "artifacts": dict(harness.link.artifacts)
        if harness is not None and judgement.verdict != Verdict.PASS
        else {},
        "reproduce": reproduce_command(item, session),
    }


PROPERTY_RUNS, PROPERTY_STEPS = 8, 12  # examples per property test, steps per example


def reproduce_command(item: pytest.Item, session: Session) -> str:
    args = [
        "python",
        "-m",
        "pytest",
        item.nodeid,
        "--device",
        session.device.label,
        "--driver",
        session.driver.label,
    ]
    for key, value in sorted(session.interpretations.items()):
        args += ["--spec-interpretation", f"{key}={value}"]
    option = item.config.option
    if option.ballast_matrix:  # the cell in the node ID exists only in that matrix
        args += ["--matrix", option.ballast_matrix]
    args += _qemu_args(option)
    for flag, value, default in (
        ("--property-runs", option.ballast_property_runs, PROPERTY_RUNS),
        ("--property-steps", option.ballast_property_steps, PROPERTY_STEPS),
    ):
        if value != default:
            args += [flag, str(value)]
    info = _hypothesis_info(item.config)
    if info["seed"] is not None and not info["derandomize"]:
        args.append(f"--hypothesis-seed={info['seed']}")
    factor = os.environ.get(TIMEOUT_FACTOR_ENV, "").strip()
    prefix = f"{TIMEOUT_FACTOR_ENV}={shlex.quote(factor)} " if factor else ""
    return prefix + shlex.join(args)


def _qemu_args(option: Any) -> list[str]:
    """The QEMU options of this run, so the command reruns the same QEMU the same way."""
    settings, default = settings_from_options(option), QemuSettings()
    args = []
    binary = settings.binary or os.environ.get(BINARY_ENV)
    if binary:
        args += ["--qemu-binary", binary]
    args += [f"--qemu-arg={value}" for value in option.ballast_qemu_args]
    if settings.pci_machine != default.pci_machine:
        args += ["--qemu-pci-machine", settings.pci_machine]
    if settings.mmio_machine != default.mmio_machine:
        args += ["--qemu-mmio-machine", settings.mmio_machine]
    return args


class ResultsWriter:
    """Collects test records (from xdist workers too) and writes results.json at the end;
    also a pytest plugin object, registered by the ballast plugin."""

    def __init__(self, config: pytest.Config, session: Session) -> None:
        self.config = config
        self.session = session
        self.records: dict[str, dict[str, Any]] = {}
        self.collected: list[str] = []
        self.started = dt.datetime.now(dt.UTC)
        self.path: Path | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == "ballast_result":
                record = json.loads(value)
                self.records[record["nodeid"]] = record

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected = sorted(set(self.collected) | {i for i in ids if "suites/" in i})

    def results(self) -> dict[str, Any]:
        from ballast.report.rollup import certify, coverage, rollup_clauses

        session = self.session
        catalogue = session.catalogue
        tests = [self.records[k] for k in sorted(self.records)]  # waivers already applied
        certification, waivers = session.certification, session.waivers
        finished = dt.datetime.now(dt.UTC)
        rollups = rollup_clauses(tests, catalogue)
        return {
            "schema_version": SCHEMA_VERSION,
            "run": {
                "id": uuid.uuid4().hex[:12],
                "started": self.started.isoformat(timespec="seconds"),
                "finished": finished.isoformat(timespec="seconds"),
                "duration": round((finished - self.started).total_seconds(), 3),
                "ballast_version": __version__,
                "catalogue_revision": "v1.4-cs01",
                "command": shlex.join(sys.argv),
                "device": _implementation("device", session.device),
                "driver": _implementation("driver", session.driver),
                "interpretations": session.interpretations,
                "matrix": {side: _matrix(m) for side, m in session.matrices.items()},
                "profile": session.profile,
                "certification_run": certification,
                "hypothesis": _hypothesis_info(self.config),
                "shard": None,
            },
            "collected": sorted(self.collected or self.records),
            "tests": tests,
            "clauses": rollups,
            "coverage": coverage(tests, catalogue),
            "certification": certify(
                rollups, catalogue, waivers, certification, profile=session.profile
            ),
        }

    def finish(self) -> Path | None:
        directory: Path | None = self.config.option.ballast_report_dir
        if directory is None or not self.records:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "results.json"
        results = self.results()
        self.path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
        from ballast.report.render import render

        render(results, directory)
        return self.path


def _hypothesis_info(config: pytest.Config) -> dict[str, Any]:
    from hypothesis import settings

    return {
        "derandomize": settings.default.derandomize,
        "seed": getattr(config.option, "hypothesis_seed", None),
    }


def _matrix(matrix: Any) -> dict[str, Any]:
    """The cells a side's tests ran in (fixtures/feature-sets.yaml), features in hex."""
    return {
        "id": matrix.id,
        "cells": [
            {
                "feature_set": cell.feature_set.id,
                "features": f"{cell.feature_set.features:#x}",
                "transports": list(cell.transports) if cell.transports else "all",
                "every_test": cell.every_test,
            }
            for cell in matrix.cells
        ],
    }


def _implementation(side: str, choice: Any) -> dict[str, Any]:
    return {
        "side": side,
        "target": choice.target.name,
        "variant": choice.variant,
        "version": choice.target.describe(side, choice.variant).get("version"),
        "details": choice.target.describe(side, choice.variant),
    }
