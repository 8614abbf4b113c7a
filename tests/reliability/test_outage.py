"""PostgreSQL stopped for 30 s under load (a throwaway cluster, never the shared server): every SMS is answered
from the spool, replayed once the database is back, nothing lost, nothing doubled."""

from __future__ import annotations

from tests.reliability import harness
from tests.reliability.conftest import report

PLAN = harness.OUTAGE


def test_postgres_down_for_30_seconds_loses_and_doubles_nothing(throwaway_postgres, fake_twilio, tmp_path):
    url = throwaway_postgres.create_database("kengele_outage")
    harness.migrate(url)
    harness.load_demo(url)
    result = harness.run(PLAN, url, tmp_path, fake_twilio, outage=throwaway_postgres, log=print)
    report("outage[postgresql]", result)
    counts = result.counts
    assert counts["non_200_answers"] == 0, f"Twilio was refused during the outage: {counts['statuses']}"
    assert counts["spooled_rows"] > 0, "the outage never reached the intake path"
    assert counts["lost"] == 0 and counts["duplicates"] == 0 and counts["duplicate_rows"] == 0
    assert counts["incidents"] == counts["escalated"] == PLAN.events
    assert not result.problems, "\n".join(result.problems)
