"""Seeded bugs for virtio over MMIO (see ballast.reference.faults)."""

from __future__ import annotations

from ballast.reference.fault import Fault

MMIO_FAULTS: list[Fault] = []
