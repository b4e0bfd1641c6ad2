"""Reading results.json and checking it against the fixed contract, results.schema.json.

Every problem with a results file is bad input to ballast, so it becomes a one-line
UsageError naming the first problem (not a traceback, and not a verdict).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from ballast.errors import UsageError

MAX_MESSAGE = 160


@cache
def _validator() -> Any:
    try:  # imported here: only commands that read results need it
        from jsonschema import Draft202012Validator
    except ImportError:
        raise UsageError(
            "checking results needs jsonschema: .venv/bin/pip install jsonschema"
        ) from None
    schema = json.loads(files("ballast.report").joinpath("results.schema.json").read_text())
    return Draft202012Validator(schema)


def validate(results: Any, source: str = "results") -> None:
    """Raise UsageError for the first schema problem (errors sorted by where they occur)."""
    errors = sorted(_validator().iter_errors(results), key=lambda e: [str(p) for p in e.path])
    if not errors:
        return
    first = errors[0]
    where = _path(first.path) or "top level"
    message = " ".join(first.message.split())
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise UsageError(f"{source} does not match results.schema.json at {where}: {message}{more}")


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_results(path: Path) -> dict[str, Any]:
    """Parse and validate one results file."""
    results = read_json(path)
    validate(results, str(path))
    return results


def read_json(path: Path) -> Any:
    """Parse a results file without validating it (for callers that validate anyway)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"results file {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read results file {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
