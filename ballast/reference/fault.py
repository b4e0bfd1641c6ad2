"""One seeded bug: which reference implementation carries it and which clause it breaks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    side: str  # "device" | "driver": which reference implementation carries the bug
    clause: str  # the clause it breaks (for a MAY clause: the permission it is intolerant of)
    what: str
    # Clauses the bug cannot help breaking as well, each for a stated reason (a driver that
    # never sets FEATURES_OK also never reaches DRIVER_OK).  The self-test counts a
    # violation of any clause not listed here, nor provoked by the test, as a defect.
    also: tuple[str, ...] = ()
    why_also: str = ""

    def __post_init__(self) -> None:
        if bool(self.also) != bool(self.why_also):
            raise ValueError(f"fault {self.name}: `also` and `why_also` go together")
