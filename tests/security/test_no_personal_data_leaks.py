"""No seeded phone number or message body reaches the logs, the metrics, the exports, the feed, the audit log, an
error answer, or anything sent to Twilio or to a unit's webhook, after the whole flow has run on the demo deployment.

Allowed, and left out of the search on purpose (each is checked to be exactly that and nothing more):
* the "To" of a message or call addressed to a seeded person (an update to a reporter, a request to a CLA): a message
  has to be addressed to someone;
* the caller's number in the call-back SMS to the CLA who must ring a beeper back, and the answers of the reveal
  endpoints (`GET /api/v1/callbacks/{id}/number`, `GET /api/v1/reporters/{id}/number`, call-back role): DESIGN.md's
  "revealed only to roles that must call back, and every reveal is audited" (the audit entries are asserted);
* `reports[].body` of the incident detail: operators read a report as it was sent (DESIGN.md: "message text is shown
  in the dashboard as text"); every other field of the detail is searched;
* the lines the test's own HTTP clients log about their requests: the test talking, not Kengele.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx
import phonenumbers
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.audit.models import AuditEntry
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.escalation.models import Escalation
from app.feed import stream
from app.feed.models import FeedEventRow
from app.incidents import queries
from app.incidents.models import Incident, Report
from app.notify.fake_twilio import BackgroundServer
from app.notify.models import Notification
from app.partners import service as partner_service
from app.reporters import service as reporter_service
from app.reporters.models import Reporter
from app.security.crypto import Vault
from app.security.keys import load_keys
from app.security.signatures import sign_twilio
from app.units import service as units_service
from app.units.models import Unit, UnitContact
from app.verification.cli import import_clas_csv
from app.verification.models import CallbackTask
from tests.conftest import SECRET_KEY, TWILIO_ACCOUNT, TWILIO_TOKEN
from tests.deployment import later, token_for, unit_numbers
from tests.feed.sse import FeedReader
from tests.helpers import new_sid, partner_body, post_partner, post_sms, register_reporter, sms_form
from tests.live_server import kengele_env, running, served_in_thread


@dataclass(frozen=True)
class Seed:
    """A person of the scenario: their number and what they send (None: they only ring once)."""

    who: str
    number: str
    body: str | None = None


# Distinct, real-looking CAR numbers (Orange +23675…, Telecel +23672…), none of them in the demo deployment's files.
NGOUBI = Seed("villager, fr", "+23672110311", "Attaque des hommes armés à Ngoubi ce matin, 6 morts, maisons brûlées")
NGOUBI_TOO = Seed(
    "villager, fr", "+23675842256", "Des hommes armés ont attaqué Ngoubi, beaucoup de blessés, au secours"
)
BODA = Seed("villager, sg", "+23675230418", "Anti-balaka na Boda, ala yeke fa zo na kodoro. Aidez nous")
KAGA = Seed(
    "villager, en", "+23672450927", "Armed men near Kaga Bandoro on the Mbrès road, families fleeing to the camp"
)
# This body names a third person by number: neither the body nor that number may surface anywhere.
THIRD_PERSON = "+23672998877"
ZEMIO = Seed(
    "villager, fr",
    "+23675619034",
    "Enlèvement de 2 femmes à Zemio hier soir. Appelez mon cousin Faustin au 72 99 88 77, il a tout vu",
)
BOSSANGOA = Seed("villager, fr", "+23675064478", "Pillage du marché de Bossangoa par des hommes armés cette nuit")
DRILL = Seed("villager, fr, drill", "+23672953367", "Coups de feu entendus à Ndélé depuis deux heures, on se cache")
BEEPER = Seed("villager, beep", "+23672731145")
MEMBER = Seed(
    "partner member, fr",
    "+23672175589",
    "Les fidèles de la paroisse Saint-Joseph signalent des tirs nourris à Bambari quartier Bornou",
)
MEMBER_ID = "EEB-BAM-0042"
CLA = Seed("CLA, short code", "+23675100042", "A Bria AP 30 hommes armés vus près de la piste de l'aérodrome")
SEEDS = [NGOUBI, NGOUBI_TOO, BODA, KAGA, ZEMIO, BOSSANGOA, DRILL, BEEPER, MEMBER, CLA]
BRIA = (6.54233, 21.98633)
BEEPER_HOME = {"home_lat": 6.60, "home_lon": 22.00, "home_place": "Ndiba"}  # 8 km from Bria: the Bria CLA's
ALL_STATUSES = ["open", "escalated", "acknowledged", "responding", "resolved", "false_alarm", "merged"]
LOGS = "logs (every logger, DEBUG)"


# --- what is searched for, and where -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secret:
    """One form of a seeded number or body, the number it belongs to, and the pattern that finds it."""

    owner: str
    label: str
    pattern: re.Pattern[str]


def number_secrets(number: str) -> list[Secret]:
    """The number as E.164, international and national as written, its digits with and without the country code."""
    parsed = phonenumbers.parse(number)
    forms = {
        "E.164": number,
        "international": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        "national": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
        "digits": number[1:],
        "national digits": phonenumbers.national_significant_number(parsed),
        "last 8 digits": number[-8:],
    }
    secrets: dict[str, Secret] = {}
    for label, form in forms.items():
        # Bare digits count only where no digit touches them: a float in /metrics may hold any 8-digit run, and a
        # leaked "+236…" or "236…" is caught by the E.164 and digits forms.
        pattern = rf"(?<!\d){form}(?!\d)" if form.isdigit() else re.escape(form)
        secrets.setdefault(form, Secret(number, f"{number} {label} {form!r}", re.compile(pattern)))
    return list(secrets.values())


def body_secrets(owner: str, body: str) -> list[Secret]:
    """The body whole, and a distinctive slice of 24 characters from its middle; case does not hide them."""
    middle = len(body) // 2
    part = body[middle - 12 : middle + 12]
    return [
        Secret(owner, f"body of {owner} (whole)", re.compile(re.escape(body), re.IGNORECASE)),
        Secret(owner, f"body of {owner} (slice {part!r})", re.compile(re.escape(part), re.IGNORECASE)),
    ]


def all_secrets() -> list[Secret]:
    secrets = number_secrets(THIRD_PERSON)
    for seed in SEEDS:
        secrets += number_secrets(seed.number) + (body_secrets(seed.number, seed.body) if seed.body else [])
    return [*secrets, Secret(MEMBER.number, f"partner member id {MEMBER_ID!r}", re.compile(re.escape(MEMBER_ID)))]


def normalise(text: str) -> str:
    """The text as a person would read it: XML/HTML entities, JSON escapes and URL %-escapes undone."""
    text = html.unescape(text)
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(stripped), ensure_ascii=False)
    return f"{text}\n{unquote(text)}" if "%" in text else text


@dataclass
class Document:
    """One output to search: where it came from, its text, and the numbers it may name (see the module docstring)."""

    where: str
    text: str
    allowed: frozenset[str] = frozenset()


@dataclass
class Channels:
    """Every output of the flow, by channel."""

    documents: dict[str, list[Document]] = field(default_factory=dict)
    allowances: dict[str, int] = field(default_factory=dict)

    def add(self, channel: str, where: str, text: str, allowed: Iterable[str] = ()) -> None:
        self.documents.setdefault(channel, []).append(Document(where, normalise(text), frozenset(allowed)))

    def add_json(self, channel: str, where: str, value: object) -> None:
        self.add(channel, where, json.dumps(value, ensure_ascii=False))

    def allow(self, what: str, count: int = 1) -> None:
        self.allowances[what] = self.allowances.get(what, 0) + count

    def text(self, channel: str) -> str:
        return "\n".join(d.text for d in self.documents.get(channel, []))

    def leaks(self, secrets: list[Secret]) -> list[str]:
        found = []
        for channel, documents in self.documents.items():
            for document in documents:
                for secret in secrets:
                    if secret.owner not in document.allowed and (match := secret.pattern.search(document.text)):
                        context = document.text[max(0, match.start() - 60) : match.end() + 60]
                        found.append(f"{channel} / {document.where}: {secret.label} in …{context}…")
        return found

    def summary(self, secrets: list[Secret]) -> str:
        bodies = sum(1 for s in SEEDS if s.body)
        lines = [f"searched {len(secrets)} forms of {len(SEEDS) + 1} numbers, {bodies} bodies and a member id in:"]
        for channel, documents in self.documents.items():
            chars = sum(len(d.text) for d in documents)
            lines.append(f"  {channel:<36} {len(documents):>5} documents {chars:>9} characters")
        lines.append("allowed and left out (module docstring):")
        lines += [f"  {what:<60} {count:>5}" for what, count in self.allowances.items()]
        return "\n".join(lines)


# --- the world around Kengele --------------------------------------------------------------------------------------


class WebhookReceiver:
    """A unit's webhook endpoint: records every body it is sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[bytes] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.bodies.append(body)
        return Response(status_code=200)


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver()
    with BackgroundServer(receiver.app) as server:
        yield receiver, server.base_url


