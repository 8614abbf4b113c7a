"""Fixtures for the exports: the demo deployment with the exports router, a viewer, and alerts sent by SMS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from app.exports.router import router
from app.incidents.models import Incident
from app.incidents.schemas import IncidentOut
from tests.deployment import token_for
from tests.helpers import post_sms, sms_form

VILLAGER = "+23672110004"


@pytest.fixture
def viewer(kengele, factory) -> dict[str, str]:
    """A viewer's Authorization header, on an app that serves the exports (until app/main.py includes them)."""
    app = kengele.client.app
    if not any(getattr(r, "path", "").startswith("/api/v1/exports") for r in app.routes):
        app.include_router(router)
    return token_for(kengele.client, factory, "viewer")


@pytest.fixture
def send(kengele) -> Callable[..., None]:
    """Send an SMS through the signed Twilio endpoint and run the worker over it."""

    def send(body: str, sender: str = VILLAGER) -> None:
        answer = post_sms(kengele.client, sms_form(From=sender, Body=body))
        assert answer.status_code == 200, answer.text
        kengele.work()

    return send


@pytest.fixture
def stored(factory) -> Callable[[], list[dict[str, Any]]]:
    """The incidents as stored, shaped as the incidents API shows them, to compare the exports with."""

    def stored() -> list[dict[str, Any]]:
        with factory() as session:
            rows = session.scalars(select(Incident).where(Incident.status != "merged").order_by(Incident.id))
            return [IncidentOut.model_validate(i, from_attributes=True).model_dump() for i in rows]

    return stored
