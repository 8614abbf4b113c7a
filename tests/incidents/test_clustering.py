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


def test_an_incident_stops_growing_18_hours_after_its_first_report():
    long_running = IncidentFacts(
        1, "K-1001", "attack_civilians", BRIA[0], BRIA[1], 3000.0, T0, T0 + timedelta(hours=14)
    )
    assert clustering.choose_incident(report(at=T0 + timedelta(hours=17)), [long_running]) is not None
    assert clustering.choose_incident(report(at=T0 + timedelta(hours=19)), [long_running]) is None


BAMBARI = (5.76795, 20.67565)


def ring(km, dead=None, at=T0, category="attack_civilians", centre=BAMBARI):
    """A "N km from Bambari" report as the locator gives it: a circle at 0.85 N with a band of 0.15 N + 3 km."""
    radius = 850.0 * km
    return ReportFacts(category, centre[0], centre[1], radius + 150.0 * km + 3000, at, (), radius, dead)


def point(lat, lon, dead_range=None, id_=1, ref="K-1001", at=T0, category="attack_civilians", precision=2000.0):
    return IncidentFacts(id_, ref, category, lat, lon, precision, at, at, None, dead_range)


def north_of_bambari(km):
    return BAMBARI[0] + km / 111.2, BAMBARI[1]


def test_a_ring_joins_an_incident_on_its_circle_when_the_tolls_match():
    on_circle = point(*north_of_bambari(24), dead_range=(5, 6))
    assert clustering.choose_incident(ring(28, dead=5), [on_circle]) is on_circle
    assert clustering.choose_incident(ring(28, dead=30), [on_circle]) is None  # another event's toll
    centre = point(*BAMBARI, dead_range=(5, 6))
    assert clustering.choose_incident(ring(28, dead=5), [centre]) is None  # Bambari itself is not 28 km away


def test_a_ring_with_no_toll_joins_only_the_one_incident_inside_its_circle():
    on_circle = point(*north_of_bambari(24))
    assert clustering.choose_incident(ring(28), [on_circle]) is on_circle
    other = point(BAMBARI[0] - 0.1, BAMBARI[1], id_=2, ref="K-1002")  # 11 km south, also inside the circle
    assert clustering.choose_incident(ring(28), [on_circle, other]) is None


def test_a_common_toll_is_no_evidence_for_a_ring():
    on_circle, other = point(*north_of_bambari(24), dead_range=(1, 1)), point(*BAMBARI, id_=2, ref="K-1002")
    assert clustering.choose_incident(ring(28, dead=1), [on_circle, other]) is None


def test_rings_join_when_they_circle_one_town_not_when_they_cross():
    same_town = IncidentFacts(1, "K-1001", "attack_civilians", *BAMBARI, 28_900.0, T0, T0, 23_800.0)
    assert clustering.choose_incident(ring(27), [same_town]) is same_town
    elsewhere = (BAMBARI[0] + 0.3, BAMBARI[1])  # 33 km north: the two circles cross
    assert clustering.choose_incident(ring(27, centre=elsewhere), [same_town]) is None


def test_weakly_placed_reports_need_the_same_category_and_a_shorter_window():
    on_circle = point(*north_of_bambari(24))
    assert clustering.choose_incident(ring(28, category="armed_clash"), [on_circle]) is None
    assert clustering.choose_incident(ring(28, at=T0 + timedelta(hours=5)), [on_circle]) is on_circle
    assert clustering.choose_incident(ring(28, at=T0 + timedelta(hours=7)), [on_circle]) is None  # 12 h halved


def test_reports_naming_the_same_wide_area_join_each_other():
    area = IncidentFacts(1, "K-1001", "attack_civilians", *BAMBARI, 54_000.0, T0, T0)
    same = ReportFacts("attack_civilians", *BAMBARI, 54_000.0, T0 + timedelta(hours=1))
    assert clustering.choose_incident(same, [area]) is area
    inside = ReportFacts("attack_civilians", BAMBARI[0] + 0.05, BAMBARI[1], 2000.0, T0 + timedelta(hours=1))
    assert clustering.choose_incident(inside, [area]) is None  # "somewhere in the district" is not this village


def test_tolls_disagree_only_when_far_apart():
    assert clustering.tolls_disagree(4, (20, 21)) and clustering.tolls_disagree(119, (1, 1))
    assert not clustering.tolls_disagree(4, (4, 20)) and not clustering.tolls_disagree(8, (3, 3))
    assert not clustering.tolls_disagree(None, (1, 1)) and not clustering.tolls_disagree(3, None)
