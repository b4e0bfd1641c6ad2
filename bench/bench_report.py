"""Report speed at scale: a synthetic run of N clauses x M implementations (500 x 4 by
default), rendered in Python, then loaded and filtered in headless Chromium.

Python: generating, validating and rendering each report.  Browser (Debian's chromium via
chromedriver and selenium; nothing downloads a browser): Navigation Timing of each load
(DOMContentLoaded, load event), the page's own start-up script, and for each filter the
script pass alone and the pass plus the style and layout it causes, measured in the page
with performance.now().  Medians and maxima over --runs loads.
Run: ``.venv/bin/python bench/bench_report.py [--clauses N] [--runs R] [--no-browser]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ballast.report.junit import render_junit
from ballast.report.page import render_page
from ballast.report.render import render
from ballast.report.schema import validate
from ballast.report.summary import render_summary
from ballast.report.synthetic import IMPLEMENTATIONS, synthetic_catalogue, synthetic_results
from ballast.report.traceability import render_traceability

FILTERS = [
    ("verdict", "FAIL"),
    ("verdict", "=NONCOMPLIANT"),
    ("role", "driver"),
    ("level", "MUST"),
    ("profile", "balloon-device-pci"),
]
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)
LOAD = """const n = performance.getEntriesByType('navigation')[0];
return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, init: window.ballastTiming.initMs,
        resources: performance.getEntriesByType('resource').length};"""
FILTER = """const [name, value] = arguments;
const select = document.querySelector(`select[name="${name}"]`);
document.getElementById('filters').reset();
select.dispatchEvent(new Event('change', {bubbles: true}));
document.body.offsetHeight;
const start = performance.now();
select.value = value; select.dispatchEvent(new Event('change', {bubbles: true}));
document.body.offsetHeight;
return {layout: performance.now() - start, pass: window.ballastTiming.filterMs,
        shown: window.ballastTiming.shown};"""


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - start) * 1000


def python_side(clauses: int, out: Path) -> tuple[Any, Path]:
    catalogue, ms_cat = timed(lambda: synthetic_catalogue(clauses))
    results, ms_gen = timed(lambda: synthetic_results(catalogue))
    print(
        f"synthetic run: {clauses} clauses x {len(IMPLEMENTATIONS)} implementations, "
        f"{len(results['tests'])} tests, "
        f"{sum(t['verdict'] != 'PASS' for t in results['tests'])} not passing "
        f"(generated in {ms_cat + ms_gen:.0f} ms)"
    )
    for name, fn in [
        ("validate", lambda: validate(results)),
        ("index.html", lambda: render_page(results, catalogue)),
        ("summary.md", lambda: render_summary(results)),
        ("junit.xml", lambda: render_junit(results)),
        ("traceability.csv", lambda: render_traceability(results)),
    ]:
        print(f"  {name:17} {timed(fn)[1]:7.0f} ms")
    paths, ms = timed(lambda: render(results, out, catalogue))
    print(f"  {'render (all)':17} {ms:7.0f} ms")
    for name, path in paths.items():
        print(f"  {name:17} {path.stat().st_size / 1e6:7.2f} MB")
    return results, paths["index.html"]


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        for arg in (*CHROME_ARGS, f"--user-data-dir={profile}"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def browser_side(index: Path, runs: int) -> None:
    loads: list[dict[str, float]] = []
    filters: dict[tuple[str, str], list[dict[str, float]]] = {f: [] for f in FILTERS}
    with chromium() as driver:
        driver.get("about:blank")  # browser start-up is not the page's cost
        for _ in range(runs):
            driver.get(index.as_uri())
            loads.append(driver.execute_script(LOAD))
            for f in FILTERS:
                filters[f].append(driver.execute_script(FILTER, *f))
    print(f"browser, {runs} load(s) of {index.stat().st_size / 1e6:.1f} MB (median / max, ms):")
    for key, label in [
        ("dcl", "DOMContentLoaded"),
        ("load", "load event"),
        ("init", "page script start-up"),
    ]:
        print(f"  {label:30} {_stat([x[key] for x in loads])}")
    print(f"  {'network requests':30} {max(x['resources'] for x in loads)}")
    for (name, value), found in filters.items():
        shown = found[0]["shown"]
        print(
            f"  filter {name} {value} ({shown} rows): pass {_stat([x['pass'] for x in found])}"
            f", with layout {_stat([x['layout'] for x in found])}"
        )


def _stat(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} / {max(values):7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clauses", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        _, index = python_side(args.clauses, Path(out))
        if not args.no_browser:
            browser_side(index, args.runs)


if __name__ == "__main__":
    main()