@pytest.fixture
def every_log_record(caplog) -> pytest.LogCaptureFixture:
    """caplog at DEBUG on the root and on every logger that exists, the ones that pin a level of their own too."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        # SQLAlchemy at INFO logs each statement (the engine hides the parameters); its DEBUG level dumps result
        # rows verbatim, a copy of the database that nothing in Kengele can switch on.
        caplog.set_level(logging.INFO if name.startswith("sqlalchemy") else logging.DEBUG, logger=name)
    return caplog


@contextlib.contextmanager
def uvicorn_heard(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """uvicorn's loggers, its access log included, into caplog: the configuration a uvicorn server applies when it
    is created gives them handlers of their own, stops their propagation and quietens them."""
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.access", "uvicorn.error")]
    for logger in loggers:
        caplog.set_level(logging.DEBUG, logger=logger.name)
        logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(caplog.handler)


def signed(client, url: str, form: dict[str, str]) -> httpx.Response:
    """POST a form signed as Twilio signs it; a bare path is on the TestClient's http://testserver."""
    url = url if url.startswith("http") else f"http://testserver{url}"
    return client.post(url, data=form, headers={"X-Twilio-Signature": sign_twilio(auth_token=TWILIO_TOKEN, url=url,
                                                                                  params=form)})  # fmt: skip


