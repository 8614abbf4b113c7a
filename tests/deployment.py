"""Fixtures: the demo deployment (places, units, roads, zones) and a Kengele sending through the fake Twilio."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import worker
from app.core.clock import utcnow
from app.core.db import transaction
from app.escalation import tasks as escalation_tasks
from app.geo.importers import import_places_csv
from app.intake import tasks as intake_tasks
from app.main import create_app
from app.notify import tasks as notify_tasks
from app.notify.fake_twilio import MAGIC_FROM
from app.protection import service as protection_service
from app.routing import service as routing_service
from app.understanding.tasks import parsers
from app.units import service as units_service
from app.units.models import Unit, UnitContact
from tests.conftest import DEMO_PLACES, DEMO_ROADS, DEMO_UNITS, DEMO_ZONES, TWILIO_ACCOUNT, _clean

PUBLIC_URL = "http://testserver"


@pytest.fixture
def deployment(factory, vault) -> None:
    """The demo deployment loaded as an admin would, with `kengele import-*`'s own services."""
    with transaction(factory) as session:
        import_places_csv(session=session, path=DEMO_PLACES)
        units_service.import_units_csv(session=session, vault=vault, path=DEMO_UNITS, default_region="CF")
        routing_service.import_roads(session=session, raw=DEMO_ROADS.read_bytes())
        protection_service.import_protection(session=session, raw=DEMO_ZONES.read_bytes())
    parsers.clear()


@dataclass
class Kengele:
    """A Kengele wired to the fake Twilio, whose worker steps the test runs by hand at the times it chooses."""

    client: TestClient
    factory: object
    vault: object
    channels: object
    send_settings: notify_tasks.SendSettings

    def work(self) -> None:
        """Process every inbox row (pipeline included)."""
        while intake_tasks.process_due(factory=self.factory, vault=self.vault, batch_size=20, retry_schedule=[1]):
            pass

    def send(self, at: datetime | None = None) -> int:
        """Send every due outbox row as the worker would at time `at`."""
        clock = (lambda: at) if at else utcnow
        total = 0
        while sent := notify_tasks.send_due(
            factory=self.factory, vault=self.vault, channels=self.channels, config=self.send_settings, clock=clock
        ):
            total += sent
        return total

    def fire(self, at: datetime) -> int:
        """Fire the escalation deadlines due at time `at`."""
        return escalation_tasks.fire_due(factory=self.factory, clock=lambda: at)


@pytest.fixture
def kengele(settings, engine, factory, vault, twilio_api, deployment) -> Iterator[Kengele]:
    """The application with outbound Twilio pointed at the fake; the embedded worker is off (the test drives it)."""
    twilio_api.fake.clear()
    configured = settings.model_copy(update={
        "twilio_account_sid": TWILIO_ACCOUNT, "twilio_from_number": MAGIC_FROM, "twilio_api_base": twilio_api.base_url,
        "public_base_url": PUBLIC_URL,
    })  # fmt: skip
    app = create_app(configured)
    channels = worker.notify_channels(configured, app.state.keys)
    send_settings = notify_tasks.SendSettings(PUBLIC_URL, [1, 2], 5, "fr")
    with TestClient(app) as client:
        yield Kengele(client, factory, vault, channels, send_settings)
    channels.close()
    _clean(engine)


def unit_numbers(factory, vault, *names: str) -> dict[str, str]:
    """Each named unit's SMS number, decrypted."""
    with factory() as session:
        rows = session.execute(
            select(Unit.name, UnitContact.address_encrypted)
            .join(UnitContact, UnitContact.unit_id == Unit.id)
            .where(Unit.name.in_(names), UnitContact.channel == "sms")
        ).all()
    return {name: vault.decrypt(address) for name, address in rows}


def later(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


def token_for(client: TestClient, factory, role: str, username: str | None = None) -> dict[str, str]:
    """Create an operator with this role and sign in as a script would; returns the Authorization header."""
    from app.operators import service as operators

    username = username or f"{role}.{len(role)}"
    with transaction(factory) as session:
        operators.create(session=session, username=username, password="correct horse battery", role=role)
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": "correct horse battery"})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
