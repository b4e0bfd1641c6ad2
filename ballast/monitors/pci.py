"""Monitors of the pci clauses (see ballast.monitors.base)."""

from __future__ import annotations

from ballast.monitors.base import Monitor

MONITORS: tuple[type[Monitor], ...] = ()
