"""What one QEMU-device link costs a suite run, split into its phases.

For each transport it opens ``--links`` fresh links (as the harness does per test) and
times: QEMU start-up (``QemuProcess``: spawn, both sockets connected, QMP negotiated),
opening the device (PCI scan or MMIO probe, BAR assignment, monitors, host interface),
a test body (``--body``), the monitors' findings, and teardown (QMP ``quit``, reap).
``basic`` is init + inflate 600 pages + deflate to 100 + one stats round trip, the
shape of most device tests; ``hint`` is init + one free page hinting round through a
stalled migration (every pool page hinted), the most expensive body.

The host is shared and noisy: compare medians.  Run:
``.venv/bin/python bench/bench_qemu_suite.py [--links 10] [--body basic|hint]
[--transport pci-modern ...]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from ballast.link import TRANSPORTS, LinkConfig
from ballast.spec.catalogue import load_catalogue
from ballast.targets.qemu.link import QemuLink

PHASES = ("start", "open", "body", "findings", "close")


def basic_body(link: QemuLink) -> None:
    link.driver.init()
    link.device.set_target(600)
    link.driver.run_until_idle()
    link.device.set_target(100)
    link.driver.run_until_idle()
    link.device.request_stats()
    link.driver.run_until_idle()
    link.device.read_stats()


def hint_body(link: QemuLink) -> None:
    link.driver.init()
    link.device.start_hinting()
    link.driver.run_until_idle()
    link.device.finish_hinting()
    link.driver.run_until_idle()


BODIES: dict[str, Callable[[QemuLink], None]] = {"basic": basic_body, "hint": hint_body}


def one_link(transport: str, body: Callable[[QemuLink], None], catalogue: object) -> list[float]:
    """Seconds per phase of one link, in ``PHASES`` order."""
    link = QemuLink(LinkConfig(transport=transport), catalogue)  # type: ignore[arg-type]
    try:
        began = time.perf_counter()
        body(link)
        body_time = time.perf_counter() - began
        began = time.perf_counter()
        link.findings()
        findings_time = time.perf_counter() - began
    finally:
        link.close()
    timings = link.timings
    return [timings["start"], timings["open"], body_time, findings_time, timings["close"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=10, help="links per transport")
    parser.add_argument("--body", choices=sorted(BODIES), default="basic")
    parser.add_argument("--transport", action="append", choices=sorted(TRANSPORTS))
    args = parser.parse_args()
    catalogue = load_catalogue()
    body = BODIES[args.body]
    print(f"{args.links} links per transport, body {args.body!r}; medians in ms")
    print(f"{'transport':<18}" + "".join(f"{p:>10}" for p in PHASES) + f"{'total':>10}")
    for transport in args.transport or list(TRANSPORTS):
        one_link(transport, body, catalogue)  # warm-up: page cache, imports
        runs = [one_link(transport, body, catalogue) for _ in range(args.links)]
        medians = [statistics.median(run[i] for run in runs) * 1e3 for i in range(len(PHASES))]
        total = statistics.median(sum(run) for run in runs) * 1e3
        print(f"{transport:<18}" + "".join(f"{m:10.1f}" for m in medians) + f"{total:10.1f}")


if __name__ == "__main__":
    main()
