"""Write every report of a run: index.html, summary.md, junit.xml and traceability.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ballast.errors import UsageError
from ballast.report.junit import render_junit
from ballast.report.page import render_page
from ballast.report.schema import validate
from ballast.report.summary import render_summary
from ballast.report.traceability import render_traceability
from ballast.spec.catalogue import Catalogue, load_catalogue


def render(
    results: dict[str, Any],
    out_dir: Path,
    catalogue: Catalogue | None = None,
    *,
    source: str = "results",
) -> dict[str, Path]:
    """Validate ``results`` (``source`` names them in errors) and write the four reports
    into ``out_dir``; returns name -> path.  The catalogue (default: the installed one)
    supplies each clause's features and profiles for the page's filters."""
    validate(results, source)
    catalogue = catalogue or load_catalogue()
    written = {
        "index.html": render_page(results, catalogue),
        "summary.md": render_summary(results),
        "junit.xml": render_junit(results),
        "traceability.csv": render_traceability(results),
    }
    paths = {}
    for name, content in written.items():
        path = out_dir / name
        write(path, content.encode("utf-8") if isinstance(content, str) else content)
        paths[name] = path
    return paths


def write(path: Path, content: bytes) -> None:
    """Write a report file; an unwritable destination is bad input, not a crash."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
