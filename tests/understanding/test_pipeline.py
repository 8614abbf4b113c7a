"""The worker understands and locates every report with the same parser `kengele parse` uses."""

from __future__ import annotations

from sqlalchemy import select

from app.core.db import transaction
from app.geo.importers import import_places_csv
from app.incidents.models import Report
from app.intake import tasks
from app.intake.flows import IntakeGateway
from app.intake.schemas import InboundEnvelope
from app.intake.spool import Spool
from app.understanding.tasks import parsers
from tests.conftest import DEMO_PLACES
from tests.helpers import new_sid, register_reporter


def run_worker(factory, vault):
    tasks.process_due(factory=factory, vault=vault, batch_size=50, retry_schedule=[1])


def reports(factory) -> list[Report]:
    with factory() as session:
        return list(session.scalars(select(Report).order_by(Report.id)))


def setup_gazetteer(factory):
    with transaction(factory) as session:
        import_places_csv(session=session, path=DEMO_PLACES, country_code="CF")
    parsers.clear()


def sms(body: str, sender: str = "+23675000001") -> InboundEnvelope:
    return InboundEnvelope(source="twilio_sms", external_id=new_sid(), channel="sms", body=body, sender_phone=sender)


def test_reports_get_language_category_severity_and_location(factory, vault, tmp_path):
    setup_gazetteer(factory)
    gateway = IntakeGateway(factory, vault, Spool(tmp_path))
    gateway.accept(sms("Les seleka ont brulé 30 maisons a Bouca, 2 morts"))
    gateway.accept(sms("ras, tout est calme"))
    run_worker(factory, vault)

    burning, calm = reports(factory)
    assert (burning.language, burning.category, burning.severity) == ("fr", "burning", "severe")
    assert burning.details["counts"]["dead"] == 2
    assert burning.location_method == "gazetteer" and burning.location_place_id is not None
    assert burning.lat is not None and burning.precision_m > 0 and burning.understood_at is not None
    assert (calm.category, calm.details["negated"], calm.location_method) == ("other", True, "unlocated")


def test_the_reporters_home_and_language_are_used(factory, vault, tmp_path):
    setup_gazetteer(factory)
    register_reporter(
        factory, vault, "+23675000009", language="sg", home_lat=7.0, home_lon=19.2, home_place="Kaga Bandoro"
    )
    gateway = IntakeGateway(factory, vault, Spool(tmp_path))
    gateway.accept(sms("azo ti bira asi", sender="+23675000009"))
    run_worker(factory, vault)
    [report] = reports(factory)
    assert report.language == "sg"
    assert (report.location_method, report.lat, report.lon) == ("reporter_home", 7.0, 19.2)


def test_partner_coordinates_and_place_names_are_used(factory, vault, tmp_path):
    setup_gazetteer(factory)
    gateway = IntakeGateway(factory, vault, Spool(tmp_path))
    base = {"source": "partner", "channel": "partner", "body": "attaque du village", "partner_id": None}
    gateway.accept(
        InboundEnvelope(external_id="1:a", hints={"location": {"lat": 5.1, "lon": 19.9, "precision_m": 300}}, **base)
    )
    gateway.accept(InboundEnvelope(external_id="1:b", hints={"place_name": "Bossangoa"}, **base))
    run_worker(factory, vault)
    with_coordinates, with_place = reports(factory)
    assert (with_coordinates.location_method, with_coordinates.lat, with_coordinates.precision_m) == (
        "partner",
        5.1,
        300,
    )
    assert with_place.location_method == "gazetteer" and with_place.location_text == "bossangoa"


def test_a_cla_short_code_is_read_as_a_code(factory, vault, tmp_path):
    setup_gazetteer(factory)
    register_reporter(factory, vault, "+23675000010", kind="cla")
    gateway = IntakeGateway(factory, vault, Spool(tmp_path))
    gateway.accept(sms("a bria at 12 2d", sender="+23675000010"))
    run_worker(factory, vault)
    [report] = reports(factory)
    assert report.category == "attack_civilians" and report.details["short_code"] is True
    assert report.details["counts"]["armed"] == 12 and report.details["counts"]["dead"] == 2
    assert report.location_text == "bria"


def test_every_haiti_message_parses_without_an_exception(parser):
    import csv

    from tests.conftest import TESTS_DIR

    with (TESTS_DIR / "data" / "haiti_4636_sms_dev.csv").open(encoding="utf-8") as handle:
        texts = [row["original"] for row in csv.DictReader(handle)]
    assert len(texts) == 5240
    results = [parser.parse(text).to_json() for text in texts]
    assert len(results) == 5240
    assert all(r["severity"] in ("extreme", "severe", "moderate", "minor", "unknown") for r in results)


def test_recent_reports_resolve_a_shared_place_name(factory, vault, tmp_path, parser):
    setup_gazetteer(factory)
    gateway = IntakeGateway(factory, vault, Spool(tmp_path))
    # Two villages are called Nzako. Reports from Bakouma first locate events near the northern one.
    northern = max(parser.gazetteer.exact("nzako"), key=lambda p: p.lat)
    gateway.accept(sms(f"attaque {northern.lat:.4f} {northern.lon:.4f}"))
    run_worker(factory, vault)
    gateway.accept(sms("hommes armés à Nzako", sender="+23675000002"))
    run_worker(factory, vault)
    _first, second = reports(factory)
    assert (second.lat, second.lon) == (northern.lat, northern.lon)
    assert second.location_method == "gazetteer"