def press(client, call, digits: str) -> httpx.Response:
    """Press keys on an outbound call: Twilio posts them to the Gather's action."""
    action = re.search(r'action="([^"]+)"', call.get("Twiml")).group(1)
    return signed(client, action, {"CallSid": call.sid, "Digits": digits, "AccountSid": TWILIO_ACCOUNT})


def beep_form(number: str) -> dict[str, str]:
    """What Twilio posts when `number` rings the alert line."""
    return {"CallSid": new_sid("CA"), "From": number, "To": "+23670000000", "CallStatus": "ringing",
            "AccountSid": TWILIO_ACCOUNT}  # fmt: skip


def incident_at(factory, place: str) -> Incident:
    """The one live incident at this place."""
    with factory() as session:
        return session.scalars(select(Incident).where(Incident.place == place, Incident.status != "merged")).one()


# --- in process: every channel -------------------------------------------------------------------------------------


def test_no_seeded_number_or_body_leaves_kengele(
    kengele, twilio_api, factory, vault, every_log_record, webhook_receiver, tmp_path, monkeypatch
):
    """After the whole flow, no output holds a seeded number or body (the allowances: the module's docstring)."""
    monkeypatch.setattr(stream, "PING_SECONDS", 0.2)  # an idle stream notices at once that its reader left
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.5)
    client, fake, channels = kengele.client, twilio_api.fake, Channels()
    receiver, receiver_url = webhook_receiver

    # The deployment: a CLA imported as `kengele import-clas` does, a partner network, webhooks at the Bria units.
    clas = tmp_path / "clas.csv"
    clas.write_text("name,phone,area_name,lat,lon,radius_km,languages,schedule\n"
                    f"CLA Haute-Kotto,{CLA.number},Bria,{BRIA[0]},{BRIA[1]},40,fr;sg,\n", encoding="utf-8")  # fmt: skip
    with transaction(factory) as session:
        assert import_clas_csv(session=session, vault=vault, path=clas, default_region="CF").imported == 1
        partner = partner_service.create(session=session, vault=vault, name="Église Évangélique de Bambari")
        for unit in session.scalars(select(Unit).where(Unit.name.in_(("Bria COB", "FPU Bria")))):
            rows = session.scalars(select(UnitContact).where(UnitContact.unit_id == unit.id))
            contacts = [(c.channel, vault.decrypt(c.address_encrypted), None) for c in rows]
            webhook = ("webhook", f"{receiver_url}/hooks/{unit.id}", f"webhook-secret-{unit.id}-0123456789")
            units_service.set_contacts(session=session, vault=vault, unit=unit, contacts=[*contacts, webhook])
    register_reporter(factory, vault, BEEPER.number, **BEEPER_HOME)
    tokens = {role: token_for(client, factory, role, f"{role}.kengele") for role in
              ("viewer", "operator", "callback", "admin")}  # fmt: skip

    with served_in_thread(client.app, "uvicorn-leaks") as live, uvicorn_heard(every_log_record):
        with FeedReader(f"{live}/api/v1/feed/stream", tokens["viewer"]) as reader:
            reader.following()
            run_the_flow(kengele, fake, factory, vault, partner, tokens, channels)
            error_answers(client, partner, tokens, incident_at(factory, "Kaga Bandoro").ref, channels)
            with factory() as session:
                last = session.scalar(select(func.max(FeedEventRow.id)))
            for message in reader.events_until(last):
                channels.add("feed: live SSE stream", f"event {message.id}", "\n".join(message.data))
        with FeedReader(f"{live}/api/v1/feed/stream", tokens["viewer"], {"last_event_id": 0}) as replay:
            replay.following()
            for message in replay.events_until(last):
                channels.add("feed: SSE replayed from 0", f"event {message.id}", "\n".join(message.data))
        collect_http(live, factory, tokens, channels)

    collect_stored(factory, fake, receiver, channels)
    collect_logs(every_log_record, ("http://testserver/", f"{live}/"), channels)
    secrets = all_secrets()
    print("\n" + channels.summary(secrets))
    assert_not_vacuous(channels, fake, factory, vault)
    leaks = channels.leaks(secrets)
    assert not leaks, "personal data left Kengele:\n" + "\n".join(leaks)


