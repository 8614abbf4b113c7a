"""The worker's loops: how they pace themselves, and how many reports each transaction takes."""

from __future__ import annotations

import itertools
import subprocess
import threading
import time

import pytest
from sqlalchemy import select

from app.core.config import Settings, WorkerRole
from app.incidents.models import Incident
from app.intake.flows import IntakeGateway
from app.intake.schemas import InboundEnvelope
from app.intake.spool import Spool
from app.notify.twilio_channel import TwilioCopies
from app.security.keys import Keys
from app.worker import BackgroundLoop, provider_copies, worker_loops
from tests.helpers import new_sid
from tests.live_server import KENGELE, twilio_worker_env


@pytest.mark.parametrize(
    ("url", "setting", "expected"),
    [
        ("sqlite:///kengele.db", None, 10),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/kengele", None, 1),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/kengele", 25, 25),
    ],
)
def test_batch_size_defaults_by_database_and_a_setting_wins(url, setting, expected):
    settings = Settings(_env_file=None, database_url=url, worker_batch_size=setting)
    assert settings.resolved_worker_batch_size == expected


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="worker_batch_size"):
        Settings(_env_file=None, worker_batch_size=0)


def run_busy_loop(busy_seconds: float, steps: int = 12, step_seconds: float = 0.01) -> list[float]:
    """Run a loop whose step always has more work, for `steps` steps; the gaps between steps, in seconds."""
    started: list[float] = []
    done = threading.Event()

    def step() -> bool:
        started.append(time.monotonic())
        time.sleep(step_seconds)
        if len(started) >= steps:
            done.set()
        return True

    loop = BackgroundLoop("test", step, interval=1.0, yield_seconds=0.2, busy_seconds=busy_seconds)
    loop.start()
    assert done.wait(10)
    loop.stop()
    return [b - a - step_seconds for a, b in itertools.pairwise(started[:steps])]


def test_the_embedded_worker_rests_after_every_busy_step_by_default():
    gaps = run_busy_loop(busy_seconds=0.0, steps=4)
    assert all(gap >= 0.15 for gap in gaps), gaps


def test_the_embedded_worker_rests_only_once_it_has_been_busy_long_enough():
    gaps = run_busy_loop(busy_seconds=0.05)
    rests = [gap for gap in gaps if gap >= 0.15]
    # Steps of 10 ms: a rest every ~5 steps, not after each one.
    assert 1 <= len(rests) <= 4, gaps
    assert sum(gap < 0.05 for gap in gaps) >= 6, gaps


def loops_for(*roles: WorkerRole, retention_purge_hours: float = 24, copies=None) -> list[BackgroundLoop]:
    settings = Settings(_env_file=None, outbox_senders=3, retention_purge_hours=retention_purge_hours)
    return worker_loops(settings, None, None, None, embedded=False, roles=roles, copies=copies)  # type: ignore[arg-type]


def test_a_worker_does_only_the_roles_it_is_given():
    assert [loop.name for loop in loops_for(WorkerRole.inbox, WorkerRole.timers)] == [
        "inbox-worker",
        "escalation-timers",
    ]
    assert [loop.name for loop in loops_for(WorkerRole.outbox)] == [
        "outbox-sender-0", "outbox-sender-1", "outbox-sender-2", "outbox-stale-sends",
    ]  # fmt: skip
    everything = [loop.name for loop in loops_for(*WorkerRole)]
    assert everything[0] == "inbox-worker" and {"escalation-timers", "retention-purge"} <= set(everything)
    assert loops_for(WorkerRole.retention, retention_purge_hours=0) == []


def test_senders_apart_from_the_inbox_look_for_work_as_often_as_the_inbox_worker_would():
    settings = Settings(_env_file=None)
    alone = loops_for(WorkerRole.outbox)
    beside_the_inbox = [loop for loop in loops_for(*WorkerRole) if loop.name.startswith("outbox-sender")]
    # Nobody in the process wakes them when alerts are queued: the first sender polls fast and wakes the others.
    assert alone[0].interval == settings.inbox_poll_seconds < settings.worker_poll_seconds
    assert {loop.interval for loop in alone[1:-1]} == {settings.worker_poll_seconds}
    assert {loop.interval for loop in beside_the_inbox} == {settings.worker_poll_seconds}


@pytest.mark.slow
def test_the_pipeline_and_the_outbox_in_two_worker_processes_alert_a_unit(
    backend, settings, factory, vault, deployment, twilio_api, tmp_path
):
    if backend != "postgresql":
        pytest.skip("worker processes beside each other need PostgreSQL (SQLite has one writer)")
    twilio_api.fake.clear()
    env = twilio_worker_env(settings.database_url, tmp_path, twilio_api.base_url)
    logs = {"pipeline": tmp_path / "pipeline.log", "outbox": tmp_path / "outbox.log"}
    roles = {"pipeline": ["--only", "inbox", "--only", "timers"], "outbox": ["--only", "outbox"]}
    workers = [
        subprocess.Popen([KENGELE, "worker", *roles[name]], env=env, cwd=tmp_path, stdout=logs[name].open("wb"),
                         stderr=subprocess.STDOUT)
        for name in ("pipeline", "outbox")
    ]  # fmt: skip
    try:
        IntakeGateway(factory, vault, Spool(tmp_path / "spool")).accept(
            InboundEnvelope(source="twilio_sms", external_id=new_sid(), channel="sms",
                            body="Attaque des hommes armés à Ngoubi, 6 morts", sender_phone="+23672110003")
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not twilio_api.fake.created("Messages") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(15)
    alerts = twilio_api.fake.created("Messages")
    with factory() as session:
        incident = session.scalars(select(Incident)).one()
    assert alerts and incident.status == "escalated" and incident.ref in (alerts[0].get("Body") or "")
    # The pipeline process escalated it; only the outbox process sent anything.
    assert "accepted" in logs["outbox"].read_text() and "accepted" not in logs["pipeline"].read_text()


def test_twilios_copies_are_deleted_by_the_retention_role_where_there_is_twilio_and_it_is_on():
    keys = Keys((b"k" * 32,), b"h" * 32, twilio_auth_token="token")
    with_twilio = Settings(_env_file=None, twilio_account_sid="AC" + "1" * 32)
    copies = provider_copies(with_twilio, keys)
    assert isinstance(copies, TwilioCopies)
    assert provider_copies(with_twilio.model_copy(update={"twilio_delete_after_minutes": 0}), keys) is None
    assert provider_copies(Settings(_env_file=None), keys) is None  # the console sink: nothing at Twilio
    names = [loop.name for loop in loops_for(WorkerRole.retention, copies=copies)]
    assert names == ["retention-purge", "provider-copies"]
    assert [loop.name for loop in loops_for(WorkerRole.outbox, copies=copies)][-1] == "outbox-stale-sends"
    copies.close()
