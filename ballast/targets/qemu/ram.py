"""The monitors' backdoor into QEMU's guest RAM: the memfd behind it, read with ``pread``.

Monitors snapshot and compare whole pages (every hinted or reported page, before and
after).  Over qtest a 4 KiB ``b64read`` costs ~0.3 ms and lands in the qtest history,
burying the driver's own conversation; a hinting round over a 60 MiB pool took seconds
per pass.  QEMU can back guest RAM with a shared memfd instead
(``-object memory-backend-memfd,share=on`` + ``-machine memory-backend=``): the harness
opens it through ``/proc/PID/fd`` and a 4 KiB ``pread`` costs ~1.5 µs (measured on
QEMU 7.2).  The backend does not change what the balloon does: inflated and reported
pages are still discarded (a shared backend is punched with ``fallocate``), and they
read back as zeros.  ``pread`` of a punched hole returns zeros without allocating, where
reading through an ``mmap`` would fill the hole back in.

Guest-physical address equals file offset for RAM below 2 GiB on q35 and microvm, which
is all ballast asks for.  The descriptor stays valid after QEMU exits, so a crashed
QEMU's memory can still be judged.
"""

from __future__ import annotations

import os

BACKEND_ID = "ballast-ram"
BACKEND_TYPE = "memory-backend-memfd"
MAX_RAM = 2 << 30
"""Above this q35 splits RAM around the PCI hole and offsets stop matching addresses."""


def ram_args(machine: str, size: int) -> tuple[str, list[str]]:
    """The ``-machine`` value and extra arguments that back ``size`` bytes of RAM with the
    shared memfd."""
    if not 0 < size <= MAX_RAM:
        raise ValueError(f"guest RAM of {size:#x} bytes: the backdoor maps up to {MAX_RAM:#x}")
    return (
        f"{machine},memory-backend={BACKEND_ID}",
        ["-object", f"{BACKEND_TYPE},id={BACKEND_ID},size={size},share=on"],
    )


class SharedRam:
    """Read-only access to the RAM of QEMU process ``pid`` (``size`` bytes)."""

    def __init__(self, pid: int, size: int) -> None:
        self.size = size
        self._fd = _open_backend(pid, size)

    def read(self, addr: int, size: int) -> bytes:
        """``size`` bytes at guest-physical ``addr`` (holes read as zeros)."""
        if addr < 0 or size < 0 or addr + size > self.size:
            raise ValueError(f"{size} bytes at {addr:#x} leave guest RAM (0..{self.size:#x})")
        data = os.pread(self._fd, size, addr)
        if len(data) != size:
            raise OSError(f"short read of guest RAM: {len(data)} of {size} bytes at {addr:#x}")
        return data

    def close(self) -> None:
        """Release the descriptor; idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _open_backend(pid: int, size: int) -> int:
    """Open QEMU's RAM memfd: the ``memfd:memory-backend-memfd`` descriptor of ``size``
    held by ``pid`` or one of its descendants (the binary may be a wrapper that forks
    QEMU, such as a fault injector or a sanitizer launcher)."""
    for process in _tree(pid):
        fd_dir = f"/proc/{process}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue  # a process that exited meanwhile
        for name in names:
            fd = _open_if_backend(f"{fd_dir}/{name}", size)
            if fd is not None:
                return fd
    raise OSError(f"no {BACKEND_TYPE} of {size} bytes is open in process {pid} or its children")


def _open_if_backend(path: str, size: int) -> int | None:
    try:
        if BACKEND_TYPE not in os.readlink(path):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # a descriptor that closed meanwhile
    if os.fstat(fd).st_size == size:
        return fd
    os.close(fd)
    return None


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, parents first (from ``/proc/*/task/*/children``)."""
    found, pending = [], [pid]
    while pending:
        process = pending.pop(0)
        found.append(process)
        try:
            tasks = os.listdir(f"/proc/{process}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{process}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
            except OSError:
                continue
    return found
