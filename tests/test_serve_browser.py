"""The web page in a real browser: headless Debian Chromium (driven by Selenium through
chromium-driver) opens the page of a real ``wordrnn serve`` (bundled model, free loopback port),
types ``the president sa``, sees suggestions appear, accepts one with Tab, one with a number key and
one with a click, and takes a screenshot of the suggestions. The screenshot goes to the test's
temporary directory: a test run never changes the checkout. The one the README shows is regenerated
on purpose with ``WORDRNN_SCREENSHOT=docs/serve.png pytest tests/test_serve_browser.py``.

Skipped, with the reason, when chromium, chromium-driver or selenium are missing
(``apt-get install chromium chromium-driver``; ``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from serve_helpers import running_server

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
KEEP_SCREENSHOT = "WORDRNN_SCREENSHOT"  # where to copy the screenshot as well (the README's: docs/serve.png)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=900,640"]
ATTACHED = set(".,;:!?)]}%…")

pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and DRIVER.exists()),
                                reason="needs Debian's chromium and chromium-driver "
                                       "(/usr/bin/chromium, /usr/bin/chromedriver: apt-get install chromium chromium-driver)")
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install '.[test]')")


def after_accepting(text: str, word: str) -> str:
    """The text box after accepting ``word`` at the end of ``text``, which ends with a space."""
    return text.rstrip(" ") + word + " " if all(c in ATTACHED for c in word) else text + word + " "


@pytest.fixture()
def browser(tmp_path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


BAR_STATE = """const bar = document.getElementById("bar");
return [bar.dataset.ready, bar.dataset.text, Array.from(bar.querySelectorAll(".suggestion"), b => b.dataset.word)];"""


def fresh_suggestions(driver, text: str) -> list[str]:  # noqa: ANN001
    """Waits until the bar shows the suggestions for exactly ``text``; returns their words (read in
    one script call, so a re-render between reads cannot mix two answers)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d) -> list[str] | None:  # noqa: ANN001
        state, shown_for, words = d.execute_script(BAR_STATE)
        return words if state == "true" and shown_for == text and words else None

    return WebDriverWait(driver, 30).until(ready)


def test_typing_shows_suggestions_and_tab_a_number_or_a_click_accepts_one(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    with running_server() as server:
        browser.get(server.url)
        model = browser.find_element(By.ID, "model")
        WebDriverWait(browser, 30).until(lambda d: model.text not in ("", "loading…"))
        assert "unknown" not in model.text
        box = browser.find_element(By.ID, "text")
        box.send_keys("the president sa")
        words = fresh_suggestions(browser, "the president sa")
        assert words and all(w.lower().startswith("sa") for w in words), words
        screenshot = tmp_path / "serve.png"
        assert browser.save_screenshot(str(screenshot))

        box.send_keys(Keys.TAB)
        expected = f"the president {words[0]} "
        WebDriverWait(browser, 10).until(lambda d: box.get_attribute("value") == expected)
        assert browser.switch_to.active_element == box  # Tab accepted; focus did not move on

        following = fresh_suggestions(browser, expected)
        assert len(following) >= 2
        box.send_keys("2")
        expected = after_accepting(expected, following[1])
        WebDriverWait(browser, 10).until(lambda d: box.get_attribute("value") == expected)

        clicked = fresh_suggestions(browser, expected)
        browser.find_element(By.CSS_SELECTOR, '#bar .suggestion[data-index="0"]').click()
        expected = after_accepting(expected, clicked[0])
        WebDriverWait(browser, 10).until(lambda d: box.get_attribute("value") == expected)
        fresh_suggestions(browser, expected)
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []  # no failed request, no script error, nothing the page's CSP blocked
        assert server.stop() == 0
    assert screenshot.stat().st_size > 5000
    if os.environ.get(KEEP_SCREENSHOT):
        shutil.copyfile(screenshot, os.environ[KEEP_SCREENSHOT])
