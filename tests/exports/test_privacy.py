"""No export says who reported, from which number, or in what words; and none answers without a token."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.incidents.models import Report

EXPORTS = "/api/v1/exports"
NUMBER = "+23675987654"
WORDS = "Attaque des hommes armés à Bria, 12 morts. C'est Zéphyrin Ngakoudou qui écrit, venez vite"


def every_export(kengele, headers, ref: str) -> dict[str, str]:
    paths = ["incidents.geojson", "incidents.csv", f"cap/{ref}.xml", "cap.atom", f"cap/{ref}.xml?language=en"]
    answers = {path: kengele.client.get(f"{EXPORTS}/{path}", headers=headers) for path in paths}
    assert all(a.status_code == 200 for a in answers.values()), {p: a.status_code for p, a in answers.items()}
    return {path: answer.text for path, answer in answers.items()}


def test_no_export_carries_the_number_the_words_or_the_receipt(kengele, viewer, send, stored, factory):
    send(WORDS, NUMBER)
    send("Des hommes armés ont attaqué Bria, 15 morts", "+23672110005")
    with factory() as session:
        receipts = set(session.scalars(select(Report.receipt_ref)))
    [incident] = stored()
    secrets = {NUMBER, NUMBER[1:], NUMBER[-8:], NUMBER[-6:], WORDS, "Zéphyrin", "Ngakoudou", "venez vite", "••"}
    secrets |= receipts
    for path, text in every_export(kengele, viewer, incident["ref"]).items():
        leaked = {s for s in secrets if s in text}
        assert not leaked, (path, leaked)
    assert len(receipts) == 2 and incident["reporter_count"] == 2


@pytest.mark.parametrize("path", ["incidents.geojson", "incidents.csv", "cap/K-1234.xml", "cap.atom"])
def test_every_export_refuses_a_caller_without_a_live_token(kengele, viewer, path):
    assert kengele.client.get(f"{EXPORTS}/{path}").status_code == 401
    stale = {"Authorization": "Bearer not-a-token"}
    assert kengele.client.get(f"{EXPORTS}/{path}", headers=stale).status_code == 401
