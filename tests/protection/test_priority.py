"""The priority points model: each rule, the guarantees DESIGN asks for, and the reasons shown to operators."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.protection.priority import SEVERITY_POINTS, SITE_NEAR_M, Priority, assess, level_of

SEVERITIES = list(SEVERITY_POINTS)
PROTECTIONS = ["must", "should", "could", None]


def score(severity="minor", protection=None, sites=(), reporters=1, verification="unverified", category=None, **kw):
    return assess(severity, protection, list(sites), reporters, verification, category, **kw)


@pytest.mark.parametrize(
    ("severity", "points"),
    [("extreme", 4), ("severe", 3), ("moderate", 2), ("minor", 1), ("unknown", 1)],
)
def test_severity_points_when_confirmed(severity, points):
    # Confirmed adds 1 to every severity, so the severity's own points are score - 1.
    assert score(severity, verification="confirmed").score == points + 1


@pytest.mark.parametrize(("protection", "points"), [("must", 2), ("should", 1), ("could", 0), (None, 0)])
def test_zone_points(protection, points):
    assert score("moderate", protection).score - score("moderate").score == points


@pytest.mark.parametrize(
    ("sites", "points", "reason"),
    [
        ([("idp_camp", 800.0, "PK3")], 1, "IDP camp 'PK3' 0.8 km away"),
        ([("market", 1999.0)], 1, "market 2.0 km away"),
        ([("market", SITE_NEAR_M)], 1, "market 2.0 km away"),
        ([("idp_camp", 0.0, "M'Poko")], 1, 'inside IDP camp "M\'Poko"'),
        ([("idp_camp", 20.0, "PK3")], 1, "IDP camp 'PK3' 0.1 km away"),
        ([("idp_camp", 2001.0, "PK3")], 0, None),
        ([("school", 10.0, "École"), ("health_centre", 0.0)], 0, None),
        # Only one point however many sites; the reason names the nearest.
        (
            [("market", 1500.0, "PK5"), ("idp_camp", 300.0, "PK3"), ("idp_camp", 900.0, "Other")],
            1,
            "IDP camp 'PK3' 0.3 km away",
        ),
        ([], 0, None),
    ],
)
def test_site_points_and_reason(sites, points, reason):
    base, found = score("moderate"), score("moderate", sites=sites)
    assert found.score - base.score == points
    extra = set(found.reasons) - set(base.reasons)
    assert extra == ({reason} if reason else set())


@pytest.mark.parametrize(("reporters", "points"), [(0, 0), (1, 0), (2, 0), (3, 1), (12, 1)])
def test_corroboration_points(reporters, points):
    found = score("moderate", reporters=reporters)
    assert found.score - score("moderate", reporters=1).score == points
    assert (f"{reporters} independent reporters" in found.reasons) == bool(points)


@pytest.mark.parametrize(
    ("severity", "verification", "points", "reason"),
    [
        ("moderate", "confirmed", 1, "confirmed by a CLA"),
        ("moderate", "unverified", 0, None),
        ("moderate", "pending", 0, None),
        ("minor", "confirmed", 1, "confirmed by a CLA"),
        ("severe", "confirmed", 1, "confirmed by a CLA"),
        # A severe alert is never held back: unverified counts as much as confirmed.
        ("severe", "unverified", 1, "unverified, not held back: severe alert"),
        ("extreme", "pending", 1, "pending, not held back: extreme alert"),
    ],
)
def test_verification_points(severity, verification, points, reason):
    found = score(severity, verification=verification)
    assert found.score == SEVERITY_POINTS[severity] + points
    assert found.reasons == (f"{severity} severity",) + ((reason,) if reason else ())


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("protection", PROTECTIONS)
def test_confirmed_false_is_always_p4(severity, protection):
    found = score(severity, protection, [("idp_camp", 0.0, "PK3")], 10, "false", "attack_civilians")
    assert found == Priority(level="P4", score=0, reasons=("confirmed false",))


@pytest.mark.parametrize(
    ("score_", "level"),
    [(0, "P4"), (1, "P4"), (2, "P4"), (3, "P3"), (4, "P2"), (5, "P2"), (6, "P1"), (9, "P1")],
)
def test_level_thresholds(score_, level):
    assert level_of(score_) == level


@pytest.mark.parametrize(
    ("case", "kwargs", "levels"),
    [
        ("extreme attack anywhere", {"severity": "extreme", "category": "attack_civilians"}, {"P1", "P2"}),
        ("extreme attack in a must-protect zone", {"severity": "extreme", "protection": "must"}, {"P1"}),
        ("extreme attack near an IDP camp", {"severity": "extreme", "sites": [("idp_camp", 1200.0)]}, {"P1"}),
        ("severe in a must-protect zone, unverified", {"severity": "severe", "protection": "must"}, {"P1"}),
        (
            "severe in a must-protect zone, pending",
            {"severity": "severe", "protection": "must", "verification": "pending"},
            {"P1"},
        ),
        ("minor threat, one unverified sender, no zone", {"severity": "minor", "category": "threat"}, {"P4"}),
        (
            "armed presence near an IDP camp in a must-protect zone",
            {
                "severity": "moderate",
                "category": "armed_presence",
                "protection": "must",
                "sites": [("idp_camp", 900.0)],
            },
            {"P1", "P2"},
        ),
        ("moderate report outside zones, unverified", {"severity": "moderate"}, {"P4"}),
        ("moderate report, confirmed", {"severity": "moderate", "verification": "confirmed"}, {"P3"}),
        ("unknown severity, single sender", {"severity": "unknown"}, {"P4"}),
    ],
)
def test_scenarios(case, kwargs, levels):
    assert score(**kwargs).level in levels, case


@given(
    st.sampled_from(["extreme", "severe"]),
    st.sampled_from(PROTECTIONS),
    st.lists(st.tuples(st.sampled_from(["idp_camp", "market", "school"]), st.floats(0, 5000)), max_size=3),
    st.integers(0, 20),
    st.sampled_from(["unverified", "pending"]),
)
def test_unverified_never_lowers_a_severe_alert(severity, protection, sites, reporters, verification):
    waiting = score(severity, protection, sites, reporters, verification)
    confirmed = score(severity, protection, sites, reporters, "confirmed")
    assert waiting.level == confirmed.level and waiting.score == confirmed.score
    assert waiting.level in ("P1", "P2")
    if protection == "must":
        assert waiting.level == "P1"


@given(
    st.sampled_from(SEVERITIES),
    st.sampled_from(PROTECTIONS),
    st.lists(st.tuples(st.sampled_from(["idp_camp", "market", "school"]), st.floats(0, 5000)), max_size=3),
    st.integers(0, 20),
    st.sampled_from(["unverified", "pending", "confirmed"]),
)
def test_more_context_never_lowers_priority(severity, protection, sites, reporters, verification):
    found = score(severity, protection, sites, reporters, verification)
    assert found.level == level_of(found.score)
    stricter = {"could": "should", "should": "must", None: "should"}.get(protection, "must")
    for more in (
        score(severity, stricter, sites, reporters, verification),
        score(severity, protection, [*sites, ("idp_camp", 100.0)], reporters, verification),
        score(severity, protection, sites, reporters + 3, verification),
        score(severity, protection, sites, reporters, "confirmed"),
    ):
        assert more.score >= found.score


def test_reasons_read_like_an_explanation():
    found = score(
        "extreme",
        "must",
        [("idp_camp", 800.0, "PK3"), ("market", 300.0, "Bria market")],
        3,
        "confirmed",
        "attack_civilians",
        zone_name="Bria PK3",
    )
    assert found == Priority(
        level="P1",
        score=9,
        reasons=(
            "extreme severity (attack on civilians)",
            "must-protect zone 'Bria PK3'",
            "market 'Bria market' 0.3 km away",
            "3 independent reporters",
            "confirmed by a CLA",
        ),
    )
    # Points that add nothing are not reasons: a could-protect zone, one reporter, an unverified moderate report.
    assert score("moderate", "could", category="other").reasons == ("moderate severity",)
    assert score("minor", "should").reasons == ("minor severity", "should-protect zone")
    assert score("severe", category="sexual_violence").reasons[0] == "severe severity (sexual violence)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"severity": "catastrophic"}, "severity 'catastrophic'"),
        ({"severity": "Extreme"}, "severity 'Extreme'"),
        ({"protection": "must protect"}, "protection 'must protect'"),
        ({"verification": "maybe"}, "verification 'maybe'"),
        ({"reporters": -1}, "reporter_count"),
    ],
)
def test_unknown_inputs_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        score(**kwargs)
