"""YAML in and out: deterministic output (so extraction is reproducible byte for byte) and
one-line errors for malformed input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ballast.errors import UsageError

_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """Block style, long lines kept whole, no aliases: diffs of the catalogue stay readable."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096, indent=2
    )


def write(path: Path, data: Any, header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + dump(data), encoding="utf-8")


def parse(text: str) -> Any:
    """Parse YAML text with the fast safe loader (libyaml when present)."""
    return yaml.load(text, Loader=_Loader)


def load(path: Path, what: str) -> Any:
    """Load a YAML file; any problem becomes a UsageError naming the file and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from exc
    try:
        return parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{path}{where}: malformed YAML in {what}: {problem}") from exc


def load_section(path: Path, what: str, key: str, shape: type, item: type = dict) -> Any:
    """``key`` of a YAML mapping file, checked to be a ``shape`` (dict or list) whose values
    are ``item``s, so a wrongly shaped file is a one-line UsageError, not a traceback."""
    data = load(path, what) or {}
    section = data.get(key, shape()) if isinstance(data, dict) else None
    values = section.values() if isinstance(section, dict) else section
    if not isinstance(section, shape) or not all(isinstance(v, item) for v in values):
        kind = "mapping" if shape is dict else "list"
        raise UsageError(
            f"{path}: '{key}' in {what} must be a {kind} of {item.__name__} entries; "
            "restore the file from git or fix its layout"
        )
    return section