def run_the_flow(kengele, fake, factory, vault, partner, tokens: dict[str, dict[str, str]], channels: Channels) -> None:
    """Alerts in by signed SMS, beeps and partner JSON; escalation, status callbacks, verification by the CLA,
    acknowledgements by SMS and keypad, updates to reporters, the call-back queue, resolution."""
    client = kengele.client
    answers = []
    for seed in (NGOUBI, NGOUBI_TOO, BODA, KAGA, ZEMIO, BOSSANGOA, CLA):
        form = sms_form(From=seed.number, Body=seed.body)
        answers.append(post_sms(client, form))
        if seed is NGOUBI:
            answers.append(post_sms(client, form))  # Twilio retries the same MessageSid: stored once
    answers.append(post_sms(client, sms_form(From=DRILL.number, Body=DRILL.body, KengeleExercise="1")))
    answers += [signed(client, "/twilio/voice", beep_form(BEEPER.number)) for _ in range(2)]  # rings twice
    for answer in answers:
        assert answer.status_code == 200, answer.text
        channels.add("intake answers (TwiML, JSON)", "Twilio webhook reply", answer.text)
    member = {"member_id": MEMBER_ID, "phone": MEMBER.number, "language": "fr"}
    answer = post_partner(client, partner.api_key, partner.signing_secret, partner_body(text=MEMBER.body,
                                                                                        reporter=member))  # fmt: skip
    assert answer.status_code == 202, answer.text
    channels.add("intake answers (TwiML, JSON)", "partner receipt", answer.text)
    kengele.work()
    start = utcnow()
    kengele.send(at=start)

    # Twilio reports on what it was given: every message delivered, every call completed.
    for request in fake.created("Messages") + fake.created("Calls"):
        params = fake.status_params(request.sid, "delivered" if request.resource == "Messages" else "completed")
        assert signed(client, "/twilio/status", params | {"AccountSid": TWILIO_ACCOUNT}).status_code == 204

    # The CLA confirms Ngoubi on the keypad of the confirmation call, and Bossangoa by SMS.
    ngoubi, bossangoa, kaga = (incident_at(factory, place) for place in ("Ngoubi", "Bossangoa", "Kaga Bandoro"))
    [confirm_call] = [c for c in fake.created("Calls") if c.get("To") == CLA.number]
    assert "enregistrée" in press(client, confirm_call, "1").text
    assert post_sms(client, sms_form(From=CLA.number, Body=f"CONFIRM {bossangoa.ref}")).status_code == 200
    kengele.work()

    # Nobody answers at first: the policy's clock repeats the alerts and moves on to the next units.
    for minutes in (6, 12, 18):
        kengele.fire(later(start, minutes * 60))
        kengele.send(at=later(start, minutes * 60))

    # Ngoubi: the best-ranked unit answers ACK by SMS; another incident: a unit presses 1 on its alert call.
    with factory() as session:
        ranking = session.scalars(select(Escalation.ranking).where(Escalation.incident_id == ngoubi.id)).one()
        alert_calls = set(session.scalars(select(Notification.provider_id).where(
            Notification.incident_id.not_in((ngoubi.id, kaga.id)), Notification.channel == "voice",
            Notification.purpose == "alert")))  # fmt: skip
    [unit_number] = unit_numbers(factory, vault, ranking[0]["name"]).values()
    assert post_sms(client, sms_form(From=unit_number, Body=f"ack {ngoubi.ref} merci")).status_code == 200
    kengele.work()
    unit_call = next(c for c in fake.created("Calls") if c.sid in alert_calls)
    assert "<Hangup" in press(client, unit_call, "1").text

    # The operations centre acknowledges Kaga Bandoro and resolves Ngoubi; the call-back operator rings the beeper.
    operator, callback = tokens["operator"], tokens["callback"]
    answer = client.post(f"/api/v1/incidents/{kaga.ref}/acknowledge", headers=operator, json={"note": "patrouille"})
    assert answer.status_code == 200, answer.text
    answer = client.post(f"/api/v1/incidents/{ngoubi.ref}/resolve", headers=operator, json={"note": "sur place"})
    assert answer.status_code == 200, answer.text
    [task] = client.get("/api/v1/callbacks", headers=tokens["viewer"]).json()
    assert client.post(f"/api/v1/callbacks/{task['id']}/claim", headers=callback).status_code == 200
    # The places a number is handed out, on purpose and audited; their answers are left out (module docstring).
    assert client.get(f"/api/v1/callbacks/{task['id']}/number", headers=callback).json() == {"number": BEEPER.number}
    [member_id] = [r["id"] for r in client.get("/api/v1/reporters", headers=callback, params={
        "kind": "partner_member"}).json()["items"]]  # fmt: skip
    assert client.get(f"/api/v1/reporters/{member_id}/number", headers=callback).json() == {"number": MEMBER.number}
    channels.allow("answers of the audited reveal endpoints", 2)
    done = client.post(f"/api/v1/callbacks/{task['id']}/done", headers=callback, json={"note": "rappelé, tout va bien"})
    assert done.status_code == 200
    kengele.fire(later(start, 20 * 60))
    kengele.send(at=later(start, 20 * 60))
    for request in fake.created("Messages")[-5:]:  # the last few never arrive: the failure path of the callbacks
        params = fake.status_params(request.sid, "undelivered", error_code=30003)
        assert signed(client, "/twilio/status", params | {"AccountSid": TWILIO_ACCOUNT}).status_code == 204


