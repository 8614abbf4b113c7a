"""Two real `kengele worker` processes on PostgreSQL, one killed mid-escalation and started again: no deadline is
lost, none fires twice, and no alert reaches a phone twice."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import select

from app.escalation.models import Escalation, Timer
from app.intake.flows import IntakeGateway
from app.intake.schemas import InboundEnvelope
from app.intake.spool import Spool
from app.notify.models import Notification
from tests.deployment import unit_numbers
from tests.helpers import new_sid
from tests.live_server import KENGELE, twilio_worker_env

STEP_S = 2  # every acknowledgement deadline of the test policy


def short_policy(path) -> None:
    """The bundled policy's shape with 2-second deadlines: one unit (repeated once), the next, the HQ, the JOC."""
    levels = [
        {"target": "ranked", "count": 1, "channels": ["sms"], "ack_timeout_s": STEP_S, "repeats": 1},
        {"target": "ranked", "count": 1, "channels": ["sms"], "ack_timeout_s": STEP_S},
        {"target": "sector_hq", "channels": ["sms"], "ack_timeout_s": STEP_S},
        {"target": "joc", "channels": ["sms"], "ack_timeout_s": STEP_S},
    ]
    path.write_text(json.dumps({p: {"levels": levels} for p in ("P1", "P2", "P3", "P4")}), encoding="utf-8")


def start_worker(env, cwd, log) -> subprocess.Popen:
    return subprocess.Popen([KENGELE, "worker"], env=env, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def escalation(factory) -> Escalation | None:
    with factory() as session:
        return session.scalars(select(Escalation)).first()


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_worker_loses_no_deadline_and_sends_nothing_twice(
    backend, settings, factory, vault, deployment, twilio_api, tmp_path
):
    if backend != "postgresql":
        pytest.skip("several worker processes need PostgreSQL")
    twilio_api.fake.clear()
    short_policy(tmp_path / "policy.json")
    env = twilio_worker_env(
        settings.database_url, tmp_path, twilio_api.base_url, worker_poll_seconds="0.2",
        escalation_policy_file=str(tmp_path / "policy.json"),
    )  # fmt: skip
    workers = [start_worker(env, tmp_path, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        gateway = IntakeGateway(factory, vault, Spool(tmp_path / "spool"))
        gateway.accept(
            InboundEnvelope(
                source="twilio_sms",
                external_id=new_sid(),
                channel="sms",
                body="Attaque des hommes armés à Ngoubi, 6 morts",
                sender_phone="+23672110003",
            )
        )
        wait_for(lambda: (e := escalation(factory)) is not None and e.level >= 1)
        workers[0].send_signal(signal.SIGKILL)  # mid-escalation, with no warning
        workers[0].wait()
        workers[0] = start_worker(env, tmp_path, tmp_path / "worker0-restarted.log")
        wait_for(lambda: escalation(factory).level == 3 and escalation(factory).round >= 1)  # the JOC, twice
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(15)
    with factory() as session:
        rows = session.scalars(select(Notification).where(Notification.purpose == "alert")).all()
        overdue = session.scalars(
            select(Timer).where(Timer.fired_at.is_(None), Timer.canceled_at.is_(None))
        ).all()  # fmt: skip
    assert len(overdue) <= 1  # at most the deadline armed last, not yet due when the workers stopped
    states = Counter(r.state for r in rows)
    # The killed worker claims one row at a time: at most that one is left in doubt ("sending" until it is stale,
    # then "unknown"), never re-sent.
    in_doubt = states["sending"] + states["unknown"]
    assert set(states) <= {"sent", "sending", "unknown"} and states["sent"] >= 5 and in_doubt <= 1
    numbers = unit_numbers(factory, vault, "Sector East HQ", "JOC Bangui")
    sent_to = Counter(r.get("To") for r in twilio_api.fake.created("Messages"))
    assert sent_to[numbers["Sector East HQ"]] == 1 and sent_to[numbers["JOC Bangui"]] >= 2
    # Each outbox row reached Twilio at most once: a duplicate would make Twilio's count exceed the rows'.
    assert states["sent"] <= sum(sent_to.values()) <= states["sent"] + in_doubt
    provider_ids = [r.provider_id for r in rows if r.provider_id]
    assert len(provider_ids) == len(set(provider_ids))
