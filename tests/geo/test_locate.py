"""The locator on the demo gazetteer: names, misspellings, relative phrases, context and fallbacks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.geo.distance import bearing_deg, haversine_m
from app.understanding.service import ReporterContext


@pytest.fixture(scope="module")
def places(gazetteer):
    """Places by name; where a town and its airport share one, the town."""
    by_name = {}
    for place in sorted((p for ps in gazetteer.by_name.values() for p in ps), key=lambda p: p.size_rank, reverse=True):
        by_name[place.name] = place
    return by_name


def loc(parser, text, **context):
    return parser.parse(text, reporter=ReporterContext(**context) if context else None).location


def km(location, place) -> float:
    return haversine_m(location.lat, location.lon, place.lat, place.lon) / 1000


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Attaque à Bérbérati ce matin", "Bérbérati"),
        ("attaque a berberati", "Bérbérati"),  # diacritics
        ("les seleka sont a Kaga-Bandoro", "Kaga Bandoro"),  # hyphen for a space
        ("hommes armés à Kagabandoro", "Kaga Bandoro"),  # written together
        ("tirs à Bosangoa", "Bossangoa"),  # a doubled letter dropped
        ("Grimali attaque", "Grimari"),  # a sound spelled otherwise
        ("BODIOMO village", "Bodjomo"),
        ("village Danda II", "Danda 2"),  # Roman numerals
        ("quartier PK5 tirs", "Bangui"),  # a neighbourhood alias
    ],
)
def test_place_names(parser, places, text, place):
    location = loc(parser, text)
    assert location.place == place, location
    assert location.method == "gazetteer"
    assert km(location, places[place]) < 0.01
    assert 0 < location.confidence <= 1


def test_relative_offset_along_an_axis(parser, places):
    location = loc(parser, "Hommes armés à Ayorkpo 13 km de Bria sur l'axe Ouadda")
    bria, ouadda = places["Bria"], places["Ouadda"]
    assert location.method == "axis" and location.place == "Bria"
    assert km(location, bria) == pytest.approx(13, abs=0.5)
    heading = bearing_deg(bria.lat, bria.lon, location.lat, location.lon)
    assert heading == pytest.approx(bearing_deg(bria.lat, bria.lon, ouadda.lat, ouadda.lon), abs=1)
    assert location.precision_m >= 0.3 * 13000  # honest about a guessed road distance


def test_relative_offset_with_a_direction(parser, places):
    location = loc(parser, "20 km au nord de Bambari, tirs")
    bambari = places["Bambari"]
    assert location.method == "relative"
    assert km(location, bambari) == pytest.approx(20, abs=0.5)
    assert bearing_deg(bambari.lat, bambari.lon, location.lat, location.lon) == pytest.approx(0, abs=1)


def test_distance_without_direction_widens_the_radius(parser, places):
    location = loc(parser, "village a 40 km de Bozoum")
    assert location.method == "relative" and location.place == "Bozoum"
    assert km(location, places["Bozoum"]) < 0.01 and location.precision_m >= 40000


def test_near_widens_the_radius(parser):
    location = loc(parser, "hommes armés près de Sibut")
    assert location.method == "relative" and location.place == "Sibut" and location.precision_m >= 7000


def test_a_neighbourhood_named_like_a_distant_town_stays_in_its_city(parser):
    assert loc(parser, "Ouango neighborhood, Bangui").place == "Bangui"


def test_the_area_named_is_context_not_the_place(parser):
    assert loc(parser, "Houya, 80 km southwest of Ouadda, Haute-Kotto").place == "Ouadda"


def test_same_name_resolved_by_the_reporters_home(parser, places):
    # Two villages are called Nzako; the one near the sender is meant.
    candidates = list(parser.gazetteer.exact("nzako"))
    assert len(candidates) == 2
    for near in candidates:
        location = loc(parser, "attaque a Nzako", home=(near.lat + 0.05, near.lon))
        assert (location.lat, location.lon) == (near.lat, near.lon)


def test_unresolved_ambiguity_says_how_wide_it_is(parser):
    location = loc(parser, "attaque a Nzako")
    a, b = parser.gazetteer.exact("nzako")
    assert location.precision_m >= haversine_m(a.lat, a.lon, b.lat, b.lon)
    assert location.confidence < 0.5


def test_falls_back_to_the_reporters_home(parser):
    location = loc(parser, "des hommes armés sont là", home=(6.0, 20.0), home_place="Kodro ti mbi")
    assert (location.method, location.lat, location.lon, location.place) == ("reporter_home", 6.0, 20.0, "Kodro ti mbi")
    assert location.precision_m >= 10000


def test_unlocated_when_nothing_fits(parser):
    location = loc(parser, "des hommes armés sont là")
    assert location.method == "unlocated" and location.lat is None and location.precision_m is None


def test_explicit_coordinates_win(parser):
    location = loc(parser, "attaque a Bria 6.60 22.10")
    assert location.method == "coordinates" and (location.lat, location.lon) == (6.6, 22.1)


def test_common_words_are_not_places_unless_capitalised(parser):
    # "Sara" is a Bangui neighbourhood and a Haitian Creole word ("sa a"); lower case it is just the word.
    assert loc(parser, "sara tout va bien").method == "unlocated"
    assert loc(parser, "attaque a Sara").place == "Bangui"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_locates_or_says_unlocated(parser, text):
    location = parser.parse(text).location
    if location.method == "unlocated":
        assert location.lat is None
    else:
        assert -90 <= location.lat <= 90 and -180 <= location.lon <= 180 and location.precision_m > 0
