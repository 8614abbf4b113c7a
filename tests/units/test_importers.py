"""Unit rows from CSV (pure): the mission's words for kinds, contacts, and errors that name their column."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.units.importers import UnitRowError, parse_unit_row

SECRET = "s3cret-of-16-chars"


def row(**fields: str) -> dict[str, str]:
    values = {"name": "Kouango COB", "kind": "base", "lat": "4.99437", "lon": "19.98065"}
    values.update(fields)
    return values


def parse(**fields: str):
    return parse_unit_row(row(**fields), "CF")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("COB", "company_base"),
        ("cob", "company_base"),
        ("Base", "company_base"),
        ("TOB", "temporary_base"),
        ("FPU", "police"),
        ("IPO", "police"),
        ("HQ", "sector_hq"),
        ("Sector HQ", "sector_hq"),
        ("sector-hq", "sector_hq"),
        ("JOC", "joc"),
        (" patrol ", "patrol"),
    ],
)
def test_kind_accepts_the_missions_usual_words(kind, expected):
    assert parse(kind=kind).values["kind"] == expected


def test_a_minimal_row_gets_the_defaults():
    parsed = parse()
    assert parsed.values == {  # no status: the import keeps a known unit's, and makes a new one available
        "name": "Kouango COB", "kind": "company_base", "sector": None, "place": None, "status": None,
        "capabilities": [], "lat": 4.99437, "lon": 19.98065, "mobility": "vehicle", "speed_kmh": None,
    }  # fmt: skip
    assert parsed.contacts == []


def test_optional_columns_are_normalised():
    parsed = parse(
        mobility="Helicopter", speed_kmh=" 200 ", status="COMMITTED", capabilities="QRF; medevac,qrf", sector=" East "
    )
    values = parsed.values
    assert (values["mobility"], values["speed_kmh"], values["status"]) == ("helicopter", 200.0, "committed")
    assert (values["capabilities"], values["sector"]) == (["medevac", "qrf"], "East")


def test_numbers_in_any_form_become_e164_and_several_are_split_on_semicolons():
    parsed = parse(sms="75 00 00 28; +236 75 00 00 29", voice="0023675000030")
    assert parsed.contacts == [
        ("sms", "+23675000028", None), ("sms", "+23675000029", None), ("voice", "+23675000030", None),
    ]  # fmt: skip


def test_webhook_keeps_its_url_and_secret():
    parsed = parse(webhook_url=" https://eoc.example.org/kengele ", webhook_secret=SECRET)
    assert parsed.contacts == [("webhook", "https://eoc.example.org/kengele", SECRET)]


@pytest.mark.parametrize(
    ("fields", "column"),
    [
        ({"name": " "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"kind": "battalion"}, "kind"),
        ({"kind": ""}, "kind"),
        ({"mobility": "bicycle"}, "mobility"),
        ({"status": "busy"}, "status"),
        ({"speed_kmh": "fast"}, "speed_kmh"),
        ({"speed_kmh": "0"}, "speed_kmh"),
        ({"speed_kmh": "nan"}, "speed_kmh"),
        ({"speed_kmh": "401"}, "speed_kmh"),
        ({"lat": "north"}, "lat"),
        ({"lat": ""}, "lat"),
        ({"lat": "91"}, "lat"),
        ({"lon": "-180.5"}, "lat/lon"),
        ({"lon": "inf"}, "lat/lon"),
        ({"sms": "+23675000001;not a number"}, "sms"),
        ({"voice": "12"}, "voice"),
        ({"webhook_url": "ftp://eoc.example.org/x", "webhook_secret": SECRET}, "webhook_url"),
        ({"webhook_url": "https:///no-host", "webhook_secret": SECRET}, "webhook_url"),
        ({"webhook_url": "https://[fd00::1/hook", "webhook_secret": SECRET}, "webhook_url"),  # urlsplit's ValueError
        ({"webhook_url": "https://eoc.example.org/x"}, "webhook_secret"),
        ({"webhook_url": "https://eoc.example.org/x", "webhook_secret": "fifteen-chars-x"}, "webhook_secret"),
    ],
)
def test_a_bad_value_is_a_unit_row_error_naming_its_column(fields, column):
    with pytest.raises(UnitRowError) as error:
        parse(**fields)
    assert str(error.value).startswith(column)


COLUMNS = ["name", "kind", "lat", "lon", "sector", "place", "mobility", "speed_kmh", "capabilities", "status",
           "sms", "voice", "webhook_url", "webhook_secret", "other"]  # fmt: skip
likely = st.sampled_from([
    "", " ", "COB", "patrol", "boat", "committed", "4.99", "-91", "1e400", "nan", "30", "+23675000001",
    "75 00 00 01;", "https://eoc.example.org/k", "http://", "https://h?x=1", "https://[::1", SECRET, "x" * 120,
])  # fmt: skip
free_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
changes = st.dictionaries(st.sampled_from(COLUMNS), st.none() | likely | free_text, max_size=4)


@given(changes, st.booleans(), st.sampled_from(["CF", "CD", "FR"]))
def test_any_row_either_parses_into_valid_values_or_raises_unit_row_error(fields, from_valid_row, region):
    # From a valid row a few changed columns reach every check; from nothing, mostly the first ones.
    try:
        parsed = parse_unit_row({**row(), **fields} if from_valid_row else fields, region)
    except UnitRowError as exc:
        assert str(exc)
        return
    values = parsed.values
    assert 1 <= len(values["name"]) <= 100 and values["name"] == values["name"].strip()
    assert -90 <= values["lat"] <= 90 and -180 <= values["lon"] <= 180
    assert values["speed_kmh"] is None or 0.5 <= values["speed_kmh"] <= 400
    for channel, address, secret in parsed.contacts:
        if channel == "webhook":
            assert address.startswith(("http://", "https://")) and len(secret) >= 16
        else:
            assert channel in ("sms", "voice") and address.startswith("+") and secret is None
