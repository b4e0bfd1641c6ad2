"""Device status bits (core/content.tex "Device Status Field") and a readable rendering
for logs and failure messages."""

from __future__ import annotations

from enum import IntFlag


class Status(IntFlag):
    """Bits of the ``device status`` field; 0 means the device is (being) reset."""

    ACKNOWLEDGE = 1
    DRIVER = 2
    DRIVER_OK = 4
    FEATURES_OK = 8
    SUSPEND = 16
    DEVICE_NEEDS_RESET = 64
    FAILED = 128


_NAMES = {int(flag): str(flag.name) for flag in Status}


def describe(value: int) -> str:
    """E.g. ``0x0b (ACKNOWLEDGE|DRIVER|FEATURES_OK)``; undefined bits appear as "bit N"."""
    if not 0 <= value <= 0xFF:
        raise ValueError(f"device status is 8 bits wide, got {value:#x}")
    if value == 0:
        return "0x00 (reset)"
    parts = []
    for n in range(8):
        if value >> n & 1:
            parts.append(_NAMES.get(1 << n, f"bit {n}"))
    return f"{value:#04x} ({'|'.join(parts)})"