def error_answers(client, partner, tokens: dict[str, dict[str, str]], ref: str, channels: Channels) -> None:
    """Malformed or refused requests that carry a seeded number and body: no answer may echo them."""
    key, secret, viewer, operator = partner.api_key, partner.signing_secret, tokens["viewer"], tokens["operator"]
    sms = sms_form(From=ZEMIO.number, Body=ZEMIO.body)
    bad_json = f'{{"idempotency_key": "k1", "text": "{MEMBER.body}", "reporter": {{"phone": {MEMBER.number}'
    stale = f"t={int(time.time()) - 3600},v1={'0' * 64}"
    answers = {
        "SMS, bad MessageSid": post_sms(client, {**sms, "MessageSid": f"SM{ZEMIO.number}"}),
        "SMS, forged signature": post_sms(client, sms, signature="forged"),
        "SMS, not a form": client.post("/twilio/sms", json=sms),
        "SMS, too long": post_sms(client, {**sms, "Body": ZEMIO.body * 20}),
        "beep, bad CallSid": signed(client, "/twilio/voice", {**beep_form(ZEMIO.number), "CallSid": ZEMIO.number}),
        "partner, number a digit too long": post_partner(client, key, secret, partner_body(
            text=MEMBER.body, reporter={"phone": MEMBER.number + "9"})),
        "partner, text too long": post_partner(client, key, secret, partner_body(text=MEMBER.body * 20)),
        "partner, unknown field": post_partner(client, key, secret, partner_body(text=MEMBER.body,
                                                                                 sender=MEMBER.number)),
        "partner, not JSON": post_partner(client, key, secret, bad_json.encode()),
        "partner, stale signature": post_partner(client, key, secret, partner_body(text=MEMBER.body),
                                                 signature=stale),
        "partner, unknown key": post_partner(client, MEMBER.number, secret, partner_body(text=MEMBER.body)),
        # The username tried is audited (and throttled on) by design; a password must vanish.
        "sign-in, number as password": client.post("/api/v1/auth/token", data={
            "username": "op.inconnu", "password": f"{KAGA.number} {KAGA.body}"}),
        "incident by number": client.get(f"/api/v1/incidents/{KAGA.number}", headers=viewer),
        "note on incident by number": client.post(f"/api/v1/incidents/{KAGA.number}/notes", headers=operator,
                                                  json={"text": KAGA.body}),
        "note too long": client.post(f"/api/v1/incidents/{ref}/notes", headers=operator,
                                     json={"text": f"{KAGA.number} {KAGA.body}" * 30}),
        "note, unknown field": client.post(f"/api/v1/incidents/{ref}/notes", headers=operator,
                                           json={"text": "x", KAGA.number: KAGA.body}),
        "verify incident by number": client.post(f"/api/v1/incidents/{KAGA.number}/verify", headers=operator,
                                                 json={"answer": "confirmed"}),
        "CAP of incident by number": client.get(f"/api/v1/exports/cap/{KAGA.number}.xml", headers=viewer),
        "incidents filtered by number": client.get("/api/v1/incidents", headers=viewer,
                                                   params={"category": KAGA.number, "bbox": KAGA.number}),
    }  # fmt: skip
    for name, answer in answers.items():
        assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text)
        channels.add("error answers", f"{name} ({answer.status_code})", answer.text)


