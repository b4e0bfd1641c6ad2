"""`ballast selftest`'s analysis: what counts as a caught variant and what is a defect."""

from __future__ import annotations

from typing import Any

import pytest

from ballast.reference.faults import FAULTS
from ballast.selftest import analyse
from ballast.spec.catalogue import load_catalogue

# One fault with a declared co-violation and one without, both on the driver side.
DECLARED = FAULTS["driver", "clear_status_bit"]
PLAIN = FAULTS["driver", "never_update_actual"]


def run(variant: str | None, clause: str, verdicts: dict[str, str]) -> dict[str, Any]:
    return {
        "nodeid": f"suites/driver/test_x.py::test_{clause}[pci-modern-{variant or 'clean'}]",
        "clauses": [clause],
        "primary": clause,
        "provoked": [],
        "subject": "driver",
        "params": {"variant": variant},
        "verdict": "PASS" if variant is None else verdicts[clause],
        "message": "",
        "clause_verdicts": verdicts,
    }


def defects(*runs: dict[str, Any]) -> list[str]:
    return analyse({"tests": list(runs)}, load_catalogue(), complete=False).defects


def test_a_variant_caught_through_its_own_clause_only_is_no_defect() -> None:
    clause = PLAIN.clause
    assert (
        defects(run(None, clause, {clause: "PASS"}), run(PLAIN.name, clause, {clause: "FAIL"}))
        == []
    )


def test_an_undeclared_stray_violation_is_a_defect() -> None:
    clause = PLAIN.clause
    found = defects(
        run(None, clause, {clause: "PASS"}),
        run(PLAIN.name, clause, {clause: "FAIL", "core.driver.init.01": "FAIL"}),
    )
    assert len(found) == 1
    assert "never_update_actual also breaks core.driver.init.01 (undeclared" in found[0]


def test_a_declared_co_violation_is_accepted() -> None:
    clause = DECLARED.clause
    assert DECLARED.also == ("core.driver.init.01",)
    verdicts = {clause: "FAIL", "core.driver.init.01": "FAIL"}
    assert defects(run(None, clause, {clause: "PASS"}), run(DECLARED.name, clause, verdicts)) == []


def test_a_variant_that_is_not_caught_is_a_defect() -> None:
    clause = PLAIN.clause
    found = defects(run(None, clause, {clause: "PASS"}), run(PLAIN.name, clause, {clause: "PASS"}))
    assert any("variant driver:never_update_actual is not caught" in d for d in found)
    assert any("a test that cannot fail" in d for d in found)


def test_also_needs_its_reason() -> None:
    from ballast.reference.fault import Fault

    with pytest.raises(ValueError, match="go together"):
        Fault("x", "driver", "core.driver.init.01", "what", also=("core.driver.init.03",))
