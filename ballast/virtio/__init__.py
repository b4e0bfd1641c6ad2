"""Virtio building blocks shared by the reference device, the reference driver and targets."""