# --- collecting ----------------------------------------------------------------------------------------------------


def collect_http(live: str, factory, tokens: dict[str, dict[str, str]], channels: Channels) -> None:
    """Over real HTTP (uvicorn's access log included): metrics, every export, the API as a viewer and an admin see."""
    viewer = tokens["viewer"]
    with httpx.Client(base_url=live, timeout=30) as http:

        def get(path: str, headers: dict[str, str] | None = None, **params) -> httpx.Response:
            answer = http.get(path, headers=headers, params=params)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            return answer

        channels.add("metrics", "/metrics", get("/metrics").text)
        with factory() as session:
            refs = list(session.scalars(select(Incident.ref).order_by(Incident.id)))
        exports = "/api/v1/exports"
        for flag in ({}, {"exercise": True}, {"exercise": False}):
            for export in ("GeoJSON", "HXL CSV"):
                path = f"{exports}/incidents.{'geojson' if export == 'GeoJSON' else 'csv'}"
                channels.add(f"exports: {export}", f"{flag}", get(path, viewer, status=ALL_STATUSES, **flag).text)
        for language in ("fr", "en"):
            channels.add("exports: CAP Atom", language, get(f"{exports}/cap.atom", viewer, language=language).text)
            for ref in refs:
                answer = get(f"{exports}/cap/{ref}.xml", viewer, language=language)
                channels.add("exports: CAP 1.2", f"{ref} {language}", answer.text)
        channels.add_json("API: incidents", "list", get("/api/v1/incidents", viewer, status=ALL_STATUSES,
                                                        limit=200).json())  # fmt: skip
        for ref in refs:
            detail = get(f"/api/v1/incidents/{ref}", viewer).json()
            for report in detail["reports"]:  # operators read reports as sent (module docstring)
                report.pop("body")
                channels.allow("report bodies in the incident detail")
            channels.add_json("API: incidents", f"detail {ref}", detail)
        channels.add_json("API: reporters", "list", get("/api/v1/reporters", viewer, limit=200).json())
        channels.add_json("API: CLAs, call-backs, units", "CLAs", get("/api/v1/clas", viewer).json())
        for status in ("open", "claimed", "done"):
            answer = get("/api/v1/callbacks", viewer, status=status)
            channels.add_json("API: CLAs, call-backs, units", f"call-backs {status}", answer.json())
        channels.add_json("API: CLAs, call-backs, units", "units", get("/api/v1/units", viewer).json())
        channels.add_json("audit log API", "/api/v1/audit", get("/api/v1/audit", tokens["admin"], limit=500).json())


