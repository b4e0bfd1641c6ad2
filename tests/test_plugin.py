"""The pytest plugin end to end, in a separate pytest process: results.json is valid and the
same serially and with xdist, verdicts map to outcomes, bad input exits 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from ballast.paths import PACKAGE_ROOT
from tests.fakes.qemu_guard import requires_qemu

SUITE = """
import pytest

pytestmark = pytest.mark.requires(subject="{subject}")


@pytest.mark.clause("balloon.driver.stats.02")
def test_stats_buffer_after_init(balloon):
    h = balloon()
    h.driver.init()
    h.driver.run_until_idle()


@pytest.mark.clause("balloon.driver.operation.11")
def test_actual_follows_the_balloon(balloon):
    h = balloon()
    h.driver.init()
    h.host.set_target(300)
    h.driver.run_until_idle()
"""


def run_pytest(
    tmp_path: Path, *args: str, subject: str = "driver", body: str = SUITE
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(body.format(subject=subject))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_suite.py"),
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def results_of(directory: Path) -> dict:
    return json.loads((directory / "results.json").read_text())


def test_results_json_is_schema_valid_and_complete(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, "--report-dir", str(tmp_path / "out"), "--transport", "pci-modern")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = results_of(tmp_path / "out")
    schema = json.loads((PACKAGE_ROOT / "report" / "results.schema.json").read_text())
    jsonschema.validate(results, schema)
    assert [t["verdict"] for t in results["tests"]] == ["PASS", "PASS"]
    assert sorted(results["collected"]) == sorted(t["nodeid"] for t in results["tests"])
    for name in ("index.html", "summary.md", "junit.xml", "traceability.csv"):
        assert (tmp_path / "out" / name).exists()


def test_serial_and_xdist_give_the_same_verdicts(tmp_path: Path) -> None:
    serial = run_pytest(tmp_path, "--report-dir", str(tmp_path / "serial"))
    parallel = run_pytest(tmp_path, "-n", "2", "--report-dir", str(tmp_path / "parallel"))
    assert serial.returncode == parallel.returncode == 0

    def verdicts(name: str) -> dict[str, str]:
        return {t["nodeid"]: t["verdict"] for t in results_of(tmp_path / name)["tests"]}

    assert verdicts("serial") == verdicts("parallel")
    assert len(verdicts("serial")) == 2 * 3  # two tests on three modern transports
    assert (
        results_of(tmp_path / "serial")["clauses"] == results_of(tmp_path / "parallel")["clauses"]
    )


def test_a_seeded_bug_fails_the_test_with_its_clause(tmp_path: Path) -> None:
    proc = run_pytest(
        tmp_path,
        "--driver",
        "reference:stats_no_initial_buffer",
        "--transport",
        "pci-modern",
        "--report-dir",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 1
    assert "FAIL: balloon.driver.stats.02" in proc.stdout
    verdicts = {t["primary"]: t["verdict"] for t in results_of(tmp_path / "out")["tests"]}
    assert verdicts == {"balloon.driver.stats.02": "FAIL", "balloon.driver.operation.11": "PASS"}


def test_a_waived_failure_is_skipped_in_a_certification_run(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "- clause: balloon.driver.stats.02\n"
        "  reason: known, fixed in the next release\n"
        "  link: https://example.org/bug/1\n"
        "  expiry: 2999-01-01\n"
    )
    args = ["--driver", "reference:stats_no_initial_buffer", "--transport", "pci-modern"]
    proc = run_pytest(
        tmp_path, *args, "--certification", "--waivers", str(waivers), "--report-dir", "out"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = {t["primary"]: t["verdict"] for t in results_of(tmp_path / "out")["tests"]}
    assert verdicts["balloon.driver.stats.02"] == "WAIVED"
    # outside a certification run the same file changes nothing
    assert run_pytest(tmp_path, *args, "--waivers", str(waivers)).returncode == 1


@pytest.mark.parametrize(
    ("args", "body", "message"),
    [
        (["--device", "nosuch"], SUITE, "unknown target 'nosuch'"),
        (["--driver", "reference:nosuch"], SUITE, "has no driver variant 'nosuch'"),
        (["--clause", "balloon.driver.nosuch.01"], SUITE, "unknown clause ID"),
        (["--spec-interpretation", "stats-buffer-multiple=7"], SUITE, "has no value '7'"),
        (["--waivers", "no-such-waivers.yaml"], SUITE, "waivers file"),
        (["--area", "nowhere"], SUITE, "unknown area 'nowhere'"),
        (["--transport", "pci-nosuch"], SUITE, "unknown transport 'pci-nosuch'"),
        (["--matrix", "nosuch"], SUITE, "unknown matrix 'nosuch'; known: reference"),
        (
            [],
            SUITE.replace("balloon.driver.stats.02", "balloon.driver.stats.99"),
            "unknown clause ID 'balloon.driver.stats.99'",
        ),
        (
            [],
            SUITE.replace('subject="{subject}"', 'subject="{subject}", transport=["pci-modren"]'),
            "requires transport='pci-modren' is not one of pci-modern,",
        ),
        (
            [],
            SUITE.replace('subject="{subject}"', 'subjcet="driver"'),
            "unknown requires key 'subjcet'",
        ),
        ([], SUITE.replace('subject="{subject}"', 'subject="host"'), "requires subject='host'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], body: str, message: str
) -> None:
    proc = run_pytest(tmp_path, *args, body=body)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "ballast: error" in line]
    assert len(lines) == 1 and message in lines[0]


def test_malformed_expectations_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "expect.yaml"
    bad.write_text("tests: [\n")
    proc = run_pytest(tmp_path, "--expectations", str(bad))
    assert proc.returncode == 2
    assert "malformed YAML" in proc.stdout + proc.stderr


def test_expectations_turn_an_unexpected_pass_into_a_failure(tmp_path: Path) -> None:
    first = run_pytest(tmp_path, "--transport", "pci-modern", "--report-dir", str(tmp_path / "out"))
    assert first.returncode == 0
    expect = tmp_path / "expect.yaml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ballast.cli",
            "expectations",
            "update",
            str(tmp_path / "out" / "results.json"),
            str(expect),
        ],
        check=True,
    )
    assert (
        run_pytest(tmp_path, "--transport", "pci-modern", "--expectations", str(expect)).returncode
        == 0
    )
    expect.write_text(expect.read_text().replace(": PASS", ": FAIL", 1))
    proc = run_pytest(tmp_path, "--transport", "pci-modern", "--expectations", str(expect))
    assert proc.returncode == 1
    assert "unexpected PASS (expected FAIL)" in proc.stdout


def test_the_reproduce_command_carries_the_qemu_options_and_timeout_factor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLAST_TIMEOUT_FACTOR", "3")
    monkeypatch.delenv("BALLAST_QEMU", raising=False)
    proc = run_pytest(
        tmp_path,
        "--report-dir",
        str(tmp_path / "out"),
        "--transport",
        "pci-modern",
        "--qemu-binary",
        "/opt/qemu/bin/qemu-system-x86_64",
        "--qemu-arg=-d guest_errors",
        "--qemu-pci-machine",
        "pc-q35-7.2",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    command = results_of(tmp_path / "out")["tests"][0]["reproduce"]
    assert command.startswith("BALLAST_TIMEOUT_FACTOR=3 python -m pytest ")
    assert "--qemu-binary /opt/qemu/bin/qemu-system-x86_64" in command
    assert "'--qemu-arg=-d guest_errors'" in command
    assert "--qemu-pci-machine pc-q35-7.2" in command
    assert "--qemu-mmio-machine" not in command  # the default is left out


QEMU_SUITE = """
import pytest

