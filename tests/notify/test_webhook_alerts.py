"""A unit reached by webhook gets its alert as signed JSON, verifiable with the unit's own secret."""

from __future__ import annotations

import json
import time

from sqlalchemy import select

from app.core.db import transaction
from app.security.signatures import verify_partner
from app.units import service as units
from app.units.models import Unit
from tests.helpers import post_sms, sms_form

SECRET = "bria-cob-webhook-secret-0123"


def test_an_alert_reaches_a_units_webhook_signed_with_its_secret(kengele, receiver, factory, vault):
    with transaction(factory) as session:
        bria = session.scalars(select(Unit).where(Unit.name == "Bria COB")).one()
        units.set_contacts(session=session, vault=vault, unit=bria,
                           contacts=[("webhook", f"{receiver.base_url}/hooks/bria", SECRET)])  # fmt: skip
        session.scalars(select(Unit).where(Unit.name == "FPU Bria")).one().status = "committed"
    post_sms(kengele.client, sms_form(From="+23672110009", Body="Attaque des hommes armés à Ngoubi, 6 morts"))
    kengele.work()
    kengele.send()
    [hook] = [r for r in receiver.received if r.path == "/hooks/bria"]
    verify_partner(secret=SECRET, header=hook.headers["x-kengele-signature"], body=hook.body, now=int(time.time()),
                   tolerance_seconds=60)  # fmt: skip
    payload = json.loads(hook.body)
    assert payload["purpose"] == "alert" and "ACK K-" in payload["text"] and payload["key"].startswith("alert:K-")
    assert "+23672110009" not in hook.body.decode()
