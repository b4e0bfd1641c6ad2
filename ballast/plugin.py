"""The ballast pytest plugin: clause markers, targets, verdicts and results.json."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clause(*ids): catalogue clause IDs this test covers")
    config.addinivalue_line("markers", "requires(**needs): features/transport a test needs")
