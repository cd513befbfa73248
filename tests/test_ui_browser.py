"""The status UI in a real headless browser (issue #16, part 5): Debian's chromium driven by
Selenium through Debian's chromedriver (no browser download: both paths are given, Selenium
Manager is off). The real web app serves on 127.0.0.1 with FakeGitHub and its OAuth flow; the
test signs in as a person would, is refused as a non-member, walks index -> endpoint -> lineage
chain, watches a rollout progress while it moves the rollout's state as the worker would, and
follows the index's drift marker to the drift page.
Screenshots are kept under $MODELBOT_TEST_ARTIFACTS (default var/test-artifacts/, git-ignored).

Without chromium or chromedriver the test fails, naming the packages (.ci/run installs them).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from bot.app.services.drift import RepositoryDrift, keep_findings
from bot.app.web import create_app
from bot.core.config import load_settings
from bot.core.drift import EndpointFacts, LastDeployment, find_drift
from bot.core.plan import LiveState
from tests.support import ui as support

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never fetch a browser or driver

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MODELBOT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MODELBOT_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture
def artifacts(backend, request) -> Path:
    base = Path(os.environ.get("MODELBOT_TEST_ARTIFACTS") or ROOT / "var" / "test-artifacts")
    where = base / "ui-browser" / f"{request.node.originalname}-{backend.name}"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    return where


@pytest.fixture
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"the browser test needs Debian's chromium and chromium-driver ({', '.join(missing)} missing): "
                    "`apt-get install chromium chromium-driver` (.ci/run does)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def served(bot_env, fake_github, tmp_path, store, queue):
    """The web app on a real socket; its public URL is that socket's (http: local trial cookies)."""
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True,
                         request_handler=_Quiet)
    url = f"http://127.0.0.1:{server.server_port}"
    support.people(fake_github)
    settings = load_settings(support.ui_env(bot_env, fake_github, tmp_path, url, secure=False))
    ids = support.seed(store)
    holder["app"] = create_app(settings, store=store, queue=queue)
    thread = threading.Thread(target=server.serve_forever, name="ui-under-test", daemon=True)
    thread.start()
    yield url, ids
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def shot(driver, where: Path, name: str) -> None:
    path = where / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot {path}"
    assert path.stat().st_size > 1000


