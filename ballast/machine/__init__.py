"""The in-process machine: device-side register models of the virtio transports behind
the Bus interface, for running the reference driver and device against each other."""

from ballast.machine.machine import InProcessMachine, IrqLine

__all__ = ["InProcessMachine", "IrqLine"]
