"""Units on a real database: CSV import by name, contacts kept encrypted, lookups by phone, positions, candidates."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.reporters import service as reporter_service
from app.routing.ranking import UnitCandidate, rank_units
from app.units import service
from app.units.models import Unit, UnitContact

DEMO_UNITS = Path(__file__).resolve().parents[2] / "app" / "data" / "demo" / "car_units_example.csv"
HEADER = "name,kind,lat,lon,sector,place,mobility,speed_kmh,capabilities,status,sms,voice,webhook_url,webhook_secret\n"
KOUANGO = "+23675000028"  # Kouango COB's number in the demo file
WEBHOOK_SECRET = "webhook-secret-0123"


def write(path: Path, body: str) -> Path:
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def import_csv(db_session, vault, path: Path = DEMO_UNITS):
    return service.import_units_csv(session=db_session, vault=vault, path=path, default_region="CF")


def unit_named(db_session, name: str) -> Unit:
    return db_session.scalars(select(Unit).where(Unit.name == name)).one()


def contacts_of(db_session, vault, name: str) -> list[tuple[str, str]]:
    rows = db_session.scalars(
        select(UnitContact).where(UnitContact.unit_id == unit_named(db_session, name).id).order_by(UnitContact.id)
    )
    return [(c.channel, vault.decrypt(c.address_encrypted)) for c in rows]


def count(db_session, model) -> int:
    return db_session.scalar(select(func.count()).select_from(model))


def test_importing_the_demo_file_creates_every_unit(db_session, vault):
    with DEMO_UNITS.open(encoding="utf-8") as handle:
        expected = {r["name"]: r for r in csv.DictReader(handle)}
    report = import_csv(db_session, vault)
    assert (report.imported, report.already_present, report.bad_lines) == (len(expected), 0, 0)
    units = {u.name: u for u in db_session.scalars(select(Unit))}
    assert units.keys() == expected.keys()
    bria = units["Bria COB"]
    assert (bria.kind, bria.sector, bria.place) == ("company_base", "East", "Bria")
    assert (bria.lat, bria.lon, bria.status, bria.mobility) == (6.54233, 21.98633, "available", "vehicle")
    assert units["Sam Ouandja TOB"].kind == "temporary_base" and units["FPU Bria"].kind == "police"
    assert (units["Air QRF Bangui"].mobility, units["Air QRF Bangui"].speed_kmh) == ("helicopter", 200.0)
    assert units["Air QRF Bangui"].capabilities == ["medevac", "qrf"]
    # Every unit has its SMS number, every one but the patrols a voice number too.
    assert count(db_session, UnitContact) == 2 * len(expected) - 3
    assert contacts_of(db_session, vault, "Kouango COB") == [("sms", KOUANGO), ("voice", KOUANGO)]


def test_reimporting_updates_by_name_and_replaces_the_contacts(db_session, vault, tmp_path):
    import_csv(db_session, vault)
    before = count(db_session, Unit)
    changed = write(
        tmp_path / "changed.csv",
        "Kouango COB,base,5.0,20.0,East,Kouango ferry,boat,12,,committed,75 99 00 01,,"
        "https://eoc.example.org/k,webhook-secret-0123\n",
    )
    report = import_csv(db_session, vault, changed)
    assert (report.imported, report.already_present, report.bad_lines) == (0, 1, 0)
    assert count(db_session, Unit) == before
    kouango = unit_named(db_session, "Kouango COB")
    assert (kouango.lat, kouango.lon, kouango.place, kouango.mobility, kouango.speed_kmh, kouango.status) == (
        5.0, 20.0, "Kouango ferry", "boat", 12.0, "committed",
    )  # fmt: skip
    assert contacts_of(db_session, vault, "Kouango COB") == [
        ("sms", "+23675990001"), ("webhook", "https://eoc.example.org/k"),
    ]  # fmt: skip
    assert service.unit_by_phone(session=db_session, vault=vault, phone=KOUANGO) is None


def test_reimport_moves_position_at_only_when_the_unit_moved(db_session, vault, tmp_path, monkeypatch):
    first, second = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    monkeypatch.setattr(service, "utcnow", lambda: first)
    write(tmp_path / "units.csv", "Bria COB,base,6.54233,21.98633,East,Bria,,,,,,,,\nFPU Bria,fpu,6.5,22.0,,,,,,,,,,\n")
    import_csv(db_session, vault, tmp_path / "units.csv")
    monkeypatch.setattr(service, "utcnow", lambda: second)
    write(tmp_path / "units.csv", "Bria COB,base,6.54233,21.98633,East,Bria,,,,,,,,\nFPU Bria,fpu,6.6,22.0,,,,,,,,,,\n")
    import_csv(db_session, vault, tmp_path / "units.csv")
    assert unit_named(db_session, "Bria COB").position_at == first
    assert unit_named(db_session, "FPU Bria").position_at == second


def test_bad_lines_are_reported_by_number_and_good_lines_still_import(db_session, vault, tmp_path):
    path = write(
        tmp_path / "units.csv",
        "Bria COB,base,6.54233,21.98633,East,Bria,,,,,+23675000019,,,\n"
        "Bria Battalion,battalion,6.5,22.0,East,Bria,,,,,,,,\n"
        "Ippy COB,base,6.25984,21.20004,East,Ippy,,,,,+23675000020,,,\n"
        "Ouadda TOB,tob,8.07771,22.40075,East,Ouadda,,,,,12,,,\n"
        "Kouango COB,base,4.99437,19.98065,East,Kouango,,,,,,,,,extra\n",
    )
    report = import_csv(db_session, vault, path)
    assert report.errors == [
        "line 3: kind must be one of joc, sector_hq, company_base, temporary_base, patrol, police",
        "line 5: sms: not a phone number",
        "line 6: more fields than the header",
    ]
    assert (report.imported, report.bad_lines) == (2, 3)
    assert set(db_session.scalars(select(Unit.name))) == {"Bria COB", "Ippy COB"}


def test_a_malformed_webhook_url_is_one_bad_line_not_an_aborted_import(db_session, vault, tmp_path):
    path = write(
        tmp_path / "units.csv",
        "Bria COB,base,6.54233,21.98633,East,Bria,,,,,,,https://[fd00::1/hook,webhook-secret-0123\n"
        "Ippy COB,base,6.25984,21.20004,East,Ippy,,,,,,,,\n",
    )
    report = import_csv(db_session, vault, path)
    assert report.errors[0].startswith("line 2: webhook_url") and report.imported == 1


def test_phone_numbers_are_never_stored_in_clear(db_session, vault):
    import_csv(db_session, vault)
    rows = db_session.execute(text("SELECT * FROM unit_contact WHERE channel IN ('sms', 'voice')")).mappings().all()
    assert len(rows) == 2 * 38 - 3
    for contact in rows:
        number = vault.decrypt(contact["address_encrypted"])
        national = number.removeprefix("+236")
        assert number.startswith("+2367500") and len(national) == 8
        assert not [v for v in contact.values() if national in str(v).replace(" ", "")]
        assert contact["address_masked"] == "+236 ••••••" + national[-2:]
        assert contact["lookup_hash"] == reporter_service.phone_identity(vault, number)
    for unit in db_session.execute(text("SELECT * FROM unit")).mappings():
        assert not [v for v in unit.values() if "7500000" in str(v)]


def test_webhook_contacts_keep_their_secret_encrypted_and_show_only_scheme_and_host(db_session, vault, tmp_path):
    url, secret = "https://eoc.example.org/hooks/kengele-token-abc", "webhook-secret-0123"
    import_csv(db_session, vault, write(tmp_path / "u.csv", f"Bria COB,base,6.5,22.0,,,,,,,,,{url},{secret}\n"))
    row = db_session.execute(text("SELECT * FROM unit_contact")).mappings().one()
    assert (row["channel"], row["address_masked"], row["lookup_hash"]) == ("webhook", "https://eoc.example.org/…", None)
    assert (vault.decrypt(row["address_encrypted"]), vault.decrypt(row["secret_encrypted"])) == (url, secret)
    assert not [v for v in row.values() if isinstance(v, str) and ("token-abc" in v or secret in v)]


@pytest.mark.parametrize("url", ["https://eoc.example.org?token=abc123", "https://kengele:abc123@eoc.example.org/hook"])
def test_a_masked_webhook_url_hides_tokens_in_queries_and_credentials(db_session, vault, tmp_path, url):
    import_csv(db_session, vault, write(tmp_path / "u.csv", f"Bria COB,base,6.5,22,,,,,,,,,{url},{WEBHOOK_SECRET}\n"))
    assert "abc123" not in db_session.scalars(select(UnitContact.address_masked)).one()


def test_a_long_webhook_host_still_imports_with_a_masked_address_that_fits_its_column(db_session, vault, tmp_path):
    url = "https://kengele-alerts.sector-east.minusca-peacekeeping.example.org/hook"
    import_csv(db_session, vault, write(tmp_path / "u.csv", f"Bria COB,base,6.5,22,,,,,,,,,{url},{WEBHOOK_SECRET}\n"))
    assert len(db_session.scalars(select(UnitContact.address_masked)).one()) <= 64


@pytest.mark.parametrize("phone", [KOUANGO, "75000028", "75 00 00 28", "+236 75 00 00 28", "0023675000028"])
def test_unit_by_phone_finds_the_unit_from_any_form_of_its_number(db_session, vault, phone):
    import_csv(db_session, vault)
    assert service.unit_by_phone(session=db_session, vault=vault, phone=phone).name == "Kouango COB"
    assert service.unit_by_phone(session=db_session, vault=vault, phone="75 99 99 99") is None


def test_unit_by_identity_finds_the_unit_a_reporter_hash_names(db_session, vault):
    import_csv(db_session, vault)
    identity = reporter_service.phone_identity(vault, "+23675000035")  # as intake hashes the sender
    assert service.unit_by_identity(session=db_session, identity_hash=identity).name == "Patrol Bria-Ippy"
    assert service.unit_by_identity(session=db_session, identity_hash="0" * 64) is None


def test_update_position_moves_the_unit_and_stamps_the_time(db_session, vault, monkeypatch):
    import_csv(db_session, vault)
    at = datetime(2026, 3, 1, 6, 30, tzinfo=UTC)
    monkeypatch.setattr(service, "utcnow", lambda: at)
    patrol = unit_named(db_session, "Patrol Bria-Ippy")
    service.update_position(session=db_session, unit=patrol, lat=6.3, lon=21.4, place="Yangoudroudja")
    db_session.flush()
    db_session.expire_all()
    moved = unit_named(db_session, "Patrol Bria-Ippy")
    assert (moved.lat, moved.lon, moved.place, moved.position_at, moved.updated_at) == (
        6.3,
        21.4,
        "Yangoudroudja",
        at,
        at,
    )
    service.update_position(session=db_session, unit=moved, lat=6.2, lon=21.3)
    assert moved.place == "Yangoudroudja"  # a position without a place name keeps the last one


def test_candidates_are_every_unit_with_its_status_and_ranking_drops_the_committed(db_session, vault):
    import_csv(db_session, vault)
    unit_named(db_session, "Kouango COB").status = "committed"
    db_session.flush()
    candidates = service.candidates(session=db_session)
    assert len(candidates) == 38 and all(isinstance(c, UnitCandidate) for c in candidates)
    by_name = {c.name: c for c in candidates}
    kouango, qrf = by_name["Kouango COB"], by_name["Air QRF Bangui"]
    assert (kouango.lat, kouango.lon, kouango.mobility, kouango.status) == (4.99437, 19.98065, "vehicle", "committed")
    assert (qrf.mobility, qrf.speed_kmh, qrf.status) == ("helicopter", 200.0, "available")
    assert kouango.unit_id == unit_named(db_session, "Kouango COB").id
    ranked = [r.name for r in rank_units(4.99437, 19.98065, candidates)]
    assert len(ranked) == 37 and "Kouango COB" not in ranked


def test_candidates_can_be_limited_to_kinds(db_session, vault):
    import_csv(db_session, vault)
    police = service.candidates(session=db_session, kinds=["police"])
    assert sorted(c.name for c in police) == ["FPU Bambari", "FPU Bangui", "FPU Bria"]
    assert service.candidates(session=db_session, kinds=[]) == []


def test_contacts_lists_the_units_contacts_on_the_asked_channels(db_session, vault):
    import_csv(db_session, vault)
    ids = [unit_named(db_session, name).id for name in ("Patrol Bria-Ippy", "Bria COB")]
    found = service.contacts(session=db_session, unit_ids=ids, channels=["voice"])
    assert [(c.unit_id, c.channel, vault.decrypt(c.address_encrypted)) for c in found] == [
        (min(ids), "voice", "+23675000019"),  # the patrol has no voice number
    ]


def test_reimporting_the_list_keeps_live_status_and_patrol_positions(db_session, vault, tmp_path):
    service.import_units_csv(session=db_session, vault=vault, path=DEMO_UNITS, default_region="CF")
    service.update_position(session=db_session, unit=unit_named(db_session, "Patrol Bria-Ippy"), lat=6.3, lon=21.4)
    unit_named(db_session, "Bria COB").status = "committed"
    blank_status = tmp_path / "units.csv"
    blank_status.write_text(DEMO_UNITS.read_text(encoding="utf-8").replace(",available,", ",,"), encoding="utf-8")
    service.import_units_csv(session=db_session, vault=vault, path=blank_status, default_region="CF")
    patrol, base = unit_named(db_session, "Patrol Bria-Ippy"), unit_named(db_session, "Bria COB")
    assert ((patrol.lat, patrol.lon), base.status) == ((6.3, 21.4), "committed")
