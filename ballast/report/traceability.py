"""traceability.csv: clause -> implementation -> roll-up -> tests, one row per clause and
(implementation, side), for spreadsheets and audit trails."""

from __future__ import annotations

import csv
import io
from typing import Any

from ballast.report.rollup import ORDER

COLUMNS = [
    *("clause", "level", "role", "area", "testability"),
    *("implementation", "side", "rollup", "tests"),
]


def render_traceability(results: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS + ORDER)
    for e in results["clauses"]:
        writer.writerow(
            [
                e["id"],
                e.get("level", ""),
                e.get("role", ""),
                e.get("area", ""),
                e.get("testability", ""),
                e["implementation"],
                e["side"],
                e["rollup"],
                ";".join(e["tests"]),
            ]
            + [e["verdicts"].get(v, 0) for v in ORDER]
        )
    return out.getvalue()
