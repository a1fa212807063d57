"""The report in a real browser: headless Chromium through selenium renders it without console errors.

Skipped when Chromium, chromedriver or selenium are missing, unless ``ZEROSKIP_REQUIRE_BROWSER=1``
(then it fails, so a machine meant to run it cannot pass it silently).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from test_report import build_store  # the synthetic results database of the report's tests
from zeroskip.bench.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1300,1000")


def _need(ok: bool, reason: str) -> None:
    if ok:
        return
    if os.environ.get("ZEROSKIP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and ZEROSKIP_REQUIRE_BROWSER=1 requires the browser test")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    for path in (CHROMIUM, CHROMEDRIVER):
        _need(os.access(path, os.X_OK), f"{path} is not installed")
    try:
        import matplotlib  # noqa: F401  (the report needs it)
        from selenium import webdriver
    except ImportError as exc:
        _need(False, f"{exc.name} is not installed: pip install 'zeroskip[dev,report]'")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (*ARGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(10)
    yield driver
    driver.quit()


def test_report_renders_in_chromium(browser, tmp_path):
    from selenium.webdriver.common.by import By

    page = write_report(build_store(tmp_path / "r.db"), tmp_path / "report.html")
    browser.get(page.as_uri())
    assert browser.title == "zeroskip benchmark report"
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, f"console errors: {severe}"

    summary = browser.find_element(By.ID, "summary")
    assert summary.is_displayed()
    rows = summary.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 9 and all(r.is_displayed() for r in rows)  # 4 targets x 2 baselines + the Onyx claim
    assert rows[0].find_elements(By.TAG_NAME, "td")[2].text == "2×"

    figures = browser.find_elements(By.CSS_SELECTOR, "figure > svg, figure > img")
    assert len(figures) == 7
    for figure in figures:
        size = figure.size
        assert size["width"] > 100 and size["height"] > 100, (figure.get_attribute("aria-label"), size)
    spy_images = browser.find_elements(By.CSS_SELECTOR, "figure svg image")
    assert spy_images and all(i.size["width"] > 0 and i.size["height"] > 0 for i in spy_images)  # grids, colour bars

    # The console check can fail: an error logged now is read back as SEVERE.
    browser.execute_script("console.error('zeroskip probe')")
    assert any("zeroskip probe" in e["message"] and e["level"] == "SEVERE" for e in browser.get_log("browser"))
