"""The web page in a real browser: headless Chromium (Debian's chromium + chromedriver) driven by Selenium."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("fastapi", reason="kinema serve needs the serve extra: pip install -e '.[serve]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (test extra)")
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "no chromium/chromedriver on PATH (Debian: apt-get install chromium chromium-driver)", allow_module_level=True
    )

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from kinema.serve.app import Settings  # noqa: E402
from kinema.serve.generate import WorldGenerator  # noqa: E402
from kinema.serve.testing import LiveServer  # noqa: E402

PLAYING = """
const v = document.querySelector(`article.job[data-id="${arguments[0]}"] video`);
return !!v && !v.error && v.readyState >= 2 && v.currentTime > 0 && v.videoWidth === 64;
"""


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def test_submit_a_prompt_and_watch_the_video_play(browser, tmp_path):
    settings = Settings(db=tmp_path / "jobs.db", moderator=lambda p: None)
    with LiveServer(settings, lambda i: WorldGenerator(steps=3, step_delay=0.05)) as url:
        browser.set_window_size(1200, 900)
        browser.get(url + "/")
        wait = WebDriverWait(browser, 30, poll_frequency=0.1)
        wait.until(lambda d: len(Select(d.find_element(By.ID, "size")).options) > 0)
        Select(browser.find_element(By.ID, "size")).select_by_value("64x64")
        Select(browser.find_element(By.ID, "seconds")).select_by_value("1")
        browser.find_element(By.ID, "prompt").send_keys("a red ball bounces")
        browser.find_element(By.ID, "submit").click()
        card = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "article.job"))[0]
        video_id = card.get_attribute("data-id")
        wait.until(lambda d: d.execute_script(PLAYING, video_id))
        assert card.find_element(By.LINK_TEXT, "Download").get_attribute("download") == f"{video_id}.mp4"
        assert "a red ball bounces" in card.text and browser.find_element(By.ID, "form-error").text == ""
        assert not browser.find_element(By.ID, "key").is_displayed()  # no keys configured: no key field

        card.find_element(By.XPATH, ".//button[text()='Remix']").click()
        alert = wait.until(lambda d: d.switch_to.alert)
        alert.send_keys("a blue ball bounces")
        alert.accept()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.job video")) == 2)

        browser.set_window_size(390, 844)  # a phone: nothing wider than the screen
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")

        card.find_element(By.XPATH, ".//button[text()='Delete']").click()
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'article.job[data-id="{video_id}"]'))
        assert len(browser.find_elements(By.CSS_SELECTOR, "article.job")) == 1
