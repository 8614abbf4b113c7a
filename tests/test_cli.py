"""The `kengele` command as operators run it: real processes, real server, real database."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from app.geo.models import Place
from app.incidents.models import Report
from app.intake.models import InboundMessage
from tests.conftest import SECRET_KEY, TESTS_DIR, TWILIO_TOKEN
from tests.live_server import kengele_env, run_cli, running

HAITI = TESTS_DIR / "data" / "haiti_4636_sms_dev.csv"
PHONE_SENTINEL = "+23675990011"


@pytest.fixture
def env(settings, tmp_path, factory):
    """The environment of a `kengele` process on the test database; `factory` empties the tables afterwards, so
    one test's server leaves nothing for the next to count."""
    return kengele_env(
        database_url=settings.database_url,
        data_dir=str(tmp_path),
        secret_key=SECRET_KEY,
        twilio_auth_token=TWILIO_TOKEN,
    )


def count(factory, model, *where) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.slow
@pytest.mark.timeout(900)  # 5,240 messages through the worker on a shared 2-core machine
def test_simulate_replays_all_haiti_messages(env, factory, tmp_path):
    # A replay is about throughput: 50 reports per worker transaction (PostgreSQL's default of 1 favours latency).
    env = env | {"KENGELE_WORKER_BATCH_SIZE": "50"}
    with running(["serve"], env, tmp_path, tmp_path / "server.log") as base:
        result = run_cli(["simulate", str(HAITI), "--url", base, "--concurrency", "8"], env, tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "5240 sent, 5240 accepted, 0 errors" in result.stderr
        assert count(factory, InboundMessage) == 5240
        deadline = time.monotonic() + 600
        while count(factory, Report) < 5240 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert count(factory, Report) == 5240
        # Replaying the same file again stores nothing new: the MessageSids are the same.
        again = run_cli(["simulate", str(HAITI), "--url", base], env, tmp_path)
        assert again.returncode == 0
        assert count(factory, InboundMessage) == 5240
    server_log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in server_log
    bodies = [line.split(",", 2)[1] for line in HAITI.read_text().splitlines()[1:50] if line.count(",") >= 2]
    assert not [b for b in bodies if len(b) > 12 and b in server_log]


def test_simulate_reports_bad_lines_by_number(env, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('id,from,body\n1,+23675000001,ok\n2,+23675000002,too,many,fields\n3,+23675000003,"fine"\n')
    with running(["serve"], env, tmp_path, tmp_path / "server.log") as base:
        result = run_cli(["simulate", str(bad), "--url", base], env, tmp_path)
    assert result.returncode == 1
    assert "line 3: more fields than the header" in result.stderr
    assert "2 sent, 2 accepted, 1 errors" in result.stderr


def test_simulate_without_a_text_column_is_a_clear_error(env, tmp_path):
    bad = tmp_path / "nocol.csv"
    bad.write_text("id,phone\n1,+23675000001\n")
    result = run_cli(["simulate", str(bad), "--url", "http://127.0.0.1:9"], env, tmp_path)
    assert result.returncode == 2
    assert "line 1: no message column" in result.stderr


def test_simulate_exercise_marks_every_message_as_a_drill(env, factory, tmp_path):
    from app.incidents.models import Incident
    from tests.conftest import DEMO_PLACES

    assert run_cli(["import-places", str(DEMO_PLACES)], env, tmp_path).returncode == 0
    sample = tmp_path / "drill.csv"
    sample.write_text("id,from,body\n1,+23675000001,Attaque des seleka a Bambari 3 morts\n2,,tirs a Bambari\n")
    with running(["serve"], env, tmp_path, tmp_path / "server.log") as base:
        result = run_cli(["simulate", str(sample), "--url", base, "--exercise"], env, tmp_path)
        assert result.returncode == 0 and "2 sent, 2 accepted, 0 errors" in result.stderr, result.stderr[-2000:]
        deadline = time.monotonic() + 30
        while count(factory, Report, Report.understood_at.is_not(None)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert count(factory, InboundMessage, InboundMessage.exercise.is_(True)) == 2
        assert count(factory, Report, Report.exercise.is_(True)) == 2
        # The same file for real is not taken for Twilio retrying the drill, and is real.
        real_before = count(factory, InboundMessage, InboundMessage.exercise.is_(False))  # earlier tests' too
        assert run_cli(["simulate", str(sample), "--url", base], env, tmp_path).returncode == 0
        assert count(factory, InboundMessage, InboundMessage.exercise.is_(False)) == real_before + 2
    assert count(factory, Incident, Incident.exercise.is_(True)) == 1


def test_import_places_reports_bad_lines_and_keeps_going(env, factory, tmp_path):
    places = tmp_path / "places.csv"
    places.write_text(
        "name,kind,lat,lon,adm1,adm2\n"
        "Bozoum,town,6.3172,16.3783,Ouham-Pendé,Bozoum\n"
        ",village,6.0,16.0,,\n"
        "Bossangoa,town,north,17.45,Ouham,Bossangoa\n"
        "Ndélé,town,8.4109,20.6473,Bamingui-Bangoran,Ndélé\n"
        "Far,village,95,10,,\n"
    )
    result = run_cli(["import-places", str(places), "--country", "CF"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    for expected in ("line 3: name is empty", "line 4: lat and lon", "line 6: lat/lon out of range"):
        assert expected in result.stderr
    assert "2 places imported" in result.stderr
    with factory() as session:
        ndele = session.scalars(select(Place).where(Place.name == "Ndélé")).one()
        assert (ndele.search_name, ndele.country_code) == ("ndele", "CF")
    again = run_cli(["import-places", str(places)], env, tmp_path)
    assert "0 places imported, 2 already present" in again.stderr


def test_create_partner_prints_credentials_that_work(env, tmp_path):
    result = run_cli(["create-partner", "Caritas Bangassou"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    creds = dict(line.split("=", 1) for line in result.stdout.split())
    assert creds["api_key"].startswith("kp_") and creds["signing_secret"].startswith("ks_")
    import httpx

    from app.security.signatures import partner_signature
    from tests.helpers import partner_body

    with running(["serve"], env, tmp_path, tmp_path / "server.log") as base:
        raw = json.dumps(partner_body()).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Kengele-Key": creds["api_key"],
            "X-Kengele-Signature": partner_signature(creds["signing_secret"], int(time.time()), raw),
        }
        assert httpx.post(f"{base}/api/v1/partner/reports", content=raw, headers=headers).status_code == 202
        assert run_cli(["revoke-partner", "Caritas Bangassou"], env, tmp_path).returncode == 0
        assert httpx.post(f"{base}/api/v1/partner/reports", content=raw, headers=headers).status_code == 401


def test_demo_runs_the_embedded_default_from_an_empty_directory(tmp_path, backend):
    if backend != "sqlite":
        pytest.skip("the demo is the embedded SQLite default")
    env = kengele_env()  # no settings at all: everything from defaults, secrets generated
    with running(["demo"], env, tmp_path, tmp_path / "demo.log") as base:
        deadline = time.monotonic() + 30
        import sqlite3

        reports = 0
        while time.monotonic() < deadline and reports < 10:
            time.sleep(0.5)
            with sqlite3.connect(tmp_path / "kengele.db") as db:
                reports = db.execute("select count(*) from report").fetchone()[0]
        assert reports == 10
        with sqlite3.connect(tmp_path / "kengele.db") as db:
            assert db.execute("select count(*) from place").fetchone()[0] == 469
        assert (tmp_path / ".kengele-secrets.json").stat().st_mode & 0o077 == 0
    log = (tmp_path / "demo.log").read_text()
    assert f"Kengele is running at {base}" in log
    assert "sent 10 demo alerts" in log
    assert "+23675010001" not in log and "Ayorkpo" not in log


def test_parse_prints_the_pipelines_reading_as_json(env, tmp_path):
    from tests.conftest import DEMO_PLACES

    result = run_cli(["parse", "A Bria AT 20 3D", "--gazetteer", str(DEMO_PLACES)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["category"] == "attack_civilians" and parsed["counts"]["dead"] == 3
    assert parsed["location"]["place"] == "Bria" and parsed["location"]["precision_m"] > 0
    assert set(parsed) >= {"language", "category", "severity", "counts", "location", "parse_ms"}


def test_parse_reads_one_message_per_line_from_stdin(env, tmp_path):
    import subprocess

    from tests.conftest import DEMO_PLACES
    from tests.live_server import KENGELE

    lines = "attaque a Bossangoa\n\nقتلو ثلاثه\nACK K-4821\n"
    result = subprocess.run(
        [KENGELE, "parse", "-", "--gazetteer", str(DEMO_PLACES)],
        input=lines, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outputs) == 4
    assert outputs[0]["location"]["place"] == "Bossangoa"
    assert outputs[1]["severity"] == "unknown" and outputs[1]["location"]["method"] == "unlocated"
    assert outputs[2]["language"] == "ar"
    assert outputs[3]["command"] == {"code": "ACK", "ref": "K-4821", "lat": None, "lon": None}


def test_parse_uses_the_database_gazetteer_and_the_registered_reporter(env, factory, vault, tmp_path):
    from tests.conftest import DEMO_PLACES
    from tests.helpers import register_reporter

    assert run_cli(["import-places", str(DEMO_PLACES)], env, tmp_path).returncode == 0
    register_reporter(factory, vault, "+23675990011", language="sg", home_lat=6.5, home_lon=22.0)
    result = run_cli(["parse", "azo ti bira asi", "--reporter-phone", "75 99 00 11"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["language"] == "sg"
    assert (parsed["location"]["method"], parsed["location"]["lat"]) == ("reporter_home", 6.5)
    assert "75990011" not in result.stdout + result.stderr


def test_incidents_json_lists_refs_and_message_ids_without_personal_data(env, factory, vault, tmp_path):
    from tests.conftest import DEMO_PLACES

    assert run_cli(["import-places", str(DEMO_PLACES)], env, tmp_path).returncode == 0
    sample = tmp_path / "alerts.csv"
    sample.write_text(
        "id,from,body\n"
        "1,+23675000001,Attaque des seleka a Bambari 3 morts\n"
        "2,+23675000002,tirs a Bambari maisons brulees\n"
        "3,+23675000003,attaque a Grimari\n"
    )
    with running(["serve"], env, tmp_path, tmp_path / "server.log") as base:
        assert run_cli(["simulate", str(sample), "--url", base], env, tmp_path).returncode == 0
        deadline = time.monotonic() + 30
        while count(factory, Report, Report.understood_at.is_not(None)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    result = run_cli(["incidents", "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(len(i["message_ids"]) for i in items) == [1, 2]
    assert all(i["ref"].startswith("K-") and i["status"] == "escalated" and i["lat"] for i in items)
    assert all(m.startswith("SM") for i in items for m in i["message_ids"])
    assert "+2367" not in result.stdout and "seleka" not in result.stdout


def test_a_separate_worker_process_turns_messages_into_incidents(env, factory, tmp_path):
    import subprocess

    from tests.live_server import KENGELE

    settings_env = {**env, "KENGELE_EMBEDDED_WORKER": "false"}
    sample = tmp_path / "alerts.csv"
    sample.write_text("id,from,body\n1,+23675000001,attaque a Bambari\n2,+23675000002,tirs a Bambari\n")
    with running(["serve"], settings_env, tmp_path, tmp_path / "server.log") as base:
        assert run_cli(["simulate", str(sample), "--url", base], settings_env, tmp_path).returncode == 0
        assert count(factory, Report) == 0  # the server only stores; the worker is elsewhere
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen([KENGELE, "worker"], env=settings_env, cwd=tmp_path, stdout=log, stderr=log)
            try:
                deadline = time.monotonic() + 30
                while count(factory, Report, Report.understood_at.is_not(None)) < 2 and time.monotonic() < deadline:
                    time.sleep(0.2)
            finally:
                worker.terminate()
                worker.wait(15)
    assert count(factory, Report, Report.incident_id.is_not(None)) == 2
    assert "failed" not in (tmp_path / "worker.log").read_text()


def test_a_worker_with_nothing_to_do_says_so(env, tmp_path):
    result = run_cli(["worker", "--only", "retention"], env | {"KENGELE_RETENTION_PURGE_HOURS": "0"}, tmp_path)
    assert result.returncode == 2 and "nothing to do: retention is off" in result.stderr
    unknown = run_cli(["worker", "--only", "everything"], env, tmp_path)
    assert unknown.returncode == 2 and "'everything' is not one of" in unknown.stderr


def test_a_database_without_tables_is_one_clear_line_not_a_traceback(tmp_path):
    env = kengele_env(database_url=f"sqlite:///{tmp_path / 'empty.db'}", data_dir=str(tmp_path), secret_key=SECRET_KEY)
    result = run_cli(["parse", "attaque a Bria"], env, tmp_path)
    assert result.returncode == 2
    assert "run `kengele migrate` first" in result.stderr and "Traceback" not in result.stderr