def collect_stored(factory, fake, receiver: WebhookReceiver, channels: Channels) -> None:
    """The stored feed, `kengele incidents`' listing, and what went to third parties: Twilio, the units' webhooks."""
    with factory() as session:
        for row in session.scalars(select(FeedEventRow).order_by(FeedEventRow.id)):
            channels.add("feed: feed_event rows", f"row {row.id}", f"{row.kind} {row.ref} {json.dumps(row.data)}")
        channels.add_json("kengele incidents --json", "all", queries.incident_summaries(session=session))
        call_back_sms = set(session.scalars(select(Notification.provider_id).where(
            Notification.purpose == "callback_task")))  # fmt: skip
        [task] = session.scalars(select(CallbackTask.id)).all()
        reveals = session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "reporter.reveal")).all()
    # The beeper's number went to the CLA by SMS once, and that reveal is in the audit log.
    assert [r for r in reveals if r.get("via") == "sms"] == [{"via": "sms", "task": task}]
    seeded = {seed.number for seed in SEEDS}
    for request in fake.requests:
        fields = {name: values for name, values in request.form.items() if name != "To"}
        if request.get("To") in seeded:
            channels.allow("'To' of messages and calls to a seeded person")
        allowed = ()
        if request.sid in call_back_sms:
            assert BEEPER.number in request.get("Body")
            channels.allow("the beeper's number in the call-back SMS to the CLA")
            allowed = (BEEPER.number,)
        channels.add(f"Twilio API: {request.resource}", f"{request.method} {request.path} {request.sid}",
                     json.dumps(fields, ensure_ascii=False), allowed)  # fmt: skip
    with receiver.lock:
        for body in receiver.bodies:
            channels.add("unit webhooks", "payload", body.decode())


