"""One QEMU process driven over qtest and QMP, that never outlives the test run.

The test side listens on two Unix sockets and QEMU connects to both (as libqtest
does), so there is no polling for a socket file to appear.  QEMU connects *before* it
validates ``-device`` options: a bad option shows up as a connection that closes during
QMP negotiation, and the reason is on QEMU's stderr, which is captured to a file and
quoted in ``QemuStartError``.

Lifetime guarantees, in order of strength:

* the child runs with ``PR_SET_PDEATHSIG = SIGKILL`` (set by a pre-exec hook that then
  checks the parent is still the one that forked it), so even a SIGKILLed pytest takes
  QEMU with it.  Linux ties this to the *thread* that forked: start QEMU from a thread
  that lives as long as the process is needed (pytest's main thread does);
* ``close()`` asks QMP ``quit``, waits for the exit, then SIGKILLs the process group and
  always reaps; a ``weakref.finalize`` (which also runs at interpreter exit) does the
  kill-and-reap part if ``close()`` was never called;
* QEMU runs in its own process group, so a terminal's Ctrl-C reaches pytest (which then
  closes QEMU cleanly) rather than killing QEMU behind the harness's back.

Instead of ``-S`` the vCPU runs the parked-CPU firmware (see ``firmware``): the virtual
clock runs, so timer-driven device behaviour (stats polling) happens.  On q35 and microvm
the PIT is switched off (``pit=off``) unless the caller sets ``pit=`` itself: with the
clock running, its 18 Hz IRQ 0 would otherwise flood the qtest stream, the history ring
and every ``poll`` with events that no balloon test wants.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Collection, Sequence
from pathlib import Path

from ballast.targets.qemu.errors import QemuNotFound, QemuStartError, QmpError
from ballast.targets.qemu.firmware import write_parked_cpu_bios
from ballast.targets.qemu.qmp import DEFAULT_TIMEOUT as QMP_TIMEOUT
from ballast.targets.qemu.qmp import QmpClient
from ballast.targets.qemu.qtest import DEFAULT_TIMEOUT as QTEST_TIMEOUT
from ballast.targets.qemu.qtest import QtestClient
from ballast.timeouts import scaled

BINARY_ENV = "BALLAST_QEMU"
DEFAULT_BINARY = "qemu-system-x86_64"
START_TIMEOUT = 10.0
"""Seconds (before scaling) for QEMU to connect both sockets; QMP negotiation, which
waits for machine init, then has the QMP client's own timeout."""
QUIT_TIMEOUT = 2.0
"""Seconds (before scaling) ``close()`` waits for QMP ``quit`` to end the process."""

_PR_SET_PDEATHSIG = 1
_PIT_MACHINES = frozenset({"q35", "microvm"})
_SUN_PATH_MAX = 107

_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int


def find_qemu(binary: str | None = None) -> str:
    """The QEMU binary to run: ``binary``, else ``$BALLAST_QEMU``, else
    ``qemu-system-x86_64`` on ``PATH``.  Raises ``QemuNotFound`` naming the fix."""
    env = os.environ.get(BINARY_ENV)
    candidate = binary or env or DEFAULT_BINARY
    path = shutil.which(candidate)
    if path is not None:
        return path
    if binary:
        raise QemuNotFound(f"QEMU binary {binary!r} not found or not executable")
    if env:
        raise QemuNotFound(
            f"{BINARY_ENV}={env!r} is not an executable: point it at qemu-system-x86_64 or unset it"
        )
    raise QemuNotFound(
        f"{DEFAULT_BINARY} not found on PATH: install it (Debian: apt-get install "
        f"qemu-system-x86) or set {BINARY_ENV}=/path/to/{DEFAULT_BINARY}"
    )


@functools.cache
def qemu_version(binary: str) -> str:
    """``binary --version``'s version text, e.g. ``7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)``.

    Run once per binary and cached: it costs a QEMU start.
    """
    try:
        out = subprocess.run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            timeout=scaled(START_TIMEOUT),
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise QemuStartError(f"{binary} --version failed: {exc}") from exc
    first = out.splitlines()[0] if out else ""
    marker = "version "
    return first.split(marker, 1)[1].strip() if marker in first else first.strip()


def machine_arg(machine: str) -> str:
    """The ``-machine`` value: ``machine`` plus ``pit=off`` on q35/microvm (see module doc)."""
    kind, *props = machine.split(",")
    if kind in _PIT_MACHINES and not any(p.startswith("pit=") for p in props):
        return f"{machine},pit=off"
    return machine


