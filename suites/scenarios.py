"""Scenarios shared by the suites: each drives a link through one kind of balloon activity.

They speak to the two sides only through the harness: ``h.host`` (the device's host
interface, what QMP is to QEMU) and ``h.driver`` (the driver's guest-side hooks), so the
same scenario runs whichever side is the implementation under test.
"""

from __future__ import annotations

import contextlib

from ballast.harness import Harness
from ballast.reference.allocator import PageState
from ballast.reference.driver import FeaturesRefused
from ballast.reference.faults import faults_of

from ballast.reference.device import DEFAULT_FEATURES
from ballast.reference.driver import DEFAULT_ACCEPT
from ballast.virtio.features import mask

__all__ = ["FeaturesRefused", "contextlib", "faults_of"]


def accept_without(*names: str) -> int:
    """The reference driver's default acceptance minus some features."""
    return DEFAULT_ACCEPT & ~mask(*names)


def offer_without(*names: str) -> int:
    """The reference device's default offer minus some features."""
    return DEFAULT_FEATURES & ~mask(*names)


def start(h: Harness) -> Harness:
    h.driver.init()
    h.driver.run_until_idle()
    return h


def settle(h: Harness) -> None:
    h.driver.run_until_idle()


def target(h: Harness, pages: int) -> None:
    h.host.set_target(pages)
    settle(h)


def use_all_free(h: Harness) -> None:
    """Guest applications take every free page (so returned pages get touched)."""
    h.driver.use_pages(h.driver.pool.count(PageState.FREE))


def inflate_deflate(h: Harness, up: int = 600, down: int = 100) -> None:
    start(h)
    target(h, up)
    target(h, down)
    use_all_free(h)


def stats_rounds(h: Harness, rounds: int = 3) -> dict[int, int]:
    start(h)
    stats: dict[int, int] = {}
    for _ in range(rounds):
        h.host.request_stats()
        settle(h)
        stats = h.host.read_stats()
    return stats


def hint_round(h: Harness, finish: bool = True) -> None:
    start(h)
    h.host.start_hinting()
    settle(h)
    if finish:
        h.host.finish_hinting()
        settle(h)


def report(h: Harness, pages: int = 1024) -> None:
    start(h)
    h.driver.report_free_pages(pages)
    settle(h)
    use_all_free(h)
