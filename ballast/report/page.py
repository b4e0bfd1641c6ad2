"""index.html: the clause matrix with filters, coverage, certification and the evidence of
every test that did not pass or saw a violation, in one self-contained file.

The rows are rendered here, server side; the page's script only toggles their ``hidden``
attribute, so filtering 500 clauses x 4 implementations is one linear pass with no layout
reads in between.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ballast.report.rollup import (
    FAILING,
    ORDER,
    Rollup,
    describe_counts,
    verdict_counts,
    verdicts_by_clause,
)
from ballast.report.templates import asset, environment
from ballast.spec.catalogue import LEVELS, Catalogue

MAX_CELL_LINKS = 4
EVENT_KEYS = ("seq", "observer", "kind")


@dataclass
class Cell:
    rollup: str
    verdicts: list[str]
    counts: str
    links: list[tuple[str, str, str]]  # (anchor, verdict, node ID) of tests with evidence
    more: int


@dataclass
class Row:
    id: str
    role: str
    level: str
    area: str
    text: str
    testability: str
    suspect: bool
    features: list[str]
    profiles: list[str]
    cells: list[Cell | None]

    @property
    def tokens(self) -> str:
        """What the verdict filter matches: ``<column>.<VERDICT>`` and ``<column>.=<ROLLUP>``
        for each cell, and the same with column ``*`` (any implementation)."""
        marks = [
            (col, mark)
            for col, cell in enumerate(self.cells)
            if cell
            for mark in [*cell.verdicts, f"={cell.rollup}"]
        ]
        return " ".join(dict.fromkeys(t for c, m in marks for t in (f"{c}.{m}", f"*.{m}")))


@dataclass
class Filters:
    roles: list[str]
    levels: list[str]
    areas: list[str]
    features: list[str]
    profiles: list[str]
    verdicts: list[str]
    rollups: list[str]


def render_page(results: dict[str, Any], catalogue: Catalogue) -> str:
    tests = results["tests"]
    anchors = {t["nodeid"]: f"t{i}" for i, t in enumerate(tests) if _has_evidence(t)}
    columns = list(dict.fromkeys(_column(e) for e in results["clauses"]))
    rows = _rows(results["clauses"], columns, anchors, {t["nodeid"]: t for t in tests}, catalogue)
    return (
        environment()
        .get_template("index.html")
        .render(
            run=results["run"],
            columns=[{"name": impl, "side": side} for impl, side in columns],
            rows=rows,
            filters=_filters(rows, catalogue),
            coverage=results["coverage"],
            areas=_areas(results["coverage"]),
            certification=results["certification"],
            failed=_failed(tests, anchors),
            totals=describe_counts(verdict_counts(t["verdict"] for t in tests)),
            css=asset("report.css"),
            js=asset("report.js"),
        )
    )


def _column(entry: dict[str, Any]) -> tuple[str, str]:
    return entry["implementation"], entry["side"]


def _rows(
    entries: Sequence[dict[str, Any]],
    columns: list[tuple[str, str]],
    anchors: dict[str, str],
    tests: dict[str, dict[str, Any]],
    catalogue: Catalogue,
) -> list[Row]:
    index = {c: i for i, c in enumerate(columns)}
    rows: dict[str, Row] = {}
    for e in entries:
        row = rows.get(e["id"])
        if row is None:
            known = catalogue.get(e["id"]) if e["id"] in catalogue else None
            row = rows[e["id"]] = Row(
                id=e["id"],
                role=e.get("role", ""),
                level=e.get("level", ""),
                area=e.get("area", ""),
                text=e.get("text", ""),
                testability=e.get("testability", ""),
                suspect=bool(e.get("suspect")),
                features=list(dict.fromkeys(known.features)) if known else [],
                profiles=list(known.profiles) if known else [],
                cells=[None] * len(columns),
            )
        row.cells[index[_column(e)]] = _cell(e, anchors, tests)
        row.suspect = row.suspect or bool(e.get("suspect"))
    return list(rows.values())


def _cell(e: dict[str, Any], anchors: dict[str, str], tests: dict[str, dict[str, Any]]) -> Cell:
    failed = [n for n in e["tests"] if n in anchors]
    links = [
        (anchors[n], verdicts_by_clause(tests[n]).get(e["id"], tests[n]["verdict"]), n)
        for n in failed[:MAX_CELL_LINKS]
    ]
    counts = " · ".join(f"{n} {v}" for v, n in e["verdicts"].items())
    return Cell(e["rollup"], list(e["verdicts"]), counts, links, len(failed) - len(links))


def _filters(rows: list[Row], catalogue: Catalogue) -> Filters:
    levels = {r.level for r in rows}
    features = {f for r in rows for f in r.features}
    profiles = {p for r in rows for p in r.profiles}
    seen = {m for r in rows for c in r.cells if c for m in [*c.verdicts, f"={c.rollup}"]}
    return Filters(
        roles=sorted({r.role for r in rows}),
        levels=[lv for lv in LEVELS if lv in levels] + sorted(levels - set(LEVELS)),
        areas=sorted({r.area for r in rows}),
        features=[f["name"] for f in catalogue.features if f["name"] in features],
        profiles=[p for p in catalogue.profiles if p in profiles],
        verdicts=[v for v in ORDER if v in seen],
        rollups=[r for r in Rollup if f"={r}" in seen],
    )


def _areas(coverage: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, area in coverage.get("by_area", {}).items():
        active = max(int(area.get("active", 0)), 1)
        out.append(
            {
                "name": name,
                **{k: int(area.get(k, 0)) for k in ("active", "automatic", "tested")},
                "automatic_pct": round(100 * int(area.get("automatic", 0)) / active, 1),
                "tested_pct": round(100 * int(area.get("tested", 0)) / active, 1),
            }
        )
    return out


def _has_evidence(test: dict[str, Any]) -> bool:
    """Not a PASS, or a PASS that still saw a clause violated (a monitor's untagged clause)."""
    return test["verdict"] != "PASS" or any(v in FAILING for v in verdicts_by_clause(test).values())


def _failed(tests: Sequence[dict[str, Any]], anchors: dict[str, str]) -> list[dict[str, Any]]:
    """Every test with evidence to show, unexpected ones first, then worst first."""
    chosen = [t for t in tests if t["nodeid"] in anchors]
    chosen.sort(key=lambda t: (not t.get("unexpected"), ORDER.index(t["verdict"])))
    return [
        {
            "anchor": anchors[t["nodeid"]],
            "test": t,
            "findings": [{**f, "events": _events(f.get("evidence", []))} for f in t["findings"]],
            "events": _events(t["evidence"]),
            "artifacts": [
                (k, v if isinstance(v, str) else json.dumps(v)) for k, v in t["artifacts"].items()
            ],
        }
        for t in chosen
    ]


def _events(events: Sequence[dict[str, Any]]) -> str:
    """Evidence events as aligned text lines: one text node per list keeps the page light."""
    lines = []
    for e in events:
        rest = {k: v for k, v in e.items() if k not in EVENT_KEYS}
        data = json.dumps(rest, separators=(",", ":"), default=str) if rest else ""
        lines.append(
            f"{e.get('seq', ''):>6} {e.get('observer', ''):<8} "
            f"{e.get('kind', ''):<24} {data}".rstrip()
        )
    return "\n".join(lines)