def collect_logs(caplog: pytest.LogCaptureFixture, test_clients: tuple[str, ...], channels: Channels) -> None:
    """Every record with its traceback, except the test's own HTTP clients' lines about their requests."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    ours = tuple(f"httpx INFO HTTP Request: {method} {base}" for method in ("GET", "POST") for base in test_clients)
    for record in caplog.records:
        text = formatter.format(record)
        if record.name == "httpx" and text.startswith(ours):
            channels.allow("log lines of the test's own HTTP clients")
            continue
        channels.add(LOGS, record.name, text)


def assert_not_vacuous(channels: Channels, fake, factory, vault) -> None:
    """Every seeded person reached Kengele and each channel holds what the flow must have put there: finding
    nothing then means something."""
    with factory() as session:
        for seed in SEEDS:
            reporter = session.scalar(select(Reporter.id).where(
                Reporter.identity_hash == reporter_service.phone_identity(vault, seed.number)))  # fmt: skip
            assert session.scalar(select(func.count()).where(Report.reporter_id == reporter)), seed
        counts = select(Notification.purpose, func.count()).group_by(Notification.purpose)
        purposes = dict(session.execute(counts).all())
    alert_sms = [r for r in fake.created("Messages") if "ACK K-" in r.get("Body")]
    assert len(alert_sms) >= 10 and len(fake.created("Calls")) >= 5, purposes
    assert purposes["reporter_update"] >= 2 and purposes["callback_task"] == 1 and purposes["confirm"] >= 2, purposes
    assert channels.documents["unit webhooks"]
    logs = channels.text(LOGS)
    for expected in ("became report", "handed to Twilio", "GET /api/v1/exports/incidents.csv", "webhook"):
        assert expected in logs, expected
    assert 'kengele_messages_accepted_total{channel="sms"}' in channels.text("metrics")
    cap = channels.documents["exports: CAP 1.2"]
    assert len(cap) >= 12 and all("<alert" in d.text and "<info>" in d.text for d in cap)
    assert all(d.text.count("<entry>") >= 5 for d in channels.documents["exports: CAP Atom"])
    assert len(json.loads(channels.documents["exports: GeoJSON"][0].text)["features"]) >= 6
    assert channels.documents["exports: HXL CSV"][0].text.count("\n") >= 2 + 6  # header, hashtags, a line each
    assert len(channels.documents["feed: feed_event rows"]) >= 15 and len(channels.documents["feed: live SSE stream"])
    audit = channels.text("audit log API")
    assert all(a in audit for a in ("reporter.reveal", "callback.claim", "incident.resolve", "incident.acknowledge"))
    assert len(channels.documents["error answers"]) >= 15


# --- a live `kengele demo` at DEBUG: what its stderr shows -----------------------------------------------------------


def test_a_live_server_logging_at_debug_writes_no_seeded_number_or_body(make_database, tmp_path):
    """The embedded default as shipped (console sink, its logging set-up, uvicorn's access log), at DEBUG."""
    url = make_database()
    env = kengele_env(database_url=url, data_dir=str(tmp_path), secret_key=SECRET_KEY, twilio_auth_token=TWILIO_TOKEN,
                      log_level="DEBUG", worker_poll_seconds="0.2")  # fmt: skip
    settings = Settings(database_url=url, data_dir=tmp_path, secret_key=SECRET_KEY)
    engine = make_engine(settings)
    factory, vault = make_sessionmaker(engine), Vault(load_keys(settings))
    log = tmp_path / "server.log"
    senders = (NGOUBI, NGOUBI_TOO, BODA, ZEMIO)
    try:
        with running(["demo", "--no-samples"], env, tmp_path, log) as base, httpx.Client(timeout=30) as http:
            register_reporter(factory, vault, BEEPER.number, **BEEPER_HOME)  # the demo's CLA Bria will ring back
            for seed in senders:
                assert signed(http, f"{base}/twilio/sms", sms_form(From=seed.number, Body=seed.body)).is_success
            assert signed(http, f"{base}/twilio/voice", beep_form(BEEPER.number)).is_success
            # Refused requests with a number in them: their access-log lines are written too.
            assert post_sms(http, sms_form(From=KAGA.number, Body=KAGA.body), url=f"{base}/twilio/sms",
                            signature="forged").status_code == 403  # fmt: skip
            assert http.get(f"{base}/api/v1/incidents/{KAGA.number}").status_code == 401
            wait_for(factory, lambda s: s.scalar(select(func.count()).select_from(Report)) == len(senders) + 1)
            wait_for(factory, lambda s: not s.scalar(select(func.count()).where(Notification.state == "pending")))
            ngoubi = incident_at(factory, "Ngoubi")
            with factory() as session:
                ranking = session.scalars(select(Escalation.ranking).where(Escalation.incident_id == ngoubi.id)).one()
            [unit_number] = unit_numbers(factory, vault, ranking[0]["name"]).values()
            ack = sms_form(From=unit_number, Body=f"ACK {ngoubi.ref}")
            assert signed(http, f"{base}/twilio/sms", ack).is_success
            wait_for(factory, lambda s: s.scalar(select(func.count()).where(
                Notification.purpose == "reporter_update", Notification.state == "sent")) == 2)  # fmt: skip
    finally:
        engine.dispose()
    text = log.read_text(encoding="utf-8")
    lines = text.count("\n")
    print(f"\nsearched {lines} lines ({len(text)} characters) of a live `kengele demo`'s stderr at DEBUG")
    for expected in ("DEBUG", "became report", "outbound sms alert", "outbound sms callback", "outbound sms update",
                     '"POST /twilio/sms HTTP/1.1" 200', '"POST /twilio/sms HTTP/1.1" 403'):  # fmt: skip
        assert expected in text, expected
    channels = Channels()
    channels.add("live server stderr", "server.log", text)
    leaks = channels.leaks(all_secrets())
    assert not leaks, "personal data in the live server's log:\n" + "\n".join(leaks)


def wait_for(factory, done, timeout: float = 60) -> None:
    """Poll the database until done(session) holds (the live server's worker runs on its own clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with factory() as session:
            if done(session):
                return
        time.sleep(0.2)
    raise AssertionError("the live server's worker did not get there in time")
