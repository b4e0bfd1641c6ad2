"""How the end of a test body becomes a verdict (ballast.judge)."""

from ballast.errors import NotObservable, PeerTimeout
from ballast.judge import judge
from ballast.monitors.verdicts import Verdict


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
