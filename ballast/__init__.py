"""ballast: conformance test suite for virtio memory balloon devices and drivers."""

__version__ = "0.1.0"
