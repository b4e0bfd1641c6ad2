"""How the end of a test body becomes a verdict (ballast.judge)."""

import pytest

from ballast.errors import ClauseViolated, NotObservable, PeerTimeout
from ballast.judge import judge
from ballast.monitors.verdicts import Finding, Verdict


def test_an_exception_group_ends_as_its_worst_member_with_its_message() -> None:
    group = ExceptionGroup("two failures", [PeerTimeout("no reply"), ValueError("queue 4")])
    judgement = judge(["core.device.reset.01"], [], group)
    assert judgement.verdict == Verdict.ERROR
    assert "ValueError: queue 4" in judgement.message


def test_a_group_of_unobservable_steps_is_not_observable() -> None:
    group = ExceptionGroup("two", [NotObservable("no page list"), NotObservable("no STOP")])
    judgement = judge(["core.device.reset.01"], [], group)
    assert judgement.verdict == Verdict.NOT_OBSERVABLE
    assert "no page list" in judgement.message and "no STOP" in judgement.message


@pytest.mark.parametrize("wrap", [lambda e: e, lambda e: ExceptionGroup("shrunk", [e, e])])
def test_a_test_stopped_on_a_violation_gets_that_clause_s_verdict(wrap) -> None:
    """A property test stops on any clause's violation: its verdict is that violation (on
    the clause it names), not ERROR, and the tagged clause keeps its own verdict."""
    findings = [
        Finding("core.driver.init.01", Verdict.PASS, "exercised", [], "driver"),
        Finding("balloon.driver.operation.06", Verdict.WARN, "page reused", [], "driver"),
    ]
    error = wrap(ClauseViolated(["balloon.driver.operation.06"], "page reused"))
    judgement = judge(["core.driver.init.01"], findings, error, subject="driver")
    assert judgement.verdict == Verdict.WARN
    assert judgement.clause_verdicts["core.driver.init.01"] == Verdict.PASS
    assert judgement.clause_verdicts["balloon.driver.operation.06"] == Verdict.WARN
    assert "balloon.driver.operation.06 (also seen): page reused" in judgement.message