pytestmark = pytest.mark.requires(subject="device", transport=["pci-modern"])


@pytest.mark.clause("split.device.used-suppression.03")
def test_drives_qemu(balloon):
    h = balloon()
    h.driver.init()
    for pages in range(600, 700):
        h.host.set_target(pages)
        h.driver.run_until_idle()
"""


@requires_qemu
@pytest.mark.parametrize(
    ("fault", "verdict", "shown"),
    [
        ("kill:commands=300", "CRASH", "QEMU was killed by SIGKILL"),
        ("stop:commands=300", "TIMEOUT", "QEMU stopped (SIGSTOP)"),
    ],
)
def test_a_qemu_that_dies_or_hangs_is_crash_or_timeout_in_results_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, verdict: str, shown: str
) -> None:
    """End to end through the plugin: the verdict, the message and QEMU's own stderr and
    qtest history as artifacts of the test that met it."""
    monkeypatch.setenv("BALLAST_FAULT", fault)
    monkeypatch.setenv("BALLAST_TIMEOUT_FACTOR", "0.1")  # a stopped QEMU: 0.5 s, not 5 s
    proc = run_pytest(
        tmp_path,
        "--device",
        "qemu",
        "--qemu-binary",
        str(Path(__file__).parent / "fakes" / "qemu_fault.py"),
        "--report-dir",
        str(tmp_path / "out"),
        "-k",
        "qemu-default",  # the base cell only (the clause depends on EVENT_IDX: two cells)
        body=QEMU_SUITE,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (test,) = results_of(tmp_path / "out")["tests"]
    assert test["verdict"] == verdict
    assert shown in test["message"]
    assert "qemu_fault: sending" in test["artifacts"]["qemu-stderr"]
    assert test["artifacts"]["qtest-history"].count("\n") > 10


def test_a_random_run_records_its_hypothesis_seed_on_every_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BALLAST_DERANDOMIZE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    proc = run_pytest(tmp_path, "--report-dir", str(tmp_path / "out"), "-n", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = results_of(tmp_path / "out")
    seed = results["run"]["hypothesis"]["seed"]
    assert results["run"]["hypothesis"]["derandomize"] is False and seed.isdigit()
    assert len(results["tests"]) > 1
    assert all(f"--hypothesis-seed={seed}" in t["reproduce"] for t in results["tests"])


def test_a_derandomized_run_names_no_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALLAST_DERANDOMIZE", "1")
    proc = run_pytest(tmp_path, "--report-dir", str(tmp_path / "out"), "--transport", "mmio-v2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = results_of(tmp_path / "out")
    assert results["run"]["hypothesis"] == {"derandomize": True, "seed": None}
    assert "--hypothesis-seed" not in results["tests"][0]["reproduce"]


BUDGET_SUITE = """
import pytest

pytestmark = pytest.mark.requires(subject="{subject}", transport=["pci-modern"])


@pytest.mark.clause("core.driver.init.01")
def test_budget(balloon, property_budget):
    print("BUDGET", sorted((k, str(v)) for k, v in property_budget.items()))
    balloon().driver.init()
"""


@pytest.mark.parametrize("variant", [None, "clear_status_bit"])
def test_property_budget_follows_the_options_and_skips_shrinking_for_seeded_bugs(
    tmp_path: Path, variant: str | None
) -> None:
    args = ["--property-runs", "3", "--property-steps", "5", "-s", "--report-dir"]
    args += [str(tmp_path / "out")]
    if variant:
        args += ["--driver", f"reference:{variant}"]
    proc = run_pytest(tmp_path, *args, body=BUDGET_SUITE)
    assert "('max_examples', '3')" in proc.stdout and "('stateful_step_count', '5')" in proc.stdout
    # a seeded bug: every phase but shrinking; otherwise hypothesis's own (all of them)
    assert ("'phases'" in proc.stdout) == bool(variant)
    assert "Phase.shrink" not in proc.stdout
    (test,) = results_of(tmp_path / "out")["tests"]
    assert "--property-runs 3 --property-steps 5" in test["reproduce"]
