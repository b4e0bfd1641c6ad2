"""Clause monitors: event consumers that turn observations into verdicts on clauses.

A monitor *judges* one side (device or driver).  It receives only events observed by the
other side, by the host interface, or by the backdoor — never the judged side's account of
itself — so the same monitor judges the reference implementation, QEMU or Linux alike.
(For a MAY clause the judged side is the peer that must tolerate the permission.)

A monitor records per clause: violations (with evidence), or that the situation the clause
is about occurred and was handled correctly ("exercised").  At the end of a test a clause
with a violation gets its violation verdict, an exercised one PASS, one whose situation
occurred but could not be told apart from a violation on this peer NOT_OBSERVABLE, one whose
condition was false NOT_APPLICABLE, and one never reached no finding at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from ballast.monitors.events import Event, EventLog, Kind
from ballast.monitors.verdicts import Finding, Verdict
from ballast.spec.catalogue import Catalogue
from ballast.virtio.features import Feature, has

MAX_EVIDENCE = 8


class MonitorContext:
    """What monitors share on one link: the catalogue (levels, conditions), the negotiated
    features as each side saw them, and the backdoor to guest memory."""

    def __init__(
        self,
        catalogue: Catalogue,
        log: EventLog,
        watch: Callable[[Iterable[int]], None] | None = None,
        unwatch: Callable[[Iterable[int]], None] | None = None,
        read_memory: Callable[[int, int], bytes] | None = None,
        interpretations: dict[str, str] | None = None,
        transport: str = "",
    ) -> None:
        self.catalogue = catalogue
        self.transport = transport  # "pci" | "mmio": the bus of the link
        self.log = log
        self._watch = watch
        self._unwatch = unwatch
        self.read_memory = read_memory
        self.interpretations = interpretations or {}
        self._watch_counts: dict[int, int] = {}
        self.negotiated: dict[str, int | None] = {"device": None, "driver": None}
        self.legacy: dict[str, bool] = {"device": False, "driver": False}
        self.driver_transitional = True
        """What the driver under test declares itself: transitional (it has a legacy
        interface) or not; the spec's rules for a device without virtio capabilities
        differ between the two."""

    @property
    def can_watch(self) -> bool:
        return self._watch is not None

    def watch(self, pfns: Iterable[int]) -> None:
        if self._watch is None:
            return
        new = []
        for pfn in pfns:
            count = self._watch_counts.get(pfn, 0)
            self._watch_counts[pfn] = count + 1
            if not count:
                new.append(pfn)
        if new:
            self._watch(new)

    def unwatch(self, pfns: Iterable[int]) -> None:
        if self._unwatch is None:
            return
        gone = []
        for pfn in pfns:
            count = self._watch_counts.get(pfn, 0) - 1
            if count <= 0:
                self._watch_counts.pop(pfn, None)
                if count == 0:
                    gone.append(pfn)
            else:
                self._watch_counts[pfn] = count
        if gone:
            self._unwatch(gone)


class Monitor:
    """Base class: subclasses set ``judges`` and ``clauses`` and define ``on_<kind>``."""

    judges: ClassVar[str]  # "device" | "driver"
    clauses: ClassVar[tuple[str, ...]]

    def __init__(self, ctx: MonitorContext) -> None:
        self.ctx = ctx
        self._violations: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
        self._exercised: set[str] = set()
        self._not_applicable: dict[str, str] = {}
        self._not_observable: dict[str, str] = {}
        self._handlers = {
            name[3:]: getattr(self, name) for name in dir(self) if name.startswith("on_")
        }
        self.reset_state()

    def reset_state(self) -> None:
        """(Re)start the per-link bookkeeping: at creation and whenever the device is reset.
        Findings so far are kept."""

    # -- plumbing ---------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        if event.observer == self.judges:
            return  # never the judged side's own account
        kind = event.kind
        if kind in (Kind.DEVICE_RESET, Kind.DRIVER_RESET):
            self.reset_state()
        if kind == Kind.REQUEST_SUBMITTED:
            kind = f"{event['role']}_submitted"
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(event)

    def finish(self) -> None:
        """End of test: judge what can only be judged once everything has happened."""

    def violations(self) -> list[tuple[str, str]]:
        """(clause, message) of every violation so far, without finishing the monitor."""
        return [
            (clause, message)
            for clause, records in self._violations.items()
            for message, _ in records
        ]

    def findings(self) -> list[Finding]:
        found = []
        for clause in self.clauses:
            if clause in self._violations:
                level = self.ctx.catalogue.get(clause).violation
                for message, evidence in self._violations[clause]:
                    found.append(Finding(clause, Verdict(level), message, evidence, self.judges))
            elif clause in self._exercised:
                found.append(
                    Finding(clause, Verdict.PASS, "exercised without violation", [], self.judges)
                )
            elif clause in self._not_observable:
                found.append(
                    Finding(
                        clause,
                        Verdict.NOT_OBSERVABLE,
                        self._not_observable[clause],
                        [],
                        self.judges,
                    )
                )
            elif clause in self._not_applicable:
                found.append(
                    Finding(
                        clause,
                        Verdict.NOT_APPLICABLE,
                        self._not_applicable[clause],
                        [],
                        self.judges,
                    )
                )
        return found

    # -- for subclasses ---------------------------------------------------------------------

    def violation(self, clause: str, message: str, *evidence: Event | dict[str, Any]) -> None:
        assert clause in self.clauses, f"{type(self).__name__} does not own {clause}"
        records = self._violations.setdefault(clause, [])
        if len(records) < MAX_EVIDENCE:
            records.append((message, [_evidence(e) for e in evidence]))

    def exercised(self, clause: str) -> None:
        assert clause in self.clauses, f"{type(self).__name__} does not own {clause}"
        self._exercised.add(clause)

    def not_applicable(self, clause: str, reason: str) -> None:
        self._not_applicable.setdefault(clause, reason)

    def not_observable(self, clause: str, reason: str) -> None:
        """The situation occurred, but what this peer showed cannot tell a violation from
        compliance (a PASS here would be a test that cannot fail)."""
        assert clause in self.clauses, f"{type(self).__name__} does not own {clause}"
        self._not_observable.setdefault(clause, reason)

    def negotiated(self, feature: Feature) -> bool | None:
        """Whether ``feature`` was negotiated, as the non-judged side saw it (None: unknown
        yet)."""
        seen = self.ctx.negotiated["driver" if self.judges == "device" else "device"]
        return None if seen is None else has(seen, feature)

    @property
    def legacy_link(self) -> bool:
        return self.ctx.legacy["driver" if self.judges == "device" else "device"]


def _evidence(item: Event | dict[str, Any]) -> dict[str, Any]:
    if isinstance(item, Event):
        return {
            "seq": item.seq,
            "observer": item.observer,
            "kind": item.kind,
            **{k: jsonable(v) for k, v in item.data.items()},
        }
    return {k: jsonable(v) for k, v in item.items()}


def jsonable(value: Any, limit: int = 16) -> Any:
    """Evidence as results.json can carry it: long lists cut, bytes as (short) hex."""
    if isinstance(value, bytes | bytearray):
        return value[:32].hex() + ("..." if len(value) > 32 else "")
    if isinstance(value, list | tuple):
        items = [jsonable(v, limit) for v in value[:limit]]
        return [*items, f"... {len(value) - limit} more"] if len(value) > limit else items
    if isinstance(value, dict):
        return {str(k): jsonable(v, limit) for k, v in value.items()}
    return value


class NegotiationTracker:
    """Keeps :class:`MonitorContext.negotiated` current from both sides' observations."""

    def __init__(self, ctx: MonitorContext) -> None:
        self.ctx = ctx

    def feed(self, event: Event) -> None:
        if event.kind == Kind.DRIVER_OK_SEEN:
            self.ctx.negotiated["device"] = event["negotiated"]
            self.ctx.legacy["device"] = event.data.get("legacy", False)
        elif event.kind == Kind.FEATURES_OK_DECIDED and event["accepted"]:
            self.ctx.negotiated["device"] = event["features"]
        elif event.kind == Kind.DRIVER_NEGOTIATED:
            self.ctx.negotiated["driver"] = event["features"]
            self.ctx.legacy["driver"] = event["legacy"]
        elif event.kind == Kind.DEVICE_RESET:
            self.ctx.negotiated["device"] = None
