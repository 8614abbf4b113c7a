"""Fixtures for the dashboard: the kengele fixture's app behind a real server (uvicorn in a thread), headless
Debian Chromium driven by Playwright, and operators to sign in as."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.core.db import transaction
from app.feed import stream
from app.operators import service as operators
from tests.live_server import served_in_thread

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"
VIEWPORT = {"width": 1366, "height": 768}
# Runs in the page before its own scripts: records CSP violations and counts the tones the page plays.
PAGE_PROBES = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
window.__tones = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.__tones += 1; return start.apply(this, args); };
"""


def make_operator(factory, username: str, role: str) -> str:
    """An operator account with the tests' password; returns the username."""
    with transaction(factory) as session:
        operators.create(session=session, username=username, password=PASSWORD, role=role)
    return username


@pytest.fixture
def live(kengele, monkeypatch) -> Iterator[str]:
    """The kengele fixture's app (demo deployment, fake Twilio) served on 127.0.0.1; yields its base URL."""
    monkeypatch.setattr(stream, "PING_SECONDS", 0.5)  # a stream whose page has closed is noticed quickly
    app = kengele.client.app
    with served_in_thread(app, "uvicorn-dashboard") as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium (the `chromium` package), shared by the run."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@dataclass
class Dashboard:
    """One browser tab on the dashboard, with everything it requested and every dialog it tried to open."""

    page: object
    base: str
    shots: Path
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # console messages and answers, to explain a failure

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        """Sign in through the form and wait for the incident feed."""
        self.page.goto(self.base + "/dashboard")
        self.page.fill("#sign-in-form input[name=username]", username)
        self.page.fill("#sign-in-form input[name=password]", password)
        self.page.click("#sign-in-form button[type=submit]")
        try:
            self.page.wait_for_selector("#view-incidents:not([hidden])", timeout=10_000)
            self.page.wait_for_selector("#live[data-state=on]", timeout=10_000)
        except Exception as exc:
            raise AssertionError("the dashboard did not start:\n" + "\n".join(self.log)) from exc

    def row(self, ref: str):
        return self.page.locator(f'#feed-table tbody tr[data-ref="{ref}"]')

    def open_incident(self, ref: str) -> None:
        self.row(ref).click()
        self.page.wait_for_selector(f'#detail:not([hidden]) header h2:text-is("{ref}")')

    def shot(self, name: str) -> Path:
        """A screenshot under pytest's tmp_path, and in $KENGELE_SCREENSHOTS_DIR when that is set."""
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        if target := os.environ.get("KENGELE_SCREENSHOTS_DIR"):
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(target) / path.name)
        return path

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__csp")

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.base + "/")]


@pytest.fixture
def dashboard(browser, live, tmp_path) -> Iterator[Dashboard]:
    """A fresh browser context at 1366×768 on the live app; after the test, the page must have asked nothing of
    any other host, opened no dialog and broken no CSP rule."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    context.add_init_script(PAGE_PROBES)
    page = context.new_page()
    screen = Dashboard(page, live, tmp_path)
    page.on("request", lambda request: screen.requests.append(request.url))
    page.on("console", lambda message: screen.log.append(f"console {message.type}: {message.text}"))
    page.on("requestfinished", lambda r: screen.log.append(f"finished {r.method} {r.url}"))
    page.on("requestfailed", lambda r: screen.log.append(f"failed {r.method} {r.url}: {r.failure}"))
    page.on("response", lambda r: screen.log.append(f"answer {r.status} {r.request.method} {r.url}"))

    def refuse(dialog) -> None:
        screen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    yield screen
    violations = screen.csp_violations() if not page.is_closed() else []
    context.close()
    assert screen.dialogs == [], "the page opened a dialog"
    assert violations == [], "the page broke its Content-Security-Policy"
    assert screen.foreign_requests() == [], "the page asked another host for something"
