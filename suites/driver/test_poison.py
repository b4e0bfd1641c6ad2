"""Driver under test: page poison."""

import pytest

from suites import scenarios as s

pytestmark = pytest.mark.requires(subject="driver")


@pytest.mark.clause("balloon.driver.poison.01")
def test_fills_deflated_pages_with_poison_val(balloon):
    s.inflate_deflate(balloon())


@pytest.mark.clause("balloon.driver.poison.02")
def test_writes_poison_val_before_driver_ok(balloon):
    s.start(balloon())


@pytest.mark.clause("balloon.driver.poison.03")
def test_leaves_poison_val_alone_while_live(balloon):
    s.inflate_deflate(balloon())
