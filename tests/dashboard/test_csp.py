"""The dashboard's Content-Security-Policy, enforced by real Chromium: every response carries it, script the page
did not ship never runs (each attempt reported as a violation), no other site can frame the page, and normal use
breaks none of its rules. And markup that reporters and operators send is shown as text, never as elements."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import select

from app.dashboard import router as dashboard_router
from app.incidents.models import Incident
from tests.dashboard.conftest import PAGE_PROBES, VIEWPORT, make_operator
from tests.deployment import token_for
from tests.helpers import post_sms, sms_form
from tests.security.test_injection import PAYLOADS, SMS_TEXT

playwright = pytest.importorskip("playwright.sync_api", reason="the browser tests drive Chromium with Playwright")


class Elsewhere:
    """Another site on 127.0.0.1 (its own port, so another origin): pages that frame, or script, the dashboard."""

    def __init__(self, dashboard: str) -> None:
        pages = {
            "/frame.html": f'<iframe name="kengele" src="{dashboard}/dashboard"></iframe>'
                           '<iframe name="control" src="/inner.html"></iframe>',
            "/inner.html": '<p id="inner">framed</p>',
            "/evil.js": "window.__evil = true;",
            "/data.json": "{}",
        }  # fmt: skip

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                kind = "text/javascript" if self.path.endswith(".js") else "text/html"
                self.send_header("Content-Type", "application/json" if self.path.endswith(".json") else kind)
                self.send_header("Access-Control-Allow-Origin", "*")  # were it fetched, CORS would not stop it
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="elsewhere", daemon=True)

    def __enter__(self) -> Elsewhere:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Tab:
    """A browser tab with the CSP probe, and the console messages it logged."""

    page: object
    base: str
    console: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        return self.page.evaluate("window.__csp")


@pytest.fixture
def tab(browser, live) -> Iterator[Tab]:
    """A tab of its own (the `dashboard` fixture fails any test whose page broke the policy: these do on purpose)."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    context.add_init_script(PAGE_PROBES)
    page = context.new_page()
    opened = Tab(page, live)
    page.on("console", lambda message: opened.console.append(message.text))
    yield opened
    context.close()


@pytest.fixture
def elsewhere(live) -> Iterator[Elsewhere]:
    with Elsewhere(live) as site:
        yield site


def test_every_dashboard_response_carries_the_policy(tab):
    """The page and each of its files: the router's policy, and no framing."""
    policy = dashboard_router.content_security_policy()
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy
    answer = tab.page.goto(tab.base + "/dashboard")
    assert answer.headers["content-security-policy"] == policy
    assert answer.headers["x-frame-options"] == "DENY"
    for path in ("/dashboard/static/js/app.js", "/dashboard/static/css/dashboard.css",
                 "/dashboard/static/i18n/en.json", "/dashboard/static/vendor/leaflet/leaflet.js"):  # fmt: skip
        headers = httpx.get(tab.base + path).headers
        assert headers["content-security-policy"] == policy, path
        assert headers["x-frame-options"] == "DENY", path


def test_script_the_page_did_not_ship_never_runs(tab, elsewhere):
    """Inline script, inline handlers, eval, another site's script, style or fetch: refused, and reported."""
    page = tab.page
    page.goto(tab.base + "/dashboard")
    page.wait_for_selector("#sign-in-form")
    assert tab.violations() == []  # the page itself is clean
    outcome = page.evaluate("""async (elsewhere) => {
        const script = document.createElement("script");
        script.textContent = "window.__inline = true;";
        document.body.append(script);
        document.body.insertAdjacentHTML("beforeend",
            '<img src="/dashboard/static/none.png" onerror="window.__handler = true">');
        // Later, as a task of the page: DevTools lets code it evaluates itself call eval.
        const evaluated = await new Promise((resolve) => setTimeout(() => {
            try { resolve(eval("'evaluated'")); } catch (error) { resolve(error.name); }
        }));
        const remote = document.createElement("script");
        remote.src = elsewhere + "/evil.js";
        document.head.append(remote);
        const style = document.createElement("style");
        style.textContent = "body { background: red; }";
        document.head.append(style);
        let fetched;
        try { fetched = (await fetch(elsewhere + "/data.json")).status; } catch (error) { fetched = error.name; }
        await new Promise((resolve) => setTimeout(resolve, 500));
        return {inline: window.__inline ?? null, handler: window.__handler ?? null, evil: window.__evil ?? null,
                evaluated, fetched, background: getComputedStyle(document.body).backgroundColor};
    }""", elsewhere.base)  # fmt: skip
    assert outcome["inline"] is None and outcome["handler"] is None and outcome["evil"] is None
    assert outcome["evaluated"] == "EvalError" and outcome["fetched"] == "TypeError"
    assert outcome["background"] != "rgb(255, 0, 0)"
    directives = {v.split(" ", 1)[0] for v in tab.violations()}
    assert {"script-src-elem", "script-src-attr", "script-src", "style-src-elem", "connect-src"} <= directives
    assert any(v.startswith("script-src-elem " + elsewhere.base) for v in tab.violations())


