"""The ballast pytest plugin: clause markers, targets, verdicts and results.json.

Registered twice under the same name (conftest.py's ``pytest_plugins`` and the pytest11
entry point ``ballast.plugin``), which pytest recognises as one plugin.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from ballast.errors import USAGE_EXIT, UsageError
from ballast.harness import TRANSPORT_IDS, TRANSPORT_PARAMS, Harness, LinkParam, build, params_for
from ballast.judge import judge
from ballast.matrix import DEFAULT_MATRIX, Matrix, load_feature_sets
from ballast.monitors.verdicts import Verdict
from ballast.reference.faults import faults_of
from ballast.report.waivers import apply_waivers, load_waivers
from ballast.results import (
    PROPERTY_RUNS,
    PROPERTY_STEPS,
    ResultsWriter,
    expectations_for,
    parse_interpretations,
    test_record,
)
from ballast.spec.catalogue import Catalogue, load_catalogue
from ballast.targets import Choice, choose
from ballast.targets.qemu.settings import qemu_options, settings_from_options
from ballast.targets.qemu.target import QEMU
from ballast.targets.reference import REFERENCE
from ballast.virtio.features import Feature, mask

HARNESSES = pytest.StashKey[list[Harness]]()
RECORD = pytest.StashKey[dict[str, Any]]()
SKIP_VERDICTS = (
    Verdict.NOT_SUPPORTED,
    Verdict.NOT_APPLICABLE,
    Verdict.NOT_OBSERVABLE,
    Verdict.WAIVED,
)


class Session:
    """Run-wide state: targets, catalogue, interpretation, expectations, results."""

    def __init__(self, config: pytest.Config) -> None:
        opt = config.option
        feature_sets = load_feature_sets()
        QEMU.configure(
            settings_from_options(opt),
            feature_sets.matrix(opt.ballast_matrix or QEMU.matrix).cells,
        )
        self.catalogue: Catalogue = load_catalogue()
        self.device: Choice = choose("device", opt.ballast_device)
        self.driver: Choice = choose("driver", opt.ballast_driver)
        self.interpretations = parse_interpretations(opt.ballast_interpretations)
        self.expectations = expectations_for(opt.ballast_expectations)
        self.clauses = set(opt.ballast_clauses or [])
        for clause in self.clauses:
            self.catalogue.get(clause)
        self.areas = set(opt.ballast_areas or [])
        for area in self.areas:
            self.catalogue.select(area=area)  # an unknown area is a usage error
        known = set(TRANSPORT_IDS) | {p.transport for p in TRANSPORT_PARAMS}
        for transport in opt.ballast_transports or []:
            if transport not in known:
                raise UsageError(
                    f"unknown transport '{transport}'; known: {', '.join(sorted(known))}"
                )
        # The device side decides the cells: its target's matrix (driver tests face the
        # reference device), unless --matrix names one for every test.
        self.matrices: dict[str, Matrix] = {
            "device": feature_sets.matrix(
                opt.ballast_matrix or getattr(self.device.target, "matrix", DEFAULT_MATRIX)
            ),
            "driver": feature_sets.matrix(opt.ballast_matrix or DEFAULT_MATRIX),
        }
        self.profile = opt.ballast_profile
        self.marker_problems: list[str] = []  # from collection, reported as one exit-2 line
        if self.profile:
            self.catalogue.select(profile=self.profile)
        # read at start-up, so a bad waivers file is a usage error before anything runs
        self.certification = bool(opt.ballast_certification)
        self.waivers = (
            load_waivers(opt.ballast_waivers, self.catalogue) if opt.ballast_waivers else []
        )
        self.writer = ResultsWriter(config, self)
        config.pluginmanager.register(self.writer, "ballast-results")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ballast", "virtio balloon conformance")
    group.addoption(
        "--device",
        dest="ballast_device",
        default="reference",
        help="device under test: TARGET or TARGET:VARIANT (default: reference)",
    )
    group.addoption(
        "--driver",
        dest="ballast_driver",
        default="reference",
        help="driver under test: TARGET or TARGET:VARIANT (default: reference)",
    )
    group.addoption(
        "--expectations",
        dest="ballast_expectations",
        type=Path,
        help="expected verdict per test (expectations/<target>.yaml)",
    )
    group.addoption(
        "--report-dir",
        dest="ballast_report_dir",
        type=Path,
        help="write results.json (and reports) here",
    )
    group.addoption(
        "--profile", dest="ballast_profile", help="conformance profile (spec_refs/profiles.yaml)"
    )
    group.addoption(
        "--spec-interpretation",
        dest="ballast_interpretations",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pick a reading of a known spec defect (spec_refs/interpretations.yaml)",
    )
    group.addoption(
        "--clause",
        dest="ballast_clauses",
        action="append",
        metavar="ID",
        help="run only tests tagged with this clause (repeatable)",
    )
    group.addoption(
        "--area",
        dest="ballast_areas",
        action="append",
        metavar="NAME",
        help="run only tests of this area: prefix, area or prefix.area (repeatable)",
    )
    group.addoption(
        "--transport",
        dest="ballast_transports",
        action="append",
        metavar="NAME",
        help="run only on this transport (pci-modern, pci-legacy-be, ...)",
    )
    group.addoption(
        "--matrix",
        dest="ballast_matrix",
        metavar="NAME",
        help="transport x feature-set matrix (fixtures/feature-sets.yaml; default: the "
        "device target's own, e.g. qemu-ci for qemu; qemu-full is every combination)",
    )
    group.addoption(
        "--property-runs",
        dest="ballast_property_runs",
        type=int,
        default=PROPERTY_RUNS,
        metavar="N",
        help=f"random scenarios per property test (default {PROPERTY_RUNS}; long runs: 200)",
    )
    group.addoption(
        "--property-steps",
        dest="ballast_property_steps",
        type=int,
        default=PROPERTY_STEPS,
        metavar="N",
        help=f"steps per random scenario (default {PROPERTY_STEPS})",
    )
    group.addoption(
        "--certification",
        dest="ballast_certification",
        action="store_true",
        help="certification run: honour waivers, derandomize",
    )
    group.addoption(
        "--waivers",
        dest="ballast_waivers",
        type=Path,
        help="waivers file (honoured only with --certification)",
    )
    qemu_options(parser)
    group.addoption(
        "--selftest",
        dest="ballast_selftest",
        action="store_true",
        help="also run every test against the seeded-bug variants of its clauses "
        "(used by `ballast selftest`; verdicts are recorded, never failed)",
    )
    group.addoption(
        "--selftest-every-test",
        dest="ballast_selftest_every_test",
        action="store_true",
        help="with --selftest: every variant of a test's side, not only its clauses'",
    )


@pytest.hookimpl(tryfirst=True)  # before hypothesis's plugin reads --hypothesis-seed
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clause(*ids): catalogue clauses the test covers (first is primary)"
    )
    config.addinivalue_line(
        "markers", "requires(**needs): transport=[...], subject=..., offered=[FEATURE, ...]"
    )
    _hypothesis_profile(config)
    try:
        config.stash[SESSION] = Session(config)
    except UsageError as exc:
        raise pytest.exit(f"ballast: error: {exc}", returncode=USAGE_EXIT) from None


SESSION = pytest.StashKey[Session]()


def _hypothesis_profile(config: pytest.Config) -> None:
    """Property tests are derandomized in CI and certification runs (a verdict must not
    depend on luck); elsewhere ballast picks the seed (unless --hypothesis-seed gave one),
    so results.json and every reproduce command can name it.  xdist workers take the
    controller's seed (``pytest_configure_node``)."""
    from hypothesis import settings

    settings.register_profile("ballast-derandomized", derandomize=True)
    if (
        config.option.ballast_certification
        or os.environ.get("CI")
        or os.environ.get("BALLAST_DERANDOMIZE")
    ):
        settings.load_profile("ballast-derandomized")
    elif getattr(config.option, "hypothesis_seed", None) is None:
        worker = getattr(config, "workerinput", {})
        config.option.hypothesis_seed = worker.get(SEED_KEY) or str(
            random.SystemRandom().randrange(2**32)
        )


