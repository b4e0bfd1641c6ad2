"""balloon.driver.operation.01 after a deflate on OOM: the hold lasts until the host asks
for a different size (found by the property suite: a repeated target was a false WARN)."""

from __future__ import annotations

from ballast.harness import TRANSPORT_PARAMS, build
from ballast.monitors.verdicts import Verdict
from ballast.spec.catalogue import load_catalogue
from ballast.targets import Choice
from ballast.targets.reference import REFERENCE
from suites import scenarios as s


def _link():
    return build(
        "driver",
        TRANSPORT_PARAMS[0],
        Choice("device", REFERENCE, None),
        Choice("driver", REFERENCE, None),
        load_catalogue(),
        {},
    )


def _operation_01(h) -> list[Verdict]:
    return [f.verdict for f in h.findings() if f.clause == "balloon.driver.operation.01"]


def test_repeating_the_target_does_not_end_the_oom_hold() -> None:
    h = s.deflate_on_oom(_link())
    s.target(h, 512)
    assert Verdict.WARN not in _operation_01(h)
    h.close()


def test_a_new_target_ends_the_hold_and_the_driver_refills() -> None:
    h = s.deflate_on_oom(_link())
    s.target(h, 600)
    assert _operation_01(h) == [Verdict.PASS]
    h.close()