def build_argv(
    binary: str,
    *,
    machine: str,
    memory_mib: int,
    devices: Sequence[str],
    extra_args: Sequence[str],
    qtest_socket: Path,
    qmp_socket: Path,
    bios: Path,
) -> list[str]:
    """The full QEMU command line (pure: no file or process is touched)."""
    argv = [
        binary,
        "-qtest",
        f"unix:{qtest_socket}",
        # Without -qtest-log QEMU logs every qtest line to stderr: slow and noisy.
        "-qtest-log",
        "/dev/null",
        "-chardev",
        f"socket,path={qmp_socket},id=qmp0",
        "-mon",
        "chardev=qmp0,mode=control",
        "-display",
        "none",
        "-accel",
        "tcg",
        "-nodefaults",
        "-machine",
        machine_arg(machine),
        "-m",
        str(memory_mib),
        "-bios",
        str(bios),
    ]
    for device in devices:
        argv += ["-device", device]
    argv += extra_args
    return argv


class QemuProcess:
    """A running QEMU with a connected ``qtest`` client and ``qmp`` client.

    Constructing it starts QEMU and returns once QMP is negotiated (QEMU's machine is
    initialised).  Use as a context manager or call ``close()``.
    """

    def __init__(
        self,
        *,
        machine: str = "q35",
        memory_mib: int = 256,
        devices: Sequence[str] = (),
        extra_args: Sequence[str] = (),
        binary: str | None = None,
        qtest_timeout: float = QTEST_TIMEOUT,
        qmp_timeout: float = QMP_TIMEOUT,
        start_timeout: float = START_TIMEOUT,
        cpu_affinity: Collection[int] | None = None,
    ) -> None:
        """Start QEMU; raises ``QemuNotFound`` or ``QemuStartError`` (with stderr).

        ``cpu_affinity`` pins every QEMU thread to those CPUs.  qtest is strict
        request/response, so QEMU sharing one CPU with the Python process that drives it
        avoids two cross-CPU wake-ups per command: on the 2-core TCG host a ``readl``
        round trip takes ~30 us that way and ~100-150 us when the scheduler puts the two
        on different CPUs.  Pin the caller to the same single CPU to get that.
        """
        self.binary = find_qemu(binary)
        self.machine = machine
        self.workdir = _make_workdir()
        self.stderr_path = self.workdir / "qemu.log"
        qtest_path = self.workdir / "qtest.sock"
        qmp_path = self.workdir / "qmp.sock"
        self.argv = build_argv(
            self.binary,
            machine=machine,
            memory_mib=memory_mib,
            devices=devices,
            extra_args=extra_args,
            qtest_socket=qtest_path,
            qmp_socket=qmp_path,
            bios=write_parked_cpu_bios(self.workdir),
        )
        self._stderr_text: str | None = None
        listeners = [_listen(qtest_path), _listen(qmp_path)]
        try:
            with open(self.stderr_path, "wb") as log:
                self._proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    preexec_fn=functools.partial(_child_setup, os.getpid(), cpu_affinity),
                    process_group=0,
                )
        except BaseException as exc:
            for listener in listeners:
                listener.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
            if isinstance(exc, subprocess.SubprocessError):  # the pre-exec hook failed
                raise QemuStartError(
                    f"could not prepare the QEMU child (cpu_affinity={cpu_affinity!r}?): {exc}"
                ) from exc
            raise
        self.pid = self._proc.pid
        self._pidfd = os.pidfd_open(self.pid)
        channels: list[socket.socket | QtestClient | QmpClient] = list(listeners)
        self._finalizer = weakref.finalize(
            self, _reap, self._proc, self._pidfd, self.workdir, channels
        )
        try:
            deadline = time.monotonic() + scaled(start_timeout)
            qtest_sock, qmp_sock = self._accept(listeners, deadline)
            self.qtest = QtestClient(qtest_sock, timeout=qtest_timeout)
            channels.append(self.qtest)
            try:
                self.qmp = QmpClient(qmp_sock, timeout=qmp_timeout, name=f"qemu-{self.pid}")
            except QmpError as exc:
                raise self._start_failure(f"QMP negotiation failed ({exc})") from None
            channels.append(self.qmp)
        except BaseException:
            self._keep_stderr()
            self._finalizer()
            raise

    @property
    def command_line(self) -> str:
        """The command line as one shell-quoted string, for reports."""
        return shlex.join(self.argv)

    @property
    def version(self) -> str:
        """QEMU's version text (``--version``, run once per binary)."""
        return qemu_version(self.binary)

    @property
    def returncode(self) -> int | None:
        """Exit status once QEMU has exited (negative: killed by that signal)."""
        return self._proc.poll()

    @property
    def stopped(self) -> bool:
        """Whether QEMU is stopped by a signal (SIGSTOP): alive but unable to answer."""
        return _is_stopped(self.pid)

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for QEMU to exit; its status, None if it still runs."""
        if self._finalizer.alive and self._proc.poll() is None:
            _wait_pidfd(self._pidfd, timeout)
        return self._proc.poll()

    def stderr_text(self) -> str:
        """Everything QEMU wrote to stdout/stderr so far (kept after ``close()``)."""
        if self._stderr_text is not None:
            return self._stderr_text
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> int:
        """Quit QEMU (QMP ``quit``, then SIGKILL if it lingers), reap it, remove the
        work directory; idempotent.  Returns the exit status."""
        if self._finalizer.alive:
            if self._proc.poll() is None and not _is_stopped(self.pid):
                # A hung QEMU times out, a dead one disconnects: _reap SIGKILLs both.
                with contextlib.suppress(QmpError):
                    self.qmp.quit(timeout=scaled(QUIT_TIMEOUT))
                    _wait_pidfd(self._pidfd, scaled(QUIT_TIMEOUT))
            self._keep_stderr()
            self._finalizer()
        return self._proc.returncode

    def __enter__(self) -> QemuProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(
        self, listeners: list[socket.socket], deadline: float
    ) -> tuple[socket.socket, socket.socket]:
        """Accept QEMU's qtest and QMP connections, failing fast if QEMU exits."""
        poller = select.poll()
        for listener in listeners:
            poller.register(listener.fileno(), select.POLLIN)
        poller.register(self._pidfd, select.POLLIN)
        accepted: dict[int, socket.socket] = {}
        while len(accepted) < len(listeners):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._start_failure("QEMU did not connect its qtest and QMP sockets in time")
            for fd, _ in poller.poll(int(remaining * 1000) + 1):
                if fd == self._pidfd:
                    raise self._start_failure("QEMU exited during start-up")
                listener = next(x for x in listeners if x.fileno() == fd)
                accepted[fd], _ = listener.accept()
                poller.unregister(fd)
        qtest_sock, qmp_sock = (accepted[x.fileno()] for x in listeners)
        for listener in listeners:
            listener.close()
        return qtest_sock, qmp_sock

    def _start_failure(self, reason: str) -> QemuStartError:
        """A ``QemuStartError`` quoting QEMU's last stderr line (waits briefly for the exit
        so the message that explains it has been written)."""
        _wait_pidfd(self._pidfd, scaled(1.0))
        status = self._proc.poll()
        detail = f" (exit status {status})" if status is not None else ""
        cause = _error_line(self.stderr_text(), Path(self.binary).name)
        tail = f": {cause}" if cause else ""
        return QemuStartError(f"{reason}{detail}{tail}\n  command line: {self.command_line}")

    def _keep_stderr(self) -> None:
        if self._stderr_text is None and self._finalizer.alive:
            self._stderr_text = self.stderr_text()


