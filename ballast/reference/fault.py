"""One seeded bug: which reference implementation carries it and which clause it breaks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    side: str  # "device" | "driver": which reference implementation carries the bug
    clause: str  # the clause it breaks (for a MAY clause: the permission it is intolerant of)
    what: str
