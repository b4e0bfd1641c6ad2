"""Seeded bugs for virtio over PCI (see ballast.reference.faults)."""

from __future__ import annotations

from ballast.reference.fault import Fault

PCI_FAULTS: list[Fault] = []
