"""The status page in a real headless Chromium: it follows a requested failover without being
reloaded, showing what the server renders (the page's script only fetches the live part).

Screenshots go to build/artifacts/status-page-{before,after}-failover.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tests.conftest import FLAVORS, ROOT, wait_until
from tests.topology import Topology

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "build" / "artifacts"
PASSWORD = "page-Pw-4417"
GROUP = "mymaster"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Debian's chromium and chromium-driver are not installed",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _script(browser: WebDriver, code: str, *args: Any) -> Any:
    return browser.execute_script(code, *args)


# Read in one script call each: the page replaces its elements on every refresh, so an element
# found by one WebDriver call may be gone by the next.
def _shown_masters(browser: WebDriver) -> list[str]:
    found: list[str] = _script(
        browser,
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent)",
        f'[data-group="{GROUP}"] .master code',
    )
    return found


def _timeline(browser: WebDriver) -> list[tuple[str, str]]:
    items = _script(
        browser,
        "return Array.from(document.querySelectorAll(arguments[0]), li =>"
        " [li.querySelector('.from').textContent, li.querySelector('.to').textContent])",
        f'[data-group="{GROUP}"] .timeline li',
    )
    return [(a, b) for a, b in items]


def _healthy_edges(browser: WebDriver) -> int:
    count: int = _script(
        browser,
        "return document.querySelectorAll(arguments[0]).length",
        f'[data-group="{GROUP}"] .edge:not(.bad)',
    )
    return count


def _group_text(browser: WebDriver) -> str:
    text: str = _script(
        browser,
        "return document.querySelector(arguments[0]).textContent",
        f'[data-group="{GROUP}"]',
    )
    return text


@pytest.mark.skipif(not FLAVORS, reason="no redis-server or valkey-server binary installed")
def test_page_follows_a_requested_failover_without_reloading(
    browser: WebDriver, tmp_path: Path, run_exporter: Any
) -> None:
    with Topology(FLAVORS[0], tmp_path / "topology", password=PASSWORD).start() as topo:
        exporter = run_exporter(
            "--sentinel-addr",
            topo.sentinels[0].address,
            "--poll-interval",
            "1",
            "--poll-timeout",
            "0.5",
            env={"REDIS_PASSWORD": PASSWORD},
        )
        old = topo.groups[GROUP].master.address
        browser.get(exporter.url + "/")
        wait_until(lambda: _shown_masters(browser) == [old], 20, what=f"{old} shown as master")
        wait_until(lambda: _healthy_edges(browser) == 2, 20, what="both replicas linked")
        wait_until(
            lambda: _script(browser, "return window.statusPage.refreshes") >= 1,
            10,
            what="a refresh by the script",
        )
        _script(browser, "window.notReloaded = 'set before the failover'")
        refreshes = _script(browser, "return window.statusPage.refreshes")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "status-page-before-failover.png"))

        with redis.Redis(port=topo.sentinels[1].port) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", GROUP)
        new = topo.wait_for_failover_settled(GROUP)
        assert new != old

        # The old master keeps role:master until Sentinel demotes it ("failover in progress"
        # on the page meanwhile); then it rejoins as a replica.
        seen: list[str] = []

        def settled() -> bool:
            seen.append(_group_text(browser))
            return _shown_masters(browser) == [new]

        wait_until(settled, 30, what=f"{new} shown as master")
        assert not any("split brain" in text for text in seen), seen
        wait_until(lambda: (old, new) in _timeline(browser), 10, what="failover on the timeline")
        wait_until(lambda: _healthy_edges(browser) == 2, 30, what="both replicas linked again")
        assert _timeline(browser) == [(old, new)]
        assert _script(browser, "return window.notReloaded") == "set before the failover"
        assert _script(browser, "return window.statusPage.refreshes") > refreshes
        assert "failovers seen: 1" in _group_text(browser)
        browser.save_screenshot(str(ARTIFACTS / "status-page-after-failover.png"))

        status_code, body, _ = exporter.get("/api/topology.html")
        assert status_code == 200
        assert PASSWORD not in body.decode() and PASSWORD not in browser.page_source
