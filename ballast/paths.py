"""Where ballast finds its data: the catalogue, and the spec sources it is extracted from."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent


def spec_refs_dir() -> Path:
    """The catalogue directory (``spec_refs/``; BALLAST_SPEC_REFS overrides)."""
    return Path(os.environ.get("BALLAST_SPEC_REFS", REPO_ROOT / "spec_refs"))
