"""Clustering rules as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.incidents import clustering
from app.incidents.clustering import IncidentFacts, ReportFacts

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
BRIA = (6.54233, 21.98633)


def incident(id_=1, ref="K-1001", category="attack_civilians", lat=BRIA[0], lon=BRIA[1], precision=3000.0, at=T0):
    return IncidentFacts(id_, ref, category, lat, lon, precision, at, at)


def report(category="attack_civilians", lat=BRIA[0], lon=BRIA[1], precision=3000.0, at=T0, refs=()):
    return ReportFacts(category, lat, lon, precision, at, refs)


def test_a_close_compatible_report_in_the_window_joins():
    assert clustering.choose_incident(report(category="burning", at=T0 + timedelta(hours=3)), [incident()]).id == 1


def test_far_or_late_or_incompatible_reports_do_not_join():
    far = report(lat=BRIA[0] + 0.36)  # 40 km north
    late = report(at=T0 + timedelta(hours=30))
    other = report(category="other")
    assert clustering.choose_incident(far, [incident()]) is None
    assert clustering.choose_incident(late, [incident()]) is None
    assert clustering.choose_incident(other, [incident()]) is None


def test_precision_radii_widen_the_match_but_never_past_the_cap():
    home_located = report(lat=BRIA[0] + 0.1, precision=15_000)  # 11 km away, located by the sender's home
    assert clustering.choose_incident(home_located, [incident()]) is not None
    vague = report(lat=BRIA[0] + 0.25, precision=60_000)  # 28 km away: more than any precision can excuse
    assert clustering.choose_incident(vague, [incident()]) is None


def test_the_nearest_candidate_wins():
    near, nearer = incident(1, "K-1001", lat=BRIA[0] + 0.03), incident(2, "K-1002", lat=BRIA[0] + 0.01)
    assert clustering.choose_incident(report(), [near, nearer]).id == 2


def test_a_quoted_reference_joins_whatever_the_distance():
    far = report(lat=BRIA[0] + 2, refs=("K-1001",))
    assert clustering.choose_incident(far, [incident()]).id == 1


def test_unlocated_reports_join_only_by_reference():
    assert clustering.choose_incident(report(lat=None, lon=None), [incident()]) is None


def test_quoted_refs_are_read_loosely():
    assert clustering.quoted_refs("re K-4821 et k4822, tel 75123456") == ("K-4821", "K-4822")


def test_presence_has_a_longer_window_than_an_attack():
    later = T0 + timedelta(hours=15)
    assert clustering.choose_incident(report("armed_presence", at=later), [incident(category="armed_presence")])
    assert clustering.choose_incident(report("attack_civilians", at=later), [incident()]) is None


def test_an_incident_stops_growing_a_day_after_its_first_report():
    long_running = IncidentFacts(
        1, "K-1001", "attack_civilians", BRIA[0], BRIA[1], 3000.0, T0, T0 + timedelta(hours=20)
    )
    assert clustering.choose_incident(report(at=T0 + timedelta(hours=23)), [long_running]) is not None
    assert clustering.choose_incident(report(at=T0 + timedelta(hours=25)), [long_running]) is None
