"""From monitor findings (and how the test body ended) to one test's verdict.

The verdict of a test is what the monitors of its tagged clauses report: the worst
finding per tagged clause, and the worst of those for the test.  A violation another
monitor saw during the test is kept against that monitor's own clause.  A tagged clause
no monitor reached is a harness ERROR (the test did not exercise what it claims), unless
the implementation stopped answering (TIMEOUT) or died (CRASH) first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ballast.errors import ClauseViolated, NotObservable, NotSupported, PeerCrashed, PeerTimeout
from ballast.monitors.verdicts import Finding, Verdict, worst

VIOLATIONS = (Verdict.FAIL, Verdict.WARN)


@dataclass
class Judgement:
    verdict: Verdict
    message: str
    clause_verdicts: dict[str, Verdict]
    findings: list[Finding] = field(default_factory=list)


def judge(
    tagged: list[str],
    findings: list[Finding],
    error: BaseException | None = None,
    provoked: tuple[str, ...] = (),
    subject: str | None = None,
) -> Judgement:
    """``provoked`` clauses are ones the test's own scenario breaks on purpose (a driver
    told to decline MUST_TELL_HOST, say), and findings against the reference peer (not the
    ``subject``) are consequences of what the subject did: neither says anything about the
    implementation under test, so both are left out."""
    findings = [
        f
        for f in findings
        if f.clause not in provoked
        and (subject is None or f.clause in tagged or f.judged in ("", subject))
    ]
    by_clause: dict[str, list[Finding]] = {}
    for finding in findings:
        by_clause.setdefault(finding.clause, []).append(finding)
    early = _early_exit(error)
    clause_verdicts: dict[str, Verdict] = {}
    messages: list[str] = []
    for clause in tagged:
        found = by_clause.get(clause, [])
        if early is not None and (
            early[0] in (Verdict.NOT_SUPPORTED, Verdict.NOT_OBSERVABLE)
            or not any(f.verdict in VIOLATIONS for f in found)
        ):
            clause_verdicts[clause] = early[0]
            messages.append(f"{clause}: {early[1]}")
            continue
        if not found:
            clause_verdicts[clause] = Verdict.ERROR
            messages.append(f"{clause}: the test never reached what this clause is about")
            continue
        verdict = worst([f.verdict for f in found])
        clause_verdicts[clause] = verdict
        messages.extend(f"{clause}: {f.message}" for f in found if f.verdict == verdict)
    for clause, found in by_clause.items():
        if clause in clause_verdicts:
            continue
        bad = [f for f in found if f.verdict in VIOLATIONS]
        if bad:
            clause_verdicts[clause] = worst([f.verdict for f in bad])
            messages.extend(f"{clause} (also seen): {f.message}" for f in bad)
    stopped_on = [c for c in _violated(error) if c in clause_verdicts]
    verdict = worst([clause_verdicts[c] for c in [*tagged, *stopped_on]])
    relevant = [f for f in findings if f.clause in tagged or f.verdict in VIOLATIONS]
    return Judgement(verdict, "; ".join(dict.fromkeys(messages)), clause_verdicts, relevant)


def _violated(error: BaseException | None) -> list[str]:
    """The clauses a ``ClauseViolated`` (or a group holding some) stopped the test on."""
    if isinstance(error, BaseExceptionGroup):
        return [c for e in error.exceptions for c in _violated(e)]
    return list(error.clauses) if isinstance(error, ClauseViolated) else []


def _early_exit(error: BaseException | None) -> tuple[Verdict, str] | None:
    """How the test body ended.  A group of exceptions (hypothesis raises one when it finds
    several distinct failures) ends as its worst member, with every member's message."""
    if error is None or isinstance(error, ClauseViolated):
        return None  # the monitors' findings say what happened
    if isinstance(error, BaseExceptionGroup):
        leaves = [exit for e in error.exceptions if (exit := _early_exit(e)) is not None]
        if not leaves:
            return None
        verdict = worst([v for v, _ in leaves])
        return verdict, " | ".join(dict.fromkeys(m for v, m in leaves if v == verdict))
    if isinstance(error, NotSupported):
        return Verdict.NOT_SUPPORTED, str(error)
    if isinstance(error, NotObservable):
        return Verdict.NOT_OBSERVABLE, str(error)
    if isinstance(error, PeerCrashed):
        return Verdict.CRASH, str(error)
    if isinstance(error, (PeerTimeout, TimeoutError)):
        return Verdict.TIMEOUT, str(error) or type(error).__name__
    return Verdict.ERROR, f"{type(error).__name__}: {error}"
