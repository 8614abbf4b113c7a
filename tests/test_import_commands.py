"""The import commands for units, roads and zones as operators run them: real processes on the test database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.clock import utcnow
from app.protection.models import ProtectionZone, VulnerableSite
from app.routing.models import RoadClosure, RoadSegmentRow
from app.units.models import Unit, UnitContact
from tests.conftest import SECRET_KEY, TESTS_DIR, TWILIO_TOKEN
from tests.live_server import kengele_env, run_cli

DEMO = TESTS_DIR.parent / "app" / "data" / "demo"
UNITS_HEADER = "name,kind,lat,lon,sector,place,sms\n"


@pytest.fixture
def env(settings, tmp_path, factory):
    # `factory` empties the tables once the test is done.
    return kengele_env(
        database_url=settings.database_url,
        data_dir=str(tmp_path),
        secret_key=SECRET_KEY,
        twilio_auth_token=TWILIO_TOKEN,
    )


def count(factory, model, *where) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def clean_failure(result, code: int = 2) -> bool:
    return result.returncode == code and "Traceback" not in result.stderr


def test_import_units_imports_the_demo_file_and_updates_it_on_a_second_run(env, factory, tmp_path):
    result = run_cli(["import-units", str(DEMO / "car_units_example.csv")], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "38 units imported, 0 updated, 0 bad lines" in result.stderr
    assert count(factory, Unit) == 38 and count(factory, UnitContact) == 73
    again = run_cli(["import-units", str(DEMO / "car_units_example.csv")], env, tmp_path)
    assert "0 units imported, 38 updated, 0 bad lines" in again.stderr
    assert count(factory, Unit) == 38 and count(factory, UnitContact) == 73
    assert "75000028" not in result.stdout + result.stderr  # numbers are never echoed


def test_import_units_reports_bad_lines_by_number_and_imports_the_rest(env, factory, tmp_path):
    units = tmp_path / "units.csv"
    units.write_text(
        UNITS_HEADER + "Bria COB,base,6.54233,21.98633,East,Bria,+23675000019\n"
        "Ouadda TOB,tob,north,22.40075,East,Ouadda,\n"
        "Ippy COB,cob,6.25984,21.20004,East,Ippy,75 00 00 20\n",
        encoding="utf-8",
    )
    result = run_cli(["import-units", str(units)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{units}: line 3: lat and lon must be decimal degrees" in result.stderr
    assert "2 units imported, 0 updated, 1 bad lines" in result.stderr
    with factory() as session:
        assert set(session.scalars(select(Unit.name))) == {"Bria COB", "Ippy COB"}


def test_import_units_without_a_required_column_is_one_clear_error(env, factory, tmp_path):
    units = tmp_path / "units.csv"
    units.write_text("name,kind,latitude,longitude\nBria COB,base,6.54233,21.98633\n", encoding="utf-8")
    result = run_cli(["import-units", str(units)], env, tmp_path)
    assert clean_failure(result), result.stderr
    assert f"{units}: line 1: missing column(s) lat, lon" in result.stderr
    assert count(factory, Unit) == 0


def test_import_units_without_a_kind_column_is_one_clear_error(env, factory, tmp_path):
    units = tmp_path / "units.csv"
    units.write_text("name,lat,lon\nBria COB,6.54233,21.98633\nIppy COB,6.25984,21.20004\n", encoding="utf-8")
    result = run_cli(["import-units", str(units)], env, tmp_path)
    assert clean_failure(result), result.stderr
    assert f"{units}: line 1: missing column(s) kind" in result.stderr
    assert count(factory, Unit) == 0


def test_import_roads_imports_the_demo_network(env, factory, tmp_path):
    result = run_cli(["import-roads", str(DEMO / "car_roads.geojson")], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "31 road segments imported (31 lines), 0 features skipped" in result.stderr
    assert count(factory, RoadSegmentRow) == 31


def test_import_roads_on_invalid_json_names_the_file_and_changes_nothing(env, factory, tmp_path):
    assert run_cli(["import-roads", str(DEMO / "car_roads.geojson")], env, tmp_path).returncode == 0
    broken = tmp_path / "roads.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    result = run_cli(["import-roads", str(broken)], env, tmp_path)
    assert clean_failure(result), result.stderr
    assert f"{broken}: not valid JSON" in result.stderr
    assert count(factory, RoadSegmentRow) == 31


def test_close_road_on_an_unknown_segment_exits_2(env, factory, tmp_path):
    assert run_cli(["import-roads", str(DEMO / "car_roads.geojson")], env, tmp_path).returncode == 0
    result = run_cli(["close-road", "Bac-de-Mobaye", "--reason", "ferry sunk"], env, tmp_path)
    assert clean_failure(result), result.stderr
    assert "no road segment 'Bac-de-Mobaye'" in result.stderr
    assert count(factory, RoadClosure) == 0


def test_close_road_for_some_hours_then_open_road(env, factory, tmp_path):
    assert run_cli(["import-roads", str(DEMO / "car_roads.geojson")], env, tmp_path).returncode == 0
    before = utcnow()
    closed = run_cli(["close-road", "Bac-de-Kouango", "--reason", "ferry cable broken", "--hours", "6"], env, tmp_path)
    assert closed.returncode == 0, closed.stderr
    assert "Bac-de-Kouango closed for 6 h" in closed.stderr
    with factory() as session:
        closure = session.scalars(select(RoadClosure)).one()
        assert (closure.segment_key, closure.reason, closure.closed_by) == (
            "Bac-de-Kouango",
            "ferry cable broken",
            "cli",
        )
        assert before + timedelta(hours=6) <= closure.expires_at <= utcnow() + timedelta(hours=6)
    opened = run_cli(["open-road", "Bac-de-Kouango", "--by", "ops-bambari"], env, tmp_path)
    assert opened.returncode == 0 and "Bac-de-Kouango reopened" in opened.stderr
    assert count(factory, RoadClosure, RoadClosure.reopened_by == "ops-bambari") == 1
    assert "was not closed" in run_cli(["open-road", "Bac-de-Kouango"], env, tmp_path).stderr


def test_import_zones_imports_the_demo_matrix(env, factory, tmp_path):
    result = run_cli(["import-zones", str(DEMO / "car_zones.geojson")], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "15 zones and 10 vulnerable sites imported, 0 skipped" in result.stderr
    assert (count(factory, ProtectionZone), count(factory, VulnerableSite)) == (15, 10)


def test_import_zones_on_invalid_json_names_the_file(env, factory, tmp_path):
    broken = tmp_path / "zones.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [}', encoding="utf-8")
    result = run_cli(["import-zones", str(broken)], env, tmp_path)
    assert clean_failure(result), result.stderr
    assert f"{broken}: not valid JSON" in result.stderr


def test_import_zones_with_a_bad_feature_names_it_and_keeps_the_old_matrix(env, factory, tmp_path):
    assert run_cli(["import-zones", str(DEMO / "car_zones.geojson")], env, tmp_path).returncode == 0
    doc = json.loads((DEMO / "car_zones.geojson").read_text(encoding="utf-8"))
    doc["features"][0]["properties"]["protection"] = "maybe"
    bad = tmp_path / "zones.geojson"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    result = run_cli(["import-zones", str(bad)], env, tmp_path)
    assert clean_failure(result), result.stderr
    assert f"{bad}: features[0]: unknown protection class 'maybe'" in result.stderr
    assert (count(factory, ProtectionZone), count(factory, VulnerableSite)) == (15, 10)


def test_close_road_with_negative_hours_is_refused(env, factory, tmp_path):
    assert run_cli(["import-roads", str(DEMO / "car_roads.geojson")], env, tmp_path).returncode == 0
    result = run_cli(["close-road", "Bac-de-Kouango", "--reason", "rains", "--hours", "-2"], env, tmp_path)
    assert clean_failure(result), result.stderr
    assert count(factory, RoadClosure) == 0
