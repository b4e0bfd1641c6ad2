"""index.html in a real browser: Debian's chromium driven through chromedriver by selenium
(nothing downloads a browser).  The page renders, every filter works, and a synthetic run of
500 clauses x 4 implementations loads and filters fast (bench/bench_report.py measures it
properly; the bounds here only catch a page that got pathologically slow).

Skipped when chromium, chromedriver or selenium is missing, unless BALLAST_REQUIRE contains
"browser": ``apt-get install -y chromium chromium-driver && .venv/bin/pip install selenium``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ballast.report.render import render
from ballast.report.synthetic import synthetic_catalogue, synthetic_results
from ballast.spec.catalogue import load_catalogue

ACTIVE = sum(1 for c in load_catalogue() if c.active)  # one matrix row each

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DATA = Path(__file__).parent / "data"
ROWS = "Array.from(document.querySelectorAll('#clauses .rows > .row'))"
VISIBLE = f"return {ROWS}.filter(r => !r.hidden).map(r => r.id.slice(2));"
# Generous: a healthy page takes well under a second (see bench/bench_report.py); these
# only fail when something went quadratic.
LOAD_BOUND_MS = 10_000
FILTER_BOUND_MS = 1_000


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} missing (apt-get install -y chromium)"
    if not CHROMEDRIVER.exists():
        return f"{CHROMEDRIVER} missing (apt-get install -y chromium-driver)"
    if importlib.util.find_spec("selenium") is None:
        return "selenium missing (.venv/bin/pip install selenium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if "browser" in os.environ.get("BALLAST_REQUIRE", ""):
            pytest.fail(f"browser tests required but {missing}")
        pytest.skip(f"browser tests: {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory() as profile:
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
        ):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return json.loads((DATA / "results_a.json").read_text())


@pytest.fixture(scope="module")
def page(browser: Any, results: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    index = render(results, tmp_path_factory.mktemp("page"))["index.html"]
    browser.get(index.as_uri())
    return browser


def choose(page: Any, name: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(page.find_element(By.NAME, name)).select_by_value(value)


def reset(page: Any) -> None:
    from selenium.webdriver.common.by import By

    page.find_element(By.CSS_SELECTOR, "#filters button[type=reset]").click()
    page.execute_script("return new Promise(r => setTimeout(r))")


def rows_where(results: dict[str, Any], keep: Any) -> list[str]:
    return list(dict.fromkeys(e["id"] for e in results["clauses"] if keep(e)))


def test_the_page_renders_every_clause_without_loading_anything(
    page: Any, results: dict[str, Any]
) -> None:
    everything = rows_where(results, lambda e: True)
    assert page.execute_script(VISIBLE) == everything
    shown = page.execute_script("return document.getElementById('shown').textContent")
    assert shown == f"{len(everything)} of {len(everything)} clauses"
    assert page.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert page.execute_script("return window.ballastTiming.rows") == len(everything)


def test_filter_by_verdict_fail_shows_only_failing_rows(page: Any, results: dict[str, Any]) -> None:
    reset(page)
    choose(page, "verdict", "FAIL")
    expected = rows_where(results, lambda e: "FAIL" in e["verdicts"])
    assert expected == [
        "balloon.driver.operation.06",
        "balloon.driver.operation.09",
        "core.driver.init.01",
    ]
    assert page.execute_script(VISIBLE) == expected
    assert page.execute_script("return document.getElementById('shown').textContent") == (
        f"3 of {ACTIVE} clauses"
    )


@pytest.mark.parametrize(
    ("name", "value", "keep"),
    [
        ("verdict", "=PARTIAL", lambda e, c: e["rollup"] == "PARTIAL"),
        ("role", "device", lambda e, c: e["role"] == "device"),
        ("level", "SHOULD NOT", lambda e, c: e["level"] == "SHOULD NOT"),
        ("area", "balloon.stats", lambda e, c: e["area"] == "balloon.stats"),
        (
            "feature",
            "VIRTIO_BALLOON_F_STATS_VQ",
            lambda e, c: "VIRTIO_BALLOON_F_STATS_VQ" in c.get(e["id"]).features,
        ),
        (
            "profile",
            "balloon-device-mmio",
            lambda e, c: "balloon-device-mmio" in c.get(e["id"]).profiles,
        ),
    ],
)
def test_each_filter(page: Any, results: dict[str, Any], name: str, value: str, keep: Any) -> None:
    catalogue = load_catalogue()
    reset(page)
    choose(page, name, value)
    expected = rows_where(results, lambda e: keep(e, catalogue))
    assert expected
    assert page.execute_script(VISIBLE) == expected


def test_filters_combine_and_reset(page: Any, results: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    reset(page)
    choose(page, "impl", "1")  # the second column: the reference device
    choose(page, "verdict", "NOT_OBSERVABLE")
    assert page.execute_script(VISIBLE) == ["balloon.device.stats.01"]
    choose(page, "impl", "0")
    assert page.execute_script(VISIBLE) == []
    reset(page)
    page.find_element(By.NAME, "q").send_keys("deflateq")
    assert page.execute_script(VISIBLE) == rows_where(results, lambda e: "deflateq" in e["text"])
    reset(page)
    assert len(page.execute_script(VISIBLE)) == ACTIVE


def test_a_cell_link_opens_the_evidence(page: Any) -> None:
    from selenium.webdriver.common.by import By

    reset(page)
    link = page.find_element(By.CSS_SELECTOR, "#c-balloon\\.driver\\.operation\\.09 a.v-FAIL")
    target = link.get_attribute("href").split("#")[1]
    details = page.find_element(By.ID, target)
    assert details.get_attribute("open") is None
    link.click()
    assert details.get_attribute("open") == "true"
    assert "guest wrote pfn 0x1000 after queueing it for inflation" in details.text
    assert "python -m pytest" in details.text
    assert "page_access" in details.text


def test_500_clauses_by_4_implementations_load_and_filter_fast(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, record_property: Any
) -> None:
    catalogue = synthetic_catalogue(500)
    index = render(synthetic_results(catalogue), tmp_path_factory.mktemp("big"), catalogue)[
        "index.html"
    ]
    browser.get(index.as_uri())
    timing = browser.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd,"
        " init: window.ballastTiming.initMs, rows: window.ballastTiming.rows};"
    )
    filtered = browser.execute_script(
        "const select = document.querySelector('select[name=verdict]');"
        "const start = performance.now();"
        "select.value = 'FAIL'; select.dispatchEvent(new Event('change', {bubbles: true}));"
        "document.body.offsetHeight;"  # include the style and layout the change causes
        "return {total: performance.now() - start, pass: window.ballastTiming.filterMs,"
        " shown: window.ballastTiming.shown};"
    )
    figures = {**timing, **{f"filter_{k}": v for k, v in filtered.items()}}
    record_property("browser_timing_ms", json.dumps(figures))
    print(f"500 clauses x 4 implementations: {figures}")
    assert timing["rows"] == 500
    assert 0 < filtered["shown"] < 500
    assert timing["load"] < LOAD_BOUND_MS
    assert filtered["total"] < FILTER_BOUND_MS
