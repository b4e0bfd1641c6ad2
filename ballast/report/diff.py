"""What changed between two runs, per test and per clause: the view a reviewer needs when a
new implementation version (or a new ballast) changes verdicts.

Transitions are classified so the alarming ones come first: newly failing, a changed
failure mode (FAIL -> TIMEOUT, or the same verdict on a different clause), newly passing,
other changes (PASS -> NOT_SUPPORTED, say), and tests or clause entries added or removed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from ballast.report.rollup import FAILING, Rollup, verdicts_by_clause

KINDS = ("newly_failing", "changed_failure", "newly_passing", "changed", "added", "removed")
BAD_TEST = frozenset({"FAIL", "WARN", "CRASH", "TIMEOUT", "ERROR"})
BAD_ROLLUP = frozenset({Rollup.NONCOMPLIANT, Rollup.PARTIAL})

Classifier = Callable[[dict[str, Any], dict[str, Any]], str | None]


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per-test and per-clause transitions from ``before`` to ``after``."""
    return {
        "before": before["run"]["id"],
        "after": after["run"]["id"],
        "tests": _transitions(
            [_test_state(t) for t in before["tests"]],
            [_test_state(t) for t in after["tests"]],
            _test_kind,
        ),
        "clauses": _transitions(
            _clause_states(before["clauses"]), _clause_states(after["clauses"]), _clause_kind
        ),
    }


def _test_state(test: dict[str, Any]) -> dict[str, Any]:
    """A test's failure mode is which clauses fail, and how."""
    failing = {c: v for c, v in verdicts_by_clause(test).items() if v in BAD_TEST}
    return {
        "key": test["nodeid"],
        "state": test["verdict"],
        "failing": failing,
        "mode": failing,
        "message": " ".join(test["message"].split()),
    }


def _clause_states(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Clause entries keyed by clause ID and judged side, never by implementation label, so
    a run of one implementation compares with a run of another (QEMU 7.2 against 8.0, a
    variant against the clean reference).  The side shows in the key only where it is not
    the clause's own role (a device judged on tolerating a driver's MAY), and the label only
    where one run judged several implementations on one side."""
    per_side = Counter((e["id"], e["side"]) for e in entries)
    return [_clause_state(e, per_side[e["id"], e["side"]] > 1) for e in entries]


def _clause_state(entry: dict[str, Any], qualify: bool) -> dict[str, Any]:
    """A clause's failure mode is which kinds of failure its tests show (not how many)."""
    failing = {v: n for v, n in entry["verdicts"].items() if v in FAILING}
    key = entry["id"]
    if entry["side"] != entry["role"]:
        key += f" @ {entry['side']}"
    if qualify:
        key += f" @ {entry['implementation']}"
    return {
        "key": key,
        "clause": entry["id"],
        "state": entry["rollup"],
        "failing": failing,
        "mode": sorted(failing),
    }


def _test_kind(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    bad_a, bad_b = a["state"] in BAD_TEST, b["state"] in BAD_TEST
    return _kind(a, b, bad_a, bad_b, passing=b["state"] == "PASS")


def _clause_kind(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    bad_a, bad_b = a["state"] in BAD_ROLLUP, b["state"] in BAD_ROLLUP
    return _kind(a, b, bad_a, bad_b, passing=b["state"] == Rollup.COMPLIANT)


def _kind(
    a: dict[str, Any], b: dict[str, Any], bad_a: bool, bad_b: bool, passing: bool
) -> str | None:
    if bad_b and not bad_a:
        return "newly_failing"
    if bad_a and bad_b and (a["state"] != b["state"] or a["mode"] != b["mode"]):
        return "changed_failure"
    if bad_a and passing:
        return "newly_passing"
    return "changed" if a["state"] != b["state"] else None


def _transitions(
    before: Iterable[dict[str, Any]], after: Iterable[dict[str, Any]], classify: Classifier
) -> dict[str, list[dict[str, Any]]]:
    old = {s["key"]: s for s in before}
    new = {s["key"]: s for s in after}
    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for key in dict.fromkeys([*old, *new]):
        a, b = old.get(key), new.get(key)
        kind = "added" if a is None else "removed" if b is None else classify(a, b)
        if kind is not None:
            out[kind].append(
                {
                    "key": key,
                    **({"clause": (b or a)["clause"]} if "clause" in (b or a) else {}),
                    "before": a and a["state"],
                    "after": b and b["state"],
                    "failing_before": a["failing"] if a else {},
                    "failing_after": b["failing"] if b else {},
                    **({"message": b["message"]} if b and "message" in b else {}),
                }
            )
    return out


def format_text(changes: dict[str, Any]) -> str:
    """The diff for a terminal or a CI log: counts first, then one line per transition."""
    lines = [f"ballast report diff: run {changes['before']} -> run {changes['after']}"]
    for what in ("tests", "clauses"):
        counts = ", ".join(f"{len(changes[what][k])} {k.replace('_', ' ')}" for k in KINDS)
        lines.append(f"{what}: {counts}")
    for what in ("tests", "clauses"):
        for kind in KINDS:
            found = changes[what][kind]
            if not found:
                continue
            lines += ["", f"{kind.replace('_', ' ')} {what} ({len(found)}):"]
            lines += [_line(t) for t in found]
    return "\n".join(lines)


def _line(change: dict[str, Any]) -> str:
    states = f"{change['before'] or '-'} -> {change['after'] or '-'}"
    was, now = _failures(change["failing_before"]), _failures(change["failing_after"])
    if was and now and was != now:
        detail = f"{was} -> {now}"
    else:
        detail = now or (f"was {was}" if was else "")
    tail = f"  [{detail}]" if detail else ""
    if change.get("message") and change["after"] in BAD_TEST:
        tail += f"  {change['message'][:120]}"
    return f"  {states:30} {change['key']}{tail}"


def _failures(failing: dict[str, Any]) -> str:
    """``clause VERDICT`` for a test, ``N VERDICT`` for a clause's verdict counts."""
    return ", ".join(f"{v} {k}" if isinstance(v, int) else f"{k} {v}" for k, v in failing.items())
