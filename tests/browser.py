"""A real headless Chromium for the console's browser tests (Debian's ``chromium`` and
``chromium-driver``, installed by scripts/setup.sh). Without them the tests skip with
the reason, and under ``PERDURE_TEST_REQUIRE=all`` (CI) that skip is a failure, as the
repository's conftest.py rules for every missing tool."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def _find(names: tuple[str, ...]) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        f"none of {', '.join(names)} is installed: the console's browser tests need Debian's "
        "chromium and chromium-driver (run scripts/setup.sh as root, or apt-get install them)"
    )


@contextmanager
def chrome(width: int = 1400, height: int = 1000, dark: bool = False) -> Iterator[Any]:
    """A Selenium WebDriver on headless Chromium; quits on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--lang=en-US", "--hide-scrollbars"):
        options.add_argument(arg)
    if dark:
        options.add_argument("--force-dark-mode")
        options.add_argument("--blink-settings=preferredColorScheme=0")
    driver = webdriver.Chrome(service=Service(_find(("chromedriver",))), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, condition: Any, timeout: float = 15) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def screenshot(driver: Any, path: Path, full_height: bool = False) -> None:
    """Save a PNG; with ``full_height`` the window grows to the page's height first."""
    if full_height:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(driver.get_window_size()["width"], min(int(height) + 20, 4000))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
