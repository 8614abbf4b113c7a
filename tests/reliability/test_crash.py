"""kill -9 of `kengele serve` and `kengele worker` under load: every 200 stored, every incident escalated and
alerted, no alert sent twice."""

from __future__ import annotations

from tests.reliability import harness
from tests.reliability.conftest import report

PLAN = harness.CRASH


def test_kill_9_loses_no_answered_message_and_sends_no_alert_twice(backend, demo_database, fake_twilio, tmp_path):
    result = harness.run(PLAN, demo_database, tmp_path, fake_twilio, log=print)
    report(f"crash[{backend}]", result)
    counts = result.counts
    assert counts["server_kills"] == PLAN.server_kills and counts["worker_kills"] == PLAN.worker_kills
    assert counts["answered_200"] > PLAN.messages // 2, "the load hardly got through: nothing was tested"
    assert counts["lost"] == 0 and counts["duplicates"] == 0 and counts["duplicate_rows"] == 0
    assert counts["incidents"] == counts["escalated"] == PLAN.events
    assert not result.problems, "\n".join(result.problems)


def test_a_worker_killed_mid_send_leaves_only_the_message_in_flight_in_doubt(backend, demo_database, tmp_path):
    # A slow Twilio (0.3 s a message) so that the kill lands while the outbox is sending, every time.
    result = harness.run_mid_send_kill(demo_database, tmp_path, log=print)
    report(f"mid-send-kill[{backend}]", result)
    counts = result.counts
    # One kill: at most one message per outbox sender was in flight; the rest of the outbox was never claimed.
    assert counts["in_doubt_never_sent"] <= harness.SENDERS, "a kill stranded alerts the worker had not even tried"
    # Every incident was alerted, except one whose every alert was among the few in flight (an SMS and a call to the
    # same unit go out side by side): those are in doubt, and none is ever sent twice.
    assert counts["alerted_incidents"] + counts["incidents_in_doubt"] == counts["incidents"] == 6
    assert counts["alerted_incidents"] >= 6 - harness.SENDERS and counts["duplicates"] == 0
    assert not result.problems, "\n".join(result.problems)
