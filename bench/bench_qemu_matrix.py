"""What the whole QEMU device suite costs: wall time of its CI matrix serial and with
``-n 2``, and each test's cost split into QEMU start-up, test body and teardown.  The
device suite is every test that judges the device (``suites/device`` and the device
property test); the driver tests of ``ballast run --device qemu`` run on the reference
pair and are not counted.

The serial run happens in this process (pytest.main) with a probe that reads each
QemuLink's own phase timings (``start``: spawn to QMP ready; ``open``: PCI scan or MMIO
probe, monitors, host interface; ``close``: QMP quit and reap) and the call phase's
duration, whose remainder is the body.  The parallel run is the same selection under
``pytest -n``.  Run: ``.venv/bin/python bench/bench_qemu_matrix.py [--matrix qemu-ci] [-n 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import pytest

from ballast.paths import REPO_ROOT
from ballast.targets.qemu.link import QemuLink

DEVICE_SUITE = [
    str(REPO_ROOT / "suites" / "device"),
    str(REPO_ROOT / "suites" / "properties" / "test_random_activity.py")
    + "::test_random_activity_device_under_test",
]


class PhaseProbe:
    """A pytest plugin: per test, the phase timings of the QEMU links it opened."""

    def __init__(self) -> None:
        self.links: dict[str, list[dict[str, float]]] = defaultdict(list)
        self.calls: dict[str, float] = {}
        self.current = ""
        self._close = QemuLink.close

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.current = item.nodeid

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.calls[report.nodeid] = report.duration

    def install(self) -> None:
        probe = self

        def close(link: QemuLink) -> None:
            probe._close(link)
            if "close" in link.timings:
                probe.links[probe.current].append(dict(link.timings))
                link.timings.pop("close")  # a second close() must not count twice

        QemuLink.close = close  # type: ignore[method-assign]

    def uninstall(self) -> None:
        QemuLink.close = self._close  # type: ignore[method-assign]


def serial(matrix: str) -> tuple[float, PhaseProbe]:
    probe = PhaseProbe()
    probe.install()
    began = time.perf_counter()
    try:
        code = pytest.main(
            ["-q", "-p", "no:cacheprovider", *DEVICE_SUITE, "--device", "qemu", "--matrix", matrix],
            plugins=[probe],
        )
    finally:
        probe.uninstall()
    if code not in (0, 1):
        sys.exit(f"serial run failed to run (pytest exit {code})")
    return time.perf_counter() - began, probe


def parallel(matrix: str, workers: int) -> float:
    began = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            str(workers),
            *DEVICE_SUITE,
            "--device",
            "qemu",
            "--matrix",
            matrix,
        ],
        cwd=REPO_ROOT,
        check=False,
        capture_output=True,
    )
    return time.perf_counter() - began


def split(probe: PhaseProbe) -> dict[str, Any]:
    """Medians (ms) of start-up, body and teardown over the tests that opened one link."""
    phases: dict[str, list[float]] = defaultdict(list)
    for node, links in probe.links.items():
        if len(links) != 1 or node not in probe.calls:
            continue
        (t,) = links
        phases["start-up"].append(t["start"] + t["open"])
        phases["body"].append(probe.calls[node] - t["start"] - t["open"])
        phases["teardown"].append(t["close"])
    return {p: round(statistics.median(v) * 1000, 1) for p, v in phases.items()} | {
        "tests": len(phases["body"])
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix", default="qemu-ci")
    parser.add_argument("-n", dest="workers", type=int, default=2)
    args = parser.parse_args()
    took, probe = serial(args.matrix)
    per_test = split(probe)
    took_n = parallel(args.matrix, args.workers)
    print(f"matrix {args.matrix}: {len(probe.calls)} tests")
    print(f"serial        {took:6.1f} s")
    print(f"-n {args.workers:<10} {took_n:6.1f} s")
    print(
        f"per test (median of {per_test['tests']} single-link tests): start-up "
        f"{per_test['start-up']} ms, body {per_test['body']} ms, teardown {per_test['teardown']} ms"
    )


if __name__ == "__main__":
    main()
