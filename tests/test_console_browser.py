"""The console end to end in a real headless browser (Debian's chromium + chromedriver).

scripts/test installs ``chromium`` and ``chromium-driver`` when missing (as root). Without
them the test skips with the reason, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.bundle_helpers import shipped_constitution_path
from tests.runner_helpers import TOKENS, ThreadedRunner, auth, write_config

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ASK = {"kind": "command", "command": "git push origin release", "cwd": "/tmp"}
WAIT = 20.0


def _unavailable() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install {package}; scripts/test does it as root)"
    return None


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the console browser test cannot run under CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-default-apps",
                 f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    # The driver is given: Selenium Manager never looks for (or downloads) one.
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(WAIT)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedRunner]:
    root = tmp_path_factory.mktemp("console-browser")
    config = write_config(
        root,
        f'refresh_interval = "1h"\n\n[stack]\nconstitution = "{shipped_constitution_path()}"\n\n'
        f'[audit]\nstore = "{root / "audit.db"}"\n\n[approvals]\npoll_interval = "50ms"\n',
    )
    served = ThreadedRunner(config)
    try:
        yield served
    finally:
        served.stop()


def shown(driver: Any, element_id: str) -> Any:
    """The element once the page that has it is there: a click that submits a form returns
    before the next page has loaded, so nothing after one may be read without waiting."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    located = expected_conditions.presence_of_element_located((By.ID, element_id))
    return WebDriverWait(driver, WAIT).until(located)


def arrived(driver: Any, path: str) -> str:
    """The URL once the browser has navigated to ``path``."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(expected_conditions.url_contains(path))
    return str(driver.current_url)


def sign_in(driver: Any, runner: ThreadedRunner, who: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{runner.url}/console/login")
    driver.find_element(By.ID, "token").send_keys(TOKENS[who][1])
    driver.find_element(By.ID, "sign-in").click()
    shown_as = shown(driver, "who").text
    assert shown_as == f"{TOKENS[who][0]} ({'approver' if who.startswith('approver') else who})"


def test_an_approver_answers_an_agent_waiting_in_the_browser(
    driver: Any, runner: ThreadedRunner
) -> None:
    from selenium.webdriver.common.by import By

    # The agent asks, then waits for a person's answer (as an agent harness does).
    r = runner.client.post("/v1/decisions/action", json=ASK, headers=auth("agent"))
    assert r.json()["verdict"] == "ask", r.text
    did = r.json()["decision_id"]
    answered: dict[str, Any] = {}

    def agent_waits() -> None:
        with httpx.Client(base_url=runner.url, timeout=60) as client:
            answered.update(
                client.get(f"/v1/decisions/{did}?wait=45", headers=auth("agent")).json()
            )

    waiter = threading.Thread(target=agent_waits)
    waiter.start()

    sign_in(driver, runner, "approver")
    assert driver.current_url.endswith("/console/approvals")
    ask = driver.find_element(By.ID, f"ask-{did}")
    assert "git push origin release" in ask.text and "agent-1" in ask.text
    ask.find_element(By.CLASS_NAME, "comment").send_keys("release window is open")
    ask.find_element(By.CLASS_NAME, "approve").click()
    assert did in shown(driver, "done").text
    assert not driver.find_elements(By.ID, f"ask-{did}")

    waiter.join(timeout=WAIT + 45)
    assert not waiter.is_alive()
    assert answered["status"] == "approved" and answered["outcome"] == "allow", answered
    assert answered["approvals"][0]["by"] == "alice"
    assert answered["approvals"][0]["comment"] == "release window is open"

    # Sign out: the console is closed to this browser until it signs in again.
    driver.find_element(By.ID, "logout").click()
    assert arrived(driver, "/console/login").endswith("/console/login")
    driver.get(f"{runner.url}/console/approvals")
    assert driver.current_url.endswith("/console/login")


def test_an_agent_session_cannot_approve_and_the_docs_render_offline(
    driver: Any, runner: ThreadedRunner
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    r = runner.client.post("/v1/decisions/action", json=ASK, headers=auth("agent"))
    did = r.json()["decision_id"]
    sign_in(driver, runner, "agent")
    assert driver.current_url.endswith("/console/status")
    driver.get(f"{runner.url}/console/approvals")
    assert "role agent may not use this page" in driver.find_element(By.ID, "error").text
    # Even a hand-made form carrying the agent session's own CSRF token is refused.
    driver.execute_script(
        "const f = document.createElement('form'); f.method = 'post';"
        "f.action = '/console/approvals/' + arguments[0];"
        "for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value],"
        "                      ['answer', 'approve']]) {"
        "  const i = document.createElement('input'); i.name = k; i.value = v; f.append(i); }"
        "document.body.append(f); f.submit();",
        did,
    )
    WebDriverWait(driver, WAIT).until(expected_conditions.url_contains(f"/approvals/{did}"))
    assert "role agent may not" in shown(driver, "error").text
    state = runner.client.get(f"/v1/decisions/{did}", headers=auth("agent")).json()
    assert state["status"] == "pending"

    # The API docs render from the runner's own assets (no CDN is reachable here).
    driver.get(f"{runner.url}/docs")
    title = WebDriverWait(driver, WAIT).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .title"))
    )
    assert "Charter runner" in title.text
    assert driver.find_elements(By.CSS_SELECTOR, ".opblock-tag")  # the routes are listed
