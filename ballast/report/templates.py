"""The jinja2 environment for the report templates, which ship as package data under
``templates/``; CSS and JS are inlined verbatim so index.html needs nothing else."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ballast.report", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_cell
    return env


def asset(name: str) -> Markup:
    """A CSS or JS file of templates/, to inline as is (not parsed as a template)."""
    return Markup(files("ballast.report").joinpath("templates", name).read_text("utf-8"))


def md_cell(text: object, width: int = 160) -> str:
    """Text for one Markdown table cell or list item: one line, bounded, no table breaks."""
    line = " ".join(str(text).split())
    if len(line) > width:
        line = line[: width - 1] + "…"
    return line.replace("|", "\\|").replace("<", "&lt;")