SEED_KEY = "ballast_hypothesis_seed"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker runs hypothesis with the controller's seed."""
    node.workerinput[SEED_KEY] = getattr(node.config.option, "hypothesis_seed", None)


def _clause_ids(node: pytest.Item | pytest.Function | Any) -> list[str]:
    return [c for mark in node.iter_markers("clause") for c in mark.args]


def _provoked(node: Any) -> tuple[str, ...]:
    return tuple(c for mark in node.iter_markers("clause") for c in mark.kwargs.get("provoked", ()))


def subject_of(node: Any) -> str:
    for mark in node.iter_markers("requires"):
        if "subject" in mark.kwargs:
            return str(mark.kwargs["subject"])
    parts = Path(str(node.path)).parts
    return "driver" if "driver" in parts else "device"


REQUIRES = {
    "subject": ("device", "driver"),
    "transport": TRANSPORT_IDS,
    "offered": tuple(Feature.__members__),  # what the scenario needs the device to offer
}


def requires_problems(node: Any) -> list[str]:
    """What is wrong with a test's requires(...) markers: a misspelt key or value would
    otherwise select no transport, and the test would silently never run."""
    problems = []
    for mark in node.iter_markers("requires"):
        for key, value in mark.kwargs.items():
            if key not in REQUIRES:
                problems.append(f"unknown requires key '{key}' (known: {', '.join(REQUIRES)})")
                continue
            values = [value] if isinstance(value, str) else list(value)
            problems.extend(
                f"requires {key}='{v}' is not one of {', '.join(REQUIRES[key])}"
                for v in values
                if v not in REQUIRES[key]
            )
        if mark.args:
            problems.append(
                "requires(...) takes keywords only (subject=..., transport=[...], offered=[...])"
            )
    return problems


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash[SESSION]
    problems = requires_problems(metafunc.definition)
    if problems:
        session.marker_problems.extend(f"{metafunc.definition.nodeid}: {p}" for p in problems)
        return
    if "link_param" not in metafunc.fixturenames:
        return
    ids = _clause_ids(metafunc.definition)
    clauses = [session.catalogue.get(c) for c in ids if c in session.catalogue]
    wanted: list[str] | None = metafunc.config.option.ballast_transports
    explicit = False
    for mark in metafunc.definition.iter_markers("requires"):
        if "transport" in mark.kwargs:
            wanted = [t for t in mark.kwargs["transport"] if not wanted or t in wanted]
            explicit = True
    offered = mask(
        *(
            f
            for mark in metafunc.definition.iter_markers("requires")
            for f in mark.kwargs.get("offered", ())
        )
    )
    matrix = session.matrices[subject_of(metafunc.definition)]
    params = params_for(clauses, matrix, wanted, explicit, offered)
    metafunc.parametrize("link_param", params, ids=[p.id for p in params])
    if metafunc.config.option.ballast_selftest:
        subject = subject_of(metafunc.definition)
        every = metafunc.config.option.ballast_selftest_every_test
        variants = [
            None,
            *sorted(
                name for name, fault in faults_of(subject).items() if every or fault.clause in ids
            ),
        ]
        metafunc.parametrize(
            "selftest_variant", variants, ids=["clean" if v is None else v for v in variants]
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    session = config.stash[SESSION]
    problems = list(session.marker_problems)
    for item in items:
        for clause in _clause_ids(item):
            if clause not in session.catalogue:
                problems.append(f"{item.nodeid}: unknown clause ID '{clause}'")
    if problems:
        raise pytest.exit(
            "ballast: error: "
            + "; ".join(dict.fromkeys(problems))
            + " (fix the marker; `ballast spec list` shows valid clause IDs)",
            returncode=USAGE_EXIT,
        )
    if not (session.clauses or session.areas or session.profile):
        return
    keep, drop = [], []
    for item in items:
        ids = _clause_ids(item)
        clauses = [session.catalogue.get(c) for c in ids]
        ok = bool(ids)
        if session.clauses:
            ok = ok and bool(session.clauses & set(ids))
        if session.areas:
            ok = ok and any(session.areas & {c.prefix, c.area, c.area_key} for c in clauses)
        if session.profile:
            ok = ok and any(session.profile in c.profiles for c in clauses)
        (keep if ok else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def selftest_variant() -> str | None:
    """The seeded-bug variant a self-test case runs (parametrized under --selftest)."""
    return None


@pytest.fixture
def property_budget(request: pytest.FixtureRequest, selftest_variant: str | None) -> dict[str, Any]:
    """Hypothesis settings of a property test: --property-runs scenarios of
    --property-steps steps.  A seeded-bug run (selftest, or TARGET:VARIANT on the side
    under test) skips shrinking: it proves a verdict and needs no minimal example, and
    shrinking a stateful failure without a deadline takes minutes."""
    from hypothesis import Phase

    option = request.config.option
    session = request.config.stash[SESSION]
    subject = subject_of(request.node)
    variant = (
        selftest_variant or (session.device if subject == "device" else session.driver).variant
    )
    budget: dict[str, Any] = {
        "max_examples": option.ballast_property_runs,
        "stateful_step_count": option.ballast_property_steps,
    }
    if variant:
        budget["phases"] = [p for p in Phase if p is not Phase.shrink]
    return budget


@pytest.fixture
def balloon(request: pytest.FixtureRequest, link_param: LinkParam, selftest_variant: str | None):
    """Factory: ``balloon(device={...}, driver={...})`` builds the link for this test, with
    the subject side being the implementation under test."""
    session = request.config.stash[SESSION]
    subject = subject_of(request.node)
    device_choice, driver_choice = session.device, session.driver
    if selftest_variant is not None:
        variant = Choice(subject, REFERENCE, selftest_variant)
        if subject == "device":
            device_choice = variant
        else:
            driver_choice = variant

    def make(
        device: dict[str, Any] | None = None,
        driver: dict[str, Any] | None = None,
        memory_size: int = 16 << 20,
    ) -> Harness:
        harness = build(
            subject,
            link_param,
            device_choice,
            driver_choice,
            session.catalogue,
            session.interpretations,
            device,
            driver,
            memory_size,
        )
        request.node.stash.setdefault(HARNESSES, []).append(harness)
        return harness

    yield make
    # The item outlives its test (until the session ends): drop the links, or a run of
    # thousands of tests keeps every guest memory and event log alive.
    for harness in request.node.stash.get(HARNESSES, []):
        harness.close()
    request.node.stash[HARNESSES] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    clauses = _clause_ids(item)
    if not clauses:
        return (yield)
    session = item.config.stash[SESSION]
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except (pytest.skip.Exception, pytest.fail.Exception):
        raise
    except Exception as exc:  # the implementation's failure modes become verdicts
        error = exc
    harnesses = item.stash.get(HARNESSES, [])
    findings = [f for harness in harnesses for f in harness.findings()]
    harness = harnesses[-1] if harnesses else None
    judgement = judge(clauses, findings, error, _provoked(item), subject_of(item))
    record = test_record(item, session, judgement, time.perf_counter() - start, harness)
    record = apply_waivers([record], session.waivers, session.certification)[0]
    item.stash[RECORD] = record
    if item.config.option.ballast_selftest:
        return None  # recorded; `ballast selftest` judges the outcome
    expected = record["expected"]
    if expected is not None:
        if record["unexpected"]:
            pytest.fail(
                f"unexpected {judgement.verdict} (expected {expected}): {judgement.message}",
                pytrace=False,
            )
        return None
    verdict = Verdict(record["verdict"])  # WAIVED where a waiver covers the failure
    if verdict in (Verdict.FAIL, Verdict.TIMEOUT, Verdict.CRASH, Verdict.ERROR):
        pytest.fail(f"{verdict}: {judgement.message}", pytrace=False)
    if verdict in SKIP_VERDICTS:
        waiver = record["waiver"] if verdict == Verdict.WAIVED else None
        why = f" (waived: {waiver['reason']})" if waiver else ""
        pytest.skip(f"{verdict}: {judgement.message}{why}")
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    record = item.stash.get(RECORD, None)
    if report.when == "call" and record is not None:
        report.user_properties.append(("ballast_result", json.dumps(record)))
    elif report.when == "setup" and report.failed and _clause_ids(item):
        session = item.config.stash[SESSION]
        failed = test_record(
            item,
            session,
            judge(
                _clause_ids(item),
                [],
                RuntimeError(
                    str(report.longrepr).splitlines()[-1] if report.longrepr else "setup failed"
                ),
            ),
            report.duration,
            None,
        )
        report.user_properties.append(("ballast_result", json.dumps(failed)))
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(SESSION, None)
    if state is not None:
        state.writer.collected = [i.nodeid for i in session.items if _clause_ids(i)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller gathers every record and writes
    state = session.config.stash.get(SESSION, None)
    if state is not None:
        state.writer.finish()
