"""The parked-CPU firmware: a 64 KiB ``-bios`` image that halts the vCPU for good.

Debian's QEMU has no qtest accelerator, so qtest runs beside a real TCG vCPU.  ``-S``
would keep that vCPU from running but also freezes the virtual clock, and then no
device timer fires (stats polling never happens).  Instead the vCPU runs this image:
its reset vector disables interrupts and halts, so the CPU sleeps forever, costs no host
CPU, and the virtual clock keeps running.  Both q35 and microvm accept it (measured on
QEMU 7.2: ``info registers`` shows ``EIP=0000fff2 ... HLT=1``; now and then the vCPU
gets there a few milliseconds after QMP is ready, which is harmless since the two
instructions touch no device).
"""

from __future__ import annotations

from pathlib import Path

BIOS_SIZE = 64 * 1024
"""x86 machines require a multiple of 64 KiB; the image is mapped just below 4 GiB."""

RESET_VECTOR_OFFSET = 0xFFF0
"""Offset of the reset vector (F000:FFF0) inside a 64 KiB image."""

PARK_CODE = bytes((0xFA, 0xF4, 0xEB, 0xFD))
"""``cli; hlt; jmp $-1``: the jump (EB FD, rel8 = -3) goes back to the ``hlt``."""


def parked_cpu_bios() -> bytes:
    """The firmware image: erased-flash filler (0xFF) with ``PARK_CODE`` at the reset vector."""
    image = bytearray(b"\xff" * BIOS_SIZE)
    image[RESET_VECTOR_OFFSET : RESET_VECTOR_OFFSET + len(PARK_CODE)] = PARK_CODE
    return bytes(image)


def write_parked_cpu_bios(directory: Path) -> Path:
    """Write the image as ``directory/parked-cpu.bin`` and return its path."""
    path = directory / "parked-cpu.bin"
    path.write_bytes(parked_cpu_bios())
    return path