def _error_line(stderr: str, program: str) -> str:
    """The line of QEMU's stderr that explains a failure: the last ``program: ...`` error
    report (QEMU prefixes them so; hints such as "Use -machine help" follow them)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reports = [line for line in lines if line.startswith(f"{program}:")]
    return (reports or lines or [""])[-1]


def _is_stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped (SIGSTOP): it cannot answer QMP ``quit`` then."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def _make_workdir() -> Path:
    """A private temporary directory short enough for Unix socket paths."""
    base = tempfile.gettempdir()
    if len(base) + 40 > _SUN_PATH_MAX:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="ballast-qemu-", dir=base))


def _listen(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    return listener


def _child_setup(parent_pid: int, cpu_affinity: Collection[int] | None) -> None:
    """Pre-exec hook (runs in the child): SIGKILL this process when the parent dies, and
    apply the CPU affinity (inherited by every thread QEMU creates).

    If the parent already died before the prctl took effect, exit instead of running
    QEMU as an orphan.
    """
    if _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent_pid:
        os._exit(125)
    if cpu_affinity is not None:
        os.sched_setaffinity(0, cpu_affinity)


def _wait_pidfd(pidfd: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the process behind ``pidfd`` to exit."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(int(timeout * 1000) + 1))


def _reap(
    proc: subprocess.Popen[bytes],
    pidfd: int,
    workdir: Path,
    channels: Sequence[socket.socket | QtestClient | QmpClient],
) -> None:
    """Kill (if still running) and reap QEMU, then release sockets and files.

    Used by ``close()`` and as the finalizer: it must not reference the ``QemuProcess``.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    os.close(pidfd)
    for channel in channels:
        channel.close()
    shutil.rmtree(workdir, ignore_errors=True)
