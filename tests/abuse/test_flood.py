"""A flood: one number sends 1,000 messages in a minute while 50 villagers report attacks across the country.

Every message is stored and becomes a report; the 50 attacks escalate promptly; the flood makes at most one
incident and one operator warning, and pages no unit more than once.
"""

from __future__ import annotations

import csv
import math
import random
import time

from sqlalchemy import func, select

from app.abuse.models import OperatorWarning
from app.escalation.models import Escalation
from app.feed.models import FeedEventRow
from app.incidents.models import Incident, Report
from app.intake.models import InboundMessage
from app.reporters.models import Reporter
from app.reporters.service import phone_identity
from tests.conftest import DEMO_PLACES
from tests.helpers import post_sms, sms_form

FLOODER = "+23675990001"
FLOOD_SIZE = 1000
VILLAGERS = 50
# The operations centre must see an attack within a minute of its report, flood or no flood.
ON_TIME_SECONDS = 60
DECOYS = [
    "Attaque à Bambari venez vite",
    "Attaque des rebelles à Bambari, venez vite",
    "Bambari attaque maintenant, envoyez les casques bleus",
    "Hommes armés attaquent Bambari",
    "Attaque Bambari beaucoup de tirs",
]


def spread_towns(count: int, min_km: float = 45.0) -> list[str]:
    """Demo places (towns first) at least `min_km` apart (and away from Bambari), so no two attacks are one incident."""
    with DEMO_PLACES.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["name"].isalpha()]
    rows.sort(key=lambda r: r["kind"] != "town")
    chosen: list[tuple[str, float, float]] = [("Bambari", 5.76795, 20.67565)]
    for row in rows:
        lat, lon = float(row["lat"]), float(row["lon"])
        if all(km(lat, lon, c_lat, c_lon) >= min_km for _, c_lat, c_lon in chosen):
            chosen.append((row["name"], lat, lon))
    assert len(chosen) > count, f"only {len(chosen) - 1} demo places are {min_km} km apart"
    return [name for name, _, _ in chosen[1 : count + 1]]


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(x, math.radians(lat2 - lat1)) * 6371.0


def test_a_flood_is_stored_whole_but_makes_one_incident_one_warning_and_delays_no_one(kengele, factory, vault):
    rng = random.Random(7)
    towns = spread_towns(VILLAGERS)
    villagers = {f"+2367201{i:04d}": town for i, town in enumerate(towns)}
    # The villagers' reports are spread through the flood, as they would arrive.
    slots = set(rng.sample(range(FLOOD_SIZE), VILLAGERS))
    queue = iter(villagers.items())
    started, statuses = time.monotonic(), []
    for i in range(FLOOD_SIZE):
        statuses.append(post_sms(kengele.client, sms_form(From=FLOODER, Body=rng.choice(DECOYS))).status_code)
        if i in slots:
            phone, town = next(queue)
            body = f"Attaque des hommes armés à {town}, 3 morts"
            statuses.append(post_sms(kengele.client, sms_form(From=phone, Body=body)).status_code)
    sending_s = time.monotonic() - started
    assert statuses.count(200) == FLOOD_SIZE + VILLAGERS, "every message is accepted"
    assert sending_s < 60, f"the flood took {sending_s:.0f} s to send, not a minute"

    kengele.work()

    with factory() as session:
        stored = session.scalar(select(func.count()).select_from(InboundMessage))
        reports = session.scalar(select(func.count()).select_from(Report))
        flooder = session.scalar(select(Reporter).where(Reporter.identity_hash == phone_identity(vault, FLOODER)))
        flood_incidents = set(session.scalars(select(Report.incident_id).where(Report.reporter_id == flooder.id)))
        flood_incidents.discard(None)
        warnings = session.scalars(select(OperatorWarning)).all()
        late, missing = [], []
        for phone in villagers:
            reporter = session.scalar(select(Reporter).where(Reporter.identity_hash == phone_identity(vault, phone)))
            report = session.scalar(select(Report).where(Report.reporter_id == reporter.id))
            escalation = session.scalar(select(Escalation).where(Escalation.incident_id == report.incident_id))
            if escalation is None:
                missing.append(phone)
            elif (escalation.started_at - report.received_at).total_seconds() > ON_TIME_SECONDS:
                late.append((escalation.started_at - report.received_at).total_seconds())
        flood_refs = [session.get(Incident, i).ref for i in flood_incidents]
        flood_escalations = session.scalar(
            select(func.count()).select_from(Escalation).where(Escalation.incident_id.in_(flood_incidents))
        )
        flood_feed = session.scalar(
            select(func.count()).select_from(FeedEventRow).where(FeedEventRow.ref.in_(flood_refs))
        )

    print(f"\nflood: {FLOOD_SIZE} + {VILLAGERS} sent in {sending_s:.1f} s; stored {stored}, reports {reports}; "
          f"flood incidents {len(flood_incidents)}, warnings {[(w.kind, w.message_count) for w in warnings]}, "
          f"villagers late {len(late)}, missing {len(missing)}, flood feed events {flood_feed}")  # fmt: skip
    assert stored == reports == FLOOD_SIZE + VILLAGERS, "every message is stored and becomes a report"
    assert len(flood_incidents) <= 1
    assert [w.kind for w in warnings] == ["sender_flood"] and warnings[0].reporter_id == flooder.id
    assert warnings[0].message_count == FLOOD_SIZE - kengele_limit(), "every folded message is counted on it"
    assert not missing and not late, f"{len(missing)} attacks not escalated, {len(late)} late: {late[:5]}"
    assert (flood_escalations or 0) <= 1, "the flood pages units at most once"
    assert flood_feed <= 2 * kengele_limit(), "the flood does not flood the operations centre's feed"


def kengele_limit() -> int:
    from app.core.config import get_settings

    return get_settings().flood_sender_limit
