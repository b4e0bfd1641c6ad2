"""The QEMU target's pure parts: binary lookup, command line, firmware image, machine
facts and error types.  No QEMU needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ballast.targets.qemu.errors import (
    QemuNotFound,
    QmpDisconnected,
    QmpTimeout,
    QtestArgumentError,
    QtestDisconnected,
    QtestError,
    QtestTimeout,
)
from ballast.targets.qemu.firmware import (
    BIOS_SIZE,
    PARK_CODE,
    RESET_VECTOR_OFFSET,
    parked_cpu_bios,
    write_parked_cpu_bios,
)
from ballast.targets.qemu.machines import microvm_transport_base, q35_intx_route
from ballast.targets.qemu.process import BINARY_ENV, build_argv, find_qemu, machine_arg
from ballast.virtio.bus import BusError


def test_missing_default_binary_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(QemuNotFound) as info:
        find_qemu()
    message = str(info.value)
    assert "\n" not in message
    assert "qemu-system-x86_64 not found on PATH" in message
    assert "apt-get install qemu-system-x86" in message
    assert BINARY_ENV in message


def test_bad_env_binary_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BINARY_ENV, "/nonexistent/qemu")
    with pytest.raises(QemuNotFound, match=f"^{BINARY_ENV}='/nonexistent/qemu' is not an exec"):
        find_qemu()


def test_binary_argument_beats_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "my-qemu"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv(BINARY_ENV, "/nonexistent/qemu")
    assert find_qemu(str(fake)) == str(fake)
    with pytest.raises(QemuNotFound, match="'/nonexistent/other' not found"):
        find_qemu("/nonexistent/other")
    monkeypatch.setenv(BINARY_ENV, str(fake))
    assert find_qemu() == str(fake)


def test_command_line_has_the_measured_essentials(tmp_path: Path) -> None:
    argv = build_argv(
        "/usr/bin/qemu-system-x86_64",
        machine="q35",
        memory_mib=512,
        devices=["virtio-balloon-pci,id=balloon0,addr=0x3", "virtio-rng-pci"],
        extra_args=["-trace", "virtio_set_status"],
        qtest_socket=tmp_path / "q.sock",
        qmp_socket=tmp_path / "m.sock",
        bios=tmp_path / "bios.bin",
    )
    line = " ".join(argv)
    assert argv[0] == "/usr/bin/qemu-system-x86_64"
    assert f"-qtest unix:{tmp_path}/q.sock -qtest-log /dev/null" in line
    assert f"-chardev socket,path={tmp_path}/m.sock,id=qmp0 -mon chardev=qmp0,mode=control" in line
    assert "-display none -accel tcg -nodefaults -machine q35,pit=off -m 512" in line
    assert f"-bios {tmp_path}/bios.bin" in line
    assert "-S" not in argv
    assert line.endswith(
        "-device virtio-balloon-pci,id=balloon0,addr=0x3 -device virtio-rng-pci "
        "-trace virtio_set_status"
    )


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("q35", "q35,pit=off"),
        ("microvm", "microvm,pit=off"),
        ("microvm,ioapic2=off", "microvm,ioapic2=off,pit=off"),
        ("q35,pit=on", "q35,pit=on"),
        ("pc", "pc"),
    ],
)
def test_machine_arg_silences_the_pit_unless_told(machine: str, expected: str) -> None:
    assert machine_arg(machine) == expected


def test_parked_cpu_firmware_image(tmp_path: Path) -> None:
    image = parked_cpu_bios()
    assert len(image) == BIOS_SIZE == 0x10000
    assert image[RESET_VECTOR_OFFSET : RESET_VECTOR_OFFSET + 4] == b"\xfa\xf4\xeb\xfd"
    assert PARK_CODE == b"\xfa\xf4\xeb\xfd"  # cli; hlt; jmp -3 (back to the hlt)
    path = write_parked_cpu_bios(tmp_path)
    assert path.read_bytes() == image
    assert os.path.dirname(path) == str(tmp_path)


@pytest.mark.parametrize(("slot", "line"), [(1, 21), (2, 22), (3, 23), (4, 20), (17, 21)])
def test_q35_intx_lines(slot: int, line: int) -> None:
    assert q35_intx_route(slot) == ("ioapic", line)


@pytest.mark.parametrize("slot", [0, 25, 30, 32])
def test_q35_intx_outside_measured_slots_is_refused(slot: int) -> None:
    with pytest.raises(ValueError, match="slots 1-24"):
        q35_intx_route(slot)


def test_microvm_transport_addresses() -> None:
    assert microvm_transport_base(0) == 0xFEB00000
    assert microvm_transport_base(23) == 0xFEB02E00


def test_error_types_fit_the_callers_nets() -> None:
    assert issubclass(QtestError, BusError)
    assert issubclass(QtestArgumentError, ValueError)
    assert issubclass(QtestTimeout, TimeoutError)
    assert issubclass(QtestDisconnected, ConnectionError)
    assert issubclass(QmpTimeout, TimeoutError)
    assert issubclass(QmpDisconnected, ConnectionError)
    assert str(QtestTimeout("no reply")) == "no reply"
