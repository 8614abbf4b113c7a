"""Two `kengele serve` and two `kengele worker` processes on one PostgreSQL database: every 200 stored once, one
incident per event however the workers race, every incident escalated, no alert sent twice."""

from __future__ import annotations

from tests.reliability import harness
from tests.reliability.conftest import report

PLAN = harness.MULTIPROCESS


def test_two_servers_and_two_workers_store_once_and_alert_once(postgres_only, demo_database, fake_twilio, tmp_path):
    result = harness.run(PLAN, demo_database, tmp_path, fake_twilio, log=print)
    report("multiprocess[postgresql]", result)
    counts = result.counts
    assert counts["non_200_answers"] == 0, counts["statuses"]
    assert counts["lost"] == 0 and counts["duplicates"] == 0 and counts["duplicate_rows"] == 0
    assert counts["incidents"] == counts["escalated"] == PLAN.events, "racing workers split or lost an incident"
    assert not result.problems, "\n".join(result.problems)