def text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def test_a_person_signs_in_follows_a_lineage_chain_and_watches_a_rollout(browser, served, fake_github, store, artifacts):
    url, ids = served
    wait = WebDriverWait(browser, 20)

    # Not a member: GitHub signs mallory in, the bot refuses her and keeps no session.
    fake_github.sign_in_as(support.OUTSIDER)
    browser.get(url + "/")
    wait.until(lambda d: d.find_elements(By.ID, "refused"))
    assert browser.find_element(By.ID, "refused").text == "Not allowed"
    assert "not a member of the acme organisation" in text(browser)
    assert "churn" not in browser.page_source
    shot(browser, artifacts, "01-refused-non-member")
    browser.delete_all_cookies()

    # A member: the index lists the endpoints of the repositories alice can read, no others.
    fake_github.sign_in_as(support.MEMBER)
    browser.get(url + "/")
    wait.until(lambda d: d.find_elements(By.ID, "login"))
    assert browser.find_element(By.ID, "login").text == support.MEMBER
    body = text(browser)
    assert "churn" in body and "acme/models" in body and "rolling out" in body
    assert "fraud" not in body and "secret-models" not in body
    shot(browser, artifacts, "02-index")

    # index -> endpoint: history and lineage, the rollout in flight.
    browser.find_element(By.LINK_TEXT, "churn").click()
    wait.until(lambda d: d.find_elements(By.ID, "endpoint-name"))
    assert "churn" in browser.find_element(By.ID, "endpoint-name").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#history tr.chain")
    assert len(rows) == 2 and "(serving)" in rows[1].text and "bob" in rows[1].text
    assert "rolling out" in browser.find_element(By.ID, "health").text
    shot(browser, artifacts, "03-endpoint")

    # endpoint -> the serving deployment's chain: code, approvals, gate, comparison, events.
    rows[1].find_element(By.CSS_SELECTOR, "a.deployment").click()
    wait.until(lambda d: d.find_elements(By.ID, "lineage"))
    assert "a" * 40 in browser.find_element(By.ID, "commit").text
    assert "bob" in browser.find_element(By.ID, "approvals").text
    assert "allow" in browser.find_element(By.ID, "gate").text
    comparison = browser.find_element(By.ID, "comparison").text
    assert "pass" in comparison and "auc_delta" in comparison
    assert "recorded (merge)" in browser.find_element(By.ID, "events").text
    shot(browser, artifacts, "04-lineage")

    # A rollout progresses: the worker moves it, the page (reloading itself) follows.
    browser.find_element(By.LINK_TEXT, "Rollouts in flight").click()
    wait.until(lambda d: d.find_elements(By.ID, f"rollout-{ids['new']}"))
    assert "updating" in browser.find_element(By.CSS_SELECTOR, ".phase").text
    shot(browser, artifacts, "05-rollout-updating")
    support.advance(store, ids["new"], "shifting", 10.0, "shifting A/B traffic on churn, now 10% on candidate")
    browser.refresh()
    wait.until(lambda d: "10.0%" in text(d))
    assert browser.find_element(By.CSS_SELECTOR, ".steps .now").text == "shifting"
    shot(browser, artifacts, "06-rollout-10")
    support.advance(store, ids["new"], "experiment", 50.0, "A/B test on churn: 50% of traffic on candidate")
    # No reload from the test: the page's own refresh (every 10 s) must show the new step.
    WebDriverWait(browser, 25).until(lambda d: "50.0%" in text(d))
    assert browser.find_element(By.CSS_SELECTOR, ".steps .now").text == "experiment"
    shot(browser, artifacts, "07-rollout-50")
    support.advance(store, ids["new"], "succeeded", 100.0, "churn serves churn-cfg-2-p: deployment succeeded")
    browser.refresh()
    wait.until(lambda d: d.find_elements(By.ID, "none"))
    shot(browser, artifacts, "08-rollout-done")

    # The endpoint now serves the new deployment, healthy.
    browser.get(url + "/endpoints/production/churn")
    wait.until(lambda d: d.find_elements(By.ID, "health"))
    assert browser.find_element(By.ID, "health").text.startswith("healthy")
    assert "b" * 40 in browser.find_element(By.ID, "version").text
    assert "(serving)" in browser.find_elements(By.CSS_SELECTOR, "#history tr.chain")[0].text
    shot(browser, artifacts, "09-endpoint-after")

    # The drift cycle finds churn gone from AWS (and fraud, of the other repository, broken):
    # the index marks churn, the drift page says what differs and which command fixes it.
    gone = find_drift(EndpointFacts(support.READABLE, "production", "churn", "models/churn/modelbot.yaml", True,
                                    LiveState(), last=LastDeployment(ids["new"], "succeeded", "b" * 40, 12)))
    broken = find_drift(EndpointFacts(support.HIDDEN, "production", "fraud", "models/fraud/modelbot.yaml", True,
                                      LiveState(endpoint_exists=True, endpoint_status="Failed",
                                                tags={"modelbot:manifest": "models/fraud/modelbot.yaml"})))
    keep_findings(store, RepositoryDrift(support.READABLE, list(gone), checked=1), default_branch="main",
                  now=support.T0)
    keep_findings(store, RepositoryDrift(support.HIDDEN, list(broken), checked=1), default_branch="main",
                  now=support.T0)
    browser.get(url + "/")
    wait.until(lambda d: d.find_elements(By.ID, "drift-notice"))
    browser.find_element(By.CSS_SELECTOR, "#env-production a.drift").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".finding"))
    [finding] = browser.find_elements(By.CSS_SELECTOR, ".finding")
    assert "missing" in finding.text and "no longer exists in AWS" in finding.text
    assert f"/rollback production to {'b' * 12}" in finding.find_element(By.CSS_SELECTOR, ".fix code").text
    assert "fraud" not in browser.page_source and "secret-models" not in browser.page_source
    shot(browser, artifacts, "09b-drift")

    # An endpoint of a repository alice cannot read does not exist for her.
    browser.get(url + "/endpoints/production/fraud")
    assert browser.find_element(By.ID, "refused").text == "Not found"

    # Sign out (a POST form with the CSRF token): the next visit must sign in again.
    browser.get(url + "/")
    browser.find_element(By.ID, "logout").click()
    wait.until(lambda d: d.find_elements(By.ID, "signed-out"))
    shot(browser, artifacts, "10-signed-out")
    fake_github.sign_in_as(None)
    browser.get(url + "/")
    wait.until(lambda d: "Sign in to GitHub" in d.page_source)
    assert browser.current_url.startswith(fake_github.url + "/login/oauth/authorize")
    assert fake_github.violations == []