def test_another_site_cannot_frame_the_dashboard(tab, elsewhere):
    """Framed from another origin, the dashboard is refused (frame-ancestors 'none'); the control frame loads."""
    page = tab.page
    page.goto(elsewhere.base + "/frame.html")
    control = page.frame(name="control")
    control.wait_for_selector("#inner")  # framing itself works on this page
    framed = page.frame(name="kengele")
    page.wait_for_timeout(1000)  # time for the dashboard to load, were it allowed to
    assert not framed.url.startswith(tab.base), framed.url  # an error page instead of the dashboard
    assert framed.url.startswith("chrome-error://") and framed.query_selector("#sign-in-form") is None
    assert any("frame-ancestors 'none'" in message for message in tab.console), tab.console


def test_signing_in_and_using_the_page_breaks_no_rule(kengele, factory, dashboard):
    """Sign in, the live feed, the map, an incident, an action, every tab and French: no violation, no refusal."""
    assert post_sms(kengele.client, sms_form(Body="Attaque des hommes armés à Bria, 12 morts")).status_code == 200
    kengele.work()
    with factory() as session:
        ref = session.scalars(select(Incident.ref)).one()
    make_operator(factory, "op.csp", "operator")
    dashboard.sign_in("op.csp")
    page = dashboard.page
    dashboard.open_incident(ref)
    page.click("#detail [data-action=acknowledge]")
    page.wait_for_selector("#detail header .state.acknowledged")
    for view in ("callbacks", "units", "zones", "incidents"):
        page.click(f"#tabs [data-view={view}]")
        page.wait_for_selector(f"#view-{view}:not([hidden])")
    page.select_option("#language", "fr")
    # Playwright's expect, not wait_for_function: a string predicate is an eval, which the policy refuses.
    playwright.expect(page.locator("#tabs [data-view=callbacks]")).to_contain_text("Rappels")
    page.wait_for_timeout(500)
    assert dashboard.csp_violations() == []
    refused = [line for line in dashboard.log if "Content Security Policy" in line or "Refused to" in line]
    assert refused == []


def test_the_dashboard_shows_markup_in_messages_notes_and_unit_names_as_text(kengele, factory, dashboard):
    """tests/security/test_injection.py's markup payloads are the text of the incident detail and the unit list, and
    no element came from them."""
    client = kengele.client
    admin = token_for(client, factory, "admin", "admin.inject")
    markup = [p for p in PAYLOADS if "<" in p or "{{" in p]
    for n, payload in enumerate(markup):
        assert post_sms(client, sms_form(From=f"+2367220{n:04d}", Body=SMS_TEXT.format(payload))).status_code == 200
    kengele.work()
    with factory() as session:
        ref = session.scalars(select(Incident.ref)).one()
    for payload in markup:
        assert client.post(f"/api/v1/incidents/{ref}/notes", headers=admin, json={"text": payload}).status_code == 201
    unit = client.get("/api/v1/units", headers=admin).json()[0]
    renamed = {**{k: unit[k] for k in ("kind", "lat", "lon")}, "name": markup[1] + uuid.uuid4().hex[:4]}
    assert client.put(f"/api/v1/units/{unit['id']}", headers=admin, json=renamed).status_code == 200

    make_operator(factory, "viewer.inject", "viewer")
    page = dashboard.page
    # Counts every element the page ever gets whose tag a payload names, from before its own scripts run.
    page.add_init_script("""
        window.__injected = [];
        new MutationObserver((changes) => changes.forEach((c) => c.addedNodes.forEach((n) => {
            if (n.nodeType === 1 && ["SCRIPT", "IMG"].includes(n.tagName) && !n.src.includes("/dashboard/static/"))
                window.__injected.push(n.outerHTML);
        }))).observe(document, {childList: true, subtree: true});
    """)  # fmt: skip
    dashboard.sign_in("viewer.inject")
    dashboard.open_incident(ref)
    bodies = page.locator("#detail .report .body")
    playwright.expect(bodies).to_have_count(len(markup))
    assert sorted(bodies.all_inner_texts()) == sorted(SMS_TEXT.format(p) for p in markup)
    timeline = page.locator("#detail .timeline").inner_text()
    assert all(p in timeline for p in markup)
    page.click("#tabs [data-view=units]")
    playwright.expect(page.locator("#unit-table")).to_contain_text(renamed["name"])
    page.wait_for_timeout(300)  # an image's error handler would have fired by now
    assert page.evaluate("window.__injected") == []
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("#detail img, #detail script, #unit-table img, #unit-table script").count() == 0
