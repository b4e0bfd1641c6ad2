"""QemuProcess against a real QEMU: start-up, failure reporting, dead and frozen QEMU,
and the guarantee that no QEMU outlives the harness."""

from __future__ import annotations

import gc
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ballast.targets.qemu.errors import (
    QemuStartError,
    QmpDisconnected,
    QmpTimeout,
    QtestDisconnected,
    QtestTimeout,
)
from ballast.targets.qemu.process import QemuProcess
from tests.fakes.qemu_guard import qemu_children, requires_qemu

pytestmark = requires_qemu

BALLOON = "virtio-balloon-pci,id=balloon0,addr=0x3"


@pytest.fixture(autouse=True, scope="module")
def _no_qemu_left() -> Iterator[None]:
    yield
    assert qemu_children() == []


@pytest.fixture
def start() -> Iterator[Callable[..., QemuProcess]]:
    started: list[QemuProcess] = []

    def _start(**options: object) -> QemuProcess:
        options.setdefault("devices", [BALLOON])
        qemu = QemuProcess(**options)  # type: ignore[arg-type]
        started.append(qemu)
        return qemu

    yield _start
    for qemu in started:
        qemu.close()


def _state(pid: int) -> str:
    """The process state letter from /proc (``""`` once the process is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return ""


def _gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie awaiting its reaper)."""
    return _state(pid) in ("", "Z")


def test_start_reports_version_and_command_line(start: Callable[..., QemuProcess]) -> None:
    qemu = start()
    assert re.match(r"\d+\.\d+\.\d+", qemu.version)
    assert qemu.command_line.startswith(qemu.binary)
    assert "-qtest-log /dev/null" in qemu.command_line
    assert f"-device {BALLOON}" in qemu.command_line
    assert qemu.returncode is None
    assert qemu.qtest.readl(0) == 0


def test_close_quits_cleanly_and_is_idempotent(start: Callable[..., QemuProcess]) -> None:
    qemu = start()
    assert qemu.close() == 0
    assert qemu.close() == 0
    assert not qemu.workdir.exists()
    assert qemu.stderr_text() == ""
    assert _gone(qemu.pid)
    with pytest.raises(QtestDisconnected):
        qemu.qtest.readl(0)


def test_bad_device_option_is_reported_with_stderr() -> None:
    with pytest.raises(QemuStartError) as info:
        QemuProcess(devices=["virtio-balloon-pci,no-such-property=1"])
    message = str(info.value)
    assert "no-such-property" in message.splitlines()[0]
    assert "command line:" in message


def test_unknown_machine_is_reported_with_stderr() -> None:
    with pytest.raises(QemuStartError, match=r"exited during start-up.*unsupported machine"):
        QemuProcess(machine="nosuchmachine")


def test_killed_qemu_gives_disconnected_not_a_hang(start: Callable[..., QemuProcess]) -> None:
    qemu = start(qtest_timeout=30.0, qmp_timeout=30.0)
    os.kill(qemu.pid, signal.SIGKILL)
    began = time.monotonic()
    with pytest.raises(QtestDisconnected):
        qemu.qtest.readl(0)
    with pytest.raises(QmpDisconnected):
        qemu.qmp.query_balloon()
    assert time.monotonic() - began < 5.0
    assert qemu.close() == -signal.SIGKILL


def test_stopped_qemu_gives_timeout_then_recovers(start: Callable[..., QemuProcess]) -> None:
    qemu = start(qtest_timeout=0.3, qmp_timeout=0.3)
    os.kill(qemu.pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        with pytest.raises(QtestTimeout):
            qemu.qtest.readl(0)
        limit = qemu.qtest.timeout
        assert limit <= time.monotonic() - began < limit + 0.7
        with pytest.raises(QmpTimeout):
            qemu.qmp.query_balloon()
    finally:
        os.kill(qemu.pid, signal.SIGCONT)
    # The late reply to the timed-out readl is skipped, not taken for this one's.
    qemu.qtest.writel(0x1000, 0x12345678)
    assert qemu.qtest.readl(0x1000) == 0x12345678
    assert "~" in [entry.kind for entry in qemu.qtest.history()]
    assert qemu.qmp.query_balloon() == 256 << 20
    assert qemu.close() == 0


def test_stopped_qemu_is_killed_by_close(start: Callable[..., QemuProcess]) -> None:
    qemu = start()
    os.kill(qemu.pid, signal.SIGSTOP)
    while _state(qemu.pid) != "T":
        time.sleep(0.001)
    began = time.monotonic()
    assert qemu.close() == -signal.SIGKILL
    assert time.monotonic() - began < 0.5  # no QMP quit attempt: it could not answer


def test_cpu_affinity_pins_every_qemu_thread(start: Callable[..., QemuProcess]) -> None:
    cpu = max(os.sched_getaffinity(0))
    qemu = start(cpu_affinity={cpu})
    threads = list(Path(f"/proc/{qemu.pid}/task").iterdir())
    assert len(threads) > 1
    assert all(os.sched_getaffinity(int(t.name)) == {cpu} for t in threads)


def test_impossible_cpu_affinity_is_a_start_error() -> None:
    with pytest.raises(QemuStartError, match="cpu_affinity"):
        QemuProcess(cpu_affinity={(os.cpu_count() or 1) + 64})


def test_unclosed_process_is_reaped_by_its_finalizer() -> None:
    qemu = QemuProcess(devices=[BALLOON])
    pid, workdir = qemu.pid, qemu.workdir
    del qemu
    gc.collect()
    assert _gone(pid)
    assert not workdir.exists()


def test_qemu_dies_with_the_process_that_started_it() -> None:
    script = (
        "import os, signal\n"
        "from ballast.targets.qemu.process import QemuProcess\n"
        f"q = QemuProcess(devices=[{BALLOON!r}])\n"
        "print(q.pid, q.workdir, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    pid_text, workdir = run.stdout.split()
    shutil.rmtree(workdir)  # a SIGKILLed parent cannot clean up its files, only its child
    pid = int(pid_text)
    deadline = time.monotonic() + 5.0
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _gone(pid), f"QEMU {pid} outlived its SIGKILLed parent"
