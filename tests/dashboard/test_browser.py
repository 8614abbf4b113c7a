"""The dashboard in real headless Chromium against the real app: sign-in, the live feed, actions, message text
shown as text, what a viewer cannot do, the call-back queue, units, zones, languages and sign-out. Every test
also checks (in the `dashboard` fixture) that the page asked no other host for anything, opened no dialog and
broke no rule of its Content-Security-Policy."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.core.clock import utcnow
from app.core.db import transaction
from app.escalation.models import Timer
from app.incidents.models import Incident
from app.operators.models import ApiToken
from app.security.signatures import sign_twilio
from app.units.models import Unit
from app.verification.models import CallbackTask
from tests.conftest import TWILIO_ACCOUNT, TWILIO_TOKEN
from tests.dashboard.conftest import make_operator
from tests.deployment import token_for
from tests.helpers import new_sid, post_sms, sms_form

pytest.importorskip("playwright.sync_api", reason="the browser tests drive Chromium with Playwright")
from playwright.sync_api import expect

ATTACK = "Attaque des hommes armés à Bria, 12 morts"
LIVE_SECONDS = 2.0  # an SMS must be on an open page this soon after the worker has handled it


def report(kengele, body: str, sender: str = "+23672110004") -> str:
    """Send an SMS through the signed Twilio endpoint, run the worker, and return the incident it is in."""
    assert post_sms(kengele.client, sms_form(From=sender, Body=body)).status_code == 200
    kengele.work()
    with kengele.factory() as session:
        return session.scalars(select(Incident.ref).order_by(Incident.last_report_at.desc())).first()


def incident(kengele, admin: dict[str, str], ref: str) -> dict:
    return kengele.client.get(f"/api/v1/incidents/{ref}", headers=admin).json()


def test_sign_in_then_a_new_sms_appears_in_the_feed_live_with_a_tone_for_a_p1(kengele, factory, dashboard):
    make_operator(factory, "op.amina", "operator")
    page = dashboard.page
    answer = page.goto(dashboard.base + "/dashboard")
    assert answer.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
    page.fill("#sign-in-form input[name=username]", "op.amina")
    page.fill("#sign-in-form input[name=password]", "not the password")
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#sign-in-error")).to_have_text("Wrong username or password.")
    dashboard.shot("01-sign-in")
    dashboard.sign_in("op.amina")
    expect(page.locator("#feed-empty")).to_be_visible()
    expect(page.locator("#worker-banner")).to_be_hidden()  # nothing due, nothing late
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    assert page.evaluate("window.__tones") == 0

    ref = report(kengele, ATTACK)
    handled = time.monotonic()
    row = dashboard.row(ref)
    expect(row).to_be_visible(timeout=LIVE_SECONDS * 1000)
    assert time.monotonic() - handled < LIVE_SECONDS
    assert page.evaluate("window.__sameDocument") is True  # no reload: the live feed brought it
    cells = row.locator("td").all_inner_texts()
    assert cells[:6] == [ref, "P1", "attack on civilians", "Bria", "escalated", "unverified"] and cells[6] == "1"
    expect(page.locator("#live")).to_have_attribute("data-state", "on")
    page.wait_for_function("window.__tones > 0", timeout=2000)  # the new P1 was sounded

    second = report(kengele, "Coups de feu à Bambari, les gens fuient", "+23672110005")
    expect(dashboard.row(second)).to_be_visible(timeout=LIVE_SECONDS * 1000)
    refs = page.locator("#feed-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.ref)")
    assert refs[0] == ref  # most urgent first: the P1 stays on top of the newer, less urgent report
    assert page.locator(".leaflet-interactive").count() > 30  # incidents, units, zones and roads on the map
    dashboard.shot("02-feed-and-map")
    dashboard.open_incident(ref)  # centres the map on it, under the detail
    page.click("#detail header .close")
    expect(page.locator("#detail")).to_be_hidden()
    page.wait_for_timeout(400)  # the map's pan animation
    dashboard.shot("03-map-at-the-incident")
    assert dashboard.foreign_requests() == []
    assert any("/api/v1/feed/stream" in url for url in dashboard.requests)


def test_acknowledge_and_resolve_from_the_page(kengele, factory, dashboard):
    ref = report(kengele, ATTACK)
    admin = token_for(kengele.client, factory, "admin", "admin.api")
    make_operator(factory, "op.amina", "operator")
    dashboard.sign_in("op.amina")
    dashboard.open_incident(ref)
    page = dashboard.page
    expect(page.locator("#detail .report")).to_have_count(1)
    expect(page.locator("#detail table.ranking tbody tr").first).to_contain_text("Bria COB")
    dashboard.shot("04-incident-detail")

    page.click("#detail [data-action=acknowledge]")
    expect(page.locator("#detail header .state").first).to_have_text("acknowledged")
    assert incident(kengele, admin, ref)["status"] == "acknowledged"
    expect(dashboard.row(ref).locator("td").nth(4)).to_have_text("acknowledged")  # the feed followed
    expect(page.locator("#detail [data-action=acknowledge]")).to_be_disabled()

    resolve = page.locator("#detail [data-action=resolve]")
    resolve.click()  # resolving cannot be undone: the first click asks, on the page, for a second
    expect(resolve).to_have_text("Resolve? Click again")
    assert incident(kengele, admin, ref)["status"] == "acknowledged"
    resolve.click()
    expect(page.locator("#detail header .state").first).to_have_text("resolved")
    assert incident(kengele, admin, ref)["status"] == "resolved"
    expect(dashboard.row(ref)).to_have_count(0)  # no longer among the active incidents
    with factory() as session:
        done = session.execute(select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.target == f"incident:{ref}")
                               .order_by(AuditEntry.id)).all()  # fmt: skip
    assert done == [("op.amina", "incident.acknowledge"), ("op.amina", "incident.resolve")]


def test_verification_answers_from_the_page(kengele, factory, dashboard):
    ref = report(kengele, ATTACK)
    admin = token_for(kengele.client, factory, "admin", "admin.api")
    make_operator(factory, "op.amina", "operator")
    dashboard.sign_in("op.amina")
    dashboard.open_incident(ref)
    dashboard.page.click("#detail [data-action=confirm]")
    expect(dashboard.page.locator("#detail header .state").nth(1)).to_have_text("confirmed")
    assert incident(kengele, admin, ref)["verification"] == "confirmed"
    expect(dashboard.page.locator("#detail [data-action=false]")).to_be_disabled()


@pytest.mark.parametrize("body", ["<img src=x onerror=alert(1)>", "<script>window.pwned=1</script>"])
def test_message_text_is_shown_as_text_and_never_runs(kengele, factory, dashboard, body):
    ref = report(kengele, body)
    make_operator(factory, "viewer.one", "viewer")
    dashboard.sign_in("viewer.one")
    dashboard.open_incident(ref)
    page = dashboard.page
    expect(page.locator("#detail .report .body")).to_have_text(body)  # the characters, as sent
    page.wait_for_timeout(300)  # time for an image error handler to fire, were there an image
    assert page.locator("#detail img, #detail script, #feed-table img, #map img").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert dashboard.dialogs == []
    dashboard.shot("05-message-as-text-" + ("img" if "img" in body else "script"))


def test_a_viewer_has_no_actions_and_a_forged_request_from_the_page_is_refused(kengele, factory, dashboard):
    ref = report(kengele, ATTACK)
    admin = token_for(kengele.client, factory, "admin", "admin.api")
    make_operator(factory, "viewer.one", "viewer")
    dashboard.sign_in("viewer.one")
    dashboard.open_incident(ref)
    page = dashboard.page
    expect(page.locator("#detail .report")).to_have_count(1)
    assert page.locator("#detail button[data-action]").count() == 0
    page.click("#tabs [data-view=units]")
    expect(page.locator("#unit-table tbody tr").first).to_be_visible()
    assert page.locator("#unit-table select:enabled").count() == 0
    forged = page.evaluate("""async (ref) => {
        const csrf = document.cookie.split("; ").find((c) => c.startsWith("kengele_csrf=")).split("=")[1];
        const post = (headers) => fetch(`/api/v1/incidents/${ref}/acknowledge`, {method: "POST", headers,
            body: "{}"}).then(async (r) => [r.status, (await r.json()).detail]);
        return [await post({"Content-Type": "application/json", "X-CSRF-Token": csrf}),
                await post({"Content-Type": "application/json"})];
    }""", ref)  # fmt: skip
    assert forged == [[403, "this needs the operator role"], [403, "CSRF check failed"]]
    assert incident(kengele, admin, ref)["status"] == "escalated"


def beep(client, sender: str) -> None:
    """A missed call to the alert number, signed as Twilio signs it."""
    url = "http://testserver/twilio/voice"
    form = {"CallSid": new_sid("CA"), "From": sender, "To": "+23670000000", "CallStatus": "ringing",
            "AccountSid": TWILIO_ACCOUNT}  # fmt: skip
    signature = sign_twilio(auth_token=TWILIO_TOKEN, url=url, params=form)
    assert client.post(url, data=form, headers={"X-Twilio-Signature": signature}).status_code == 200


def test_the_call_back_queue_claim_then_done(kengele, factory, dashboard):
    beep(kengele.client, "+23672200199")
    kengele.work()
    with factory() as session:
        task_id = session.scalars(select(CallbackTask.id)).one()
    make_operator(factory, "cla.desk", "callback")
    dashboard.sign_in("cla.desk")
    page = dashboard.page
    expect(page.locator("#callback-count")).to_have_text("1")
    page.click("#tabs [data-view=callbacks]")
    row = page.locator(f'#callback-table tr[data-task="{task_id}"]')
    expect(row).to_contain_text("••")  # the caller, masked
    assert "+23672200199" not in page.content()
    dashboard.shot("06-call-back-queue")
    row.locator("[data-action=claim]").click()
    expect(row).to_have_count(0)  # no longer open
    page.select_option("#callback-filter", "claimed")
    expect(row.locator("td").nth(7)).to_have_text("cla.desk")
    row.locator("[data-action=done]").click()
    expect(row).to_have_count(0)
    with factory() as session:
        task = session.get(CallbackTask, task_id)
        assert (task.status, task.claimed_by) == ("done", "cla.desk")


def test_units_change_status_and_zones_are_listed(kengele, factory, dashboard):
    operator = token_for(kengele.client, factory, "operator", "op.roads")
    key = kengele.client.get("/api/v1/roads", headers=operator).json()["features"][0]["properties"]["key"]
    closed = {"segment_key": key, "reason": "bridge down"}
    assert kengele.client.post("/api/v1/roads/closures", headers=operator, json=closed).status_code == 201
    make_operator(factory, "op.amina", "operator")
    dashboard.sign_in("op.amina")
    page = dashboard.page
    expect(page.locator('#map path[stroke-dasharray="6 6"]').first).to_be_attached()  # the closed road, dashed
    page.click("#tabs [data-view=units]")
    with factory() as session:
        unit_id = session.scalars(select(Unit.id).where(Unit.name == "Bria COB")).one()
    select_box = page.locator(f'#unit-table tr[data-unit="{unit_id}"] select')
    expect(select_box).to_have_value("available")
    select_box.select_option("committed")
    expect(page.locator("#toast")).to_have_text("Bria COB is now committed.")
    with factory() as session:
        assert session.get(Unit, unit_id).status == "committed"
    dashboard.shot("07-units")
    page.click("#tabs [data-view=zones]")
    zone = page.locator("#zone-table tr", has_text="Bria and PK3")
    expect(zone).to_contain_text("must protect")
    dashboard.shot("08-zones")


def test_the_page_speaks_french_and_remembers_it(kengele, factory, dashboard):
    ref = report(kengele, ATTACK)
    make_operator(factory, "op.amina", "operator")
    dashboard.sign_in("op.amina")
    page = dashboard.page
    page.select_option("#language", "fr")
    expect(page.locator("#tabs [data-view=callbacks]")).to_contain_text("Rappels")
    expect(page.locator("#feed-table th").nth(1)).to_have_text("Priorité")
    expect(dashboard.row(ref).locator("td").nth(2)).to_have_text("attaque contre des civils")
    dashboard.open_incident(ref)
    expect(page.locator("#detail [data-action=acknowledge]")).to_have_text("Prendre en compte")
    dashboard.shot("09-french")
    page.reload()
    expect(page.locator("#feed-table th").nth(1)).to_have_text("Priorité")
    assert page.evaluate("document.documentElement.lang") == "fr"


def test_signing_out_ends_the_session(kengele, factory, dashboard):
    make_operator(factory, "op.amina", "operator")
    dashboard.sign_in("op.amina")
    page = dashboard.page
    [cookie] = [c for c in page.context.cookies() if c["name"] == "kengele_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").count("kengele_session") == 0  # page scripts never see the token
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    assert [c for c in page.context.cookies() if c["name"].startswith("kengele_")] == []
    old = httpx.get(dashboard.base + "/api/v1/auth/me", cookies={"kengele_session": cookie["value"]}, timeout=5)
    assert old.status_code == 401
    with factory() as session:
        assert session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()[-2:] == [
            "auth.session", "auth.logout"]  # fmt: skip


def test_a_session_ended_elsewhere_brings_back_the_sign_in_form(kengele, factory, dashboard):
    make_operator(factory, "op.amina", "operator")
    dashboard.sign_in("op.amina")
    with transaction(factory) as session:
        for token in session.scalars(select(ApiToken)):
            token.revoked_at = utcnow()  # e.g. an admin switched the account off
    report(kengele, ATTACK)  # the page reads the list again on the live event, and is told it is signed out
    page = dashboard.page
    expect(page.locator("#sign-in")).to_be_visible(timeout=5000)
    expect(page.locator("#sign-in-error")).to_have_text("Your session has ended: sign in again.")
    assert page.locator("#tabs").is_hidden()


# What a first visit may cost on a slow link: the page, its scripts, styles, dictionary and base map, as sent.
STATIC_BUDGET_BYTES = 120_000


def test_the_first_load_stays_small(kengele, factory, dashboard):
    report(kengele, ATTACK)
    make_operator(factory, "op.amina", "operator")
    dashboard.sign_in("op.amina")
    page = dashboard.page
    page.wait_for_load_state("networkidle")
    sent = {"static": 0, "api": 0}
    answers = page.evaluate("""() => performance.getEntriesByType("resource").map(
        (e) => [e.name, e.transferSize, e.decodedBodySize])""")
    navigation = page.evaluate("""() => performance.getEntriesByType("navigation").map(
        (e) => [e.name, e.transferSize, e.decodedBodySize])""")
    for url, transferred, _decoded in answers + navigation:
        if "/feed/stream" in url:
            continue  # open for as long as the page is: not part of the load
        sent["api" if "/api/" in url else "static"] += transferred
    print(f"first load: {sent['static']} bytes of page and files, {sent['api']} bytes of API answers")
    assert 0 < sent["static"] < STATIC_BUDGET_BYTES


def test_a_flood_shows_as_one_warning_that_an_operator_marks_seen(kengele, factory, dashboard):
    make_operator(factory, "desk.one", "operator")
    dashboard.sign_in("desk.one")
    page = dashboard.page
    for i in range(8):  # three past the limit of five
        post_sms(kengele.client, sms_form(From="+23675990003", Body=f"Attaque à Ouadda numéro {i}"))
    kengele.work()
    expect(page.locator("#warning-count")).to_have_text("1", timeout=LIVE_SECONDS * 1000 * 3)  # live, not polled
    page.click("#tabs [data-view=warnings]")
    row = page.locator("#warning-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("one number flooding")
    expect(row.locator("td").nth(1)).to_contain_text("••")  # the number, masked
    assert "990003" not in page.content()
    row.locator("[data-action=acknowledge]").click()
    expect(row.locator("td").nth(7)).to_have_text("desk.one")
    expect(page.locator("#warning-count")).to_have_text("")
    ref = row.locator("button.link").inner_text()
    row.locator("button.link").click()  # back to the incidents view, on the flood's incident
    expect(page.locator("#view-incidents")).to_be_visible()
    expect(dashboard.row(ref)).to_be_visible()


def test_too_many_failed_sign_ins_say_so(kengele, factory, dashboard):
    make_operator(factory, "desk.two", "operator")
    page = dashboard.page
    page.goto(dashboard.base + "/dashboard")
    for _ in range(6):
        page.fill("#sign-in-form [name=username]", "desk.two")
        page.fill("#sign-in-form [name=password]", "not the password")
        page.click("#sign-in-form button[type=submit]")
        expect(page.locator("#sign-in-error")).not_to_have_text("")
    expect(page.locator("#sign-in-error")).to_have_text("Too many failed sign-ins: wait a few minutes.")


def test_a_worker_role_that_runs_nowhere_is_said_above_every_view(kengele, factory, dashboard):
    make_operator(factory, "desk.two", "viewer")
    with transaction(factory) as session:  # a deadline five minutes past, and no worker to fire it
        session.add(Timer(key="test:late", kind="ack_deadline", subject_id=1, due_at=utcnow() - timedelta(minutes=5)))
    dashboard.sign_in("desk.two")
    banner = dashboard.page.locator("#worker-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Escalation deadlines are 5 min overdue")
    dashboard.page.select_option("#language", "fr")
    expect(banner).to_contain_text("Les délais d'escalade ont 5 min de retard")
    dashboard.page.click("#tabs [data-view=units]")
    expect(banner).to_be_visible()  # whatever the view
