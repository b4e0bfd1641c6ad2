"""Seeded bugs for split virtqueues (see ballast.reference.faults)."""

from __future__ import annotations

from ballast.reference.fault import Fault

SPLIT_FAULTS: list[Fault] = []
