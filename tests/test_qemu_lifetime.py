"""No QEMU outlives the pytest run that started it: with xdist workers, when a test
errors or never closes its link, when the run is interrupted (SIGINT) and when pytest is
killed outright.

Each case runs ``tests/fakes/qemu_lifetime_cases.py`` in a child pytest whose TMPDIR is
private, so every QEMU it starts carries that directory in its socket paths; afterwards
no live process may carry it.  A child run an assertion left behind is killed at teardown.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.qemu_guard import qemu_processes, requires_qemu
from tests.fakes.qemu_lifetime_cases import MARKER_ENV

pytestmark = requires_qemu

ROOT = Path(__file__).resolve().parent.parent
CASES = "tests/fakes/qemu_lifetime_cases.py"
SETTLE = 5.0
"""Seconds a killed run's QEMUs get to die (PR_SET_PDEATHSIG acts at once; this only
absorbs scheduling delays on a loaded machine)."""


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A TMPDIR short enough that QEMU's socket paths stay inside it (``QemuProcess``
    falls back to /tmp for long ones, as under xdist's deep ``tmp_path``)."""
    path = Path(tempfile.mkdtemp(prefix="bq-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def child_run(private_tmp: Path, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a child pytest on the cases with TMPDIR ``private_tmp``; killed at teardown
    if a failed assertion left it running."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "TMPDIR": str(private_tmp), MARKER_ENV: str(tmp_path / "marker")}
        run = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", CASES, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(run)
        return run

    yield start
    for run in started:
        if run.poll() is None:
            run.kill()
        run.communicate()


def _survivors(marker: Path) -> list[str]:
    """QEMUs of the child run still alive after up to ``SETTLE`` seconds."""
    deadline = time.monotonic() + SETTLE
    while (left := qemu_processes(str(marker))) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _await_marker(run: subprocess.Popen[str], marker: Path) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert run.poll() is None, run.communicate()[0]
        assert time.monotonic() < deadline, "the waiting case never started its QEMU"
        time.sleep(0.05)


def test_xdist_workers_with_erroring_and_leaking_tests(
    child_run: Callable[..., subprocess.Popen[str]], private_tmp: Path
) -> None:
    run = child_run("-n", "2", "-k", "not interrupted")
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 1, output  # the erroring case fails, the others pass
    assert "1 failed, 2 passed" in output, output
    assert _survivors(private_tmp) == []


def test_sigint_while_a_link_is_open(
    child_run: Callable[..., subprocess.Popen[str]], private_tmp: Path, tmp_path: Path
) -> None:
    run = child_run("-k", "interrupted")
    _await_marker(run, tmp_path / "marker")
    assert qemu_processes(str(private_tmp)), "QEMU should run while the test waits"
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 2, output  # pytest's "interrupted" exit status
    assert _survivors(private_tmp) == []


def test_sigkill_of_pytest_takes_qemu_along(
    child_run: Callable[..., subprocess.Popen[str]], private_tmp: Path, tmp_path: Path
) -> None:
    run = child_run("-k", "interrupted")
    _await_marker(run, tmp_path / "marker")
    assert qemu_processes(str(private_tmp)), "QEMU should run while the test waits"
    run.kill()
    run.communicate(timeout=60)
    assert _survivors(private_tmp) == []
