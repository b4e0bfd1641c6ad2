"""One knob for every timeout ballast waits on (QEMU, qtest, QMP, the reference driver).

Timeouts are sized for an idle 2-core TCG machine; a loaded CI runner or a sanitizer
build of QEMU is slower by a roughly constant factor, so one environment variable scales
them all instead of each call site growing its own override.
"""

from __future__ import annotations

import os

TIMEOUT_FACTOR_ENV = "BALLAST_TIMEOUT_FACTOR"


def timeout_factor() -> float:
    """The factor from ``BALLAST_TIMEOUT_FACTOR`` (default 1.0); must be a positive number."""
    raw = os.environ.get(TIMEOUT_FACTOR_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        factor = float(raw)
    except ValueError:
        factor = 0.0
    if not factor > 0.0 or factor == float("inf"):
        raise ValueError(f"{TIMEOUT_FACTOR_ENV}={raw!r}: expected a positive number such as 2.5")
    return factor


def scaled(seconds: float) -> float:
    """``seconds`` multiplied by the global timeout factor."""
    return seconds * timeout_factor()
