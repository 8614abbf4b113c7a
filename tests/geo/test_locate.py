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


def test_distance_without_direction_is_a_ring_round_the_town(parser, places):
    location = loc(parser, "à 28 km de Bambari attaque")
    # Said distances run by road: the straight line is 0.7-1.0 of them, so the circle sits at 0.85 with a band.
    assert location.ring_m == pytest.approx(0.85 * 28000, abs=100)
    band = location.precision_m - location.ring_m
    assert band == pytest.approx(0.15 * 28000 + places["Bambari"].precision_m, abs=100)
    assert loc(parser, "à 28 km de Bambari sur l'axe Ippy").ring_m is None  # the road gives a direction: a point


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


def test_saying_it_is_at_home_narrows_the_home_fallback(parser):
    for text in ("des hommes armés dans notre village", "Seleka a fa azo na kodoro ti e", "armed men in our village"):
        location = loc(parser, text, home=(6.0, 20.0))
        assert (location.method, location.precision_m) == ("reporter_home", 3000.0), text


def test_a_capitalised_short_word_one_typo_from_a_name_is_that_place(parser):
    for text in ("À Taey des villageois tués", "Babomi bato na Tley lelo", "À Taely des villageois tués"):
        assert loc(parser, text).place == "Taley", text
    assert loc(parser, "taey tout va bien").method == "unlocated"  # lower case: a word, not a name


def test_a_misspelling_close_to_two_names_keeps_both(parser, places):
    # "Boguial" is one letter from Boguia and two swapped from Boguila, 150 km apart: the radius must say so.
    location = loc(parser, "Azo ti bira a fa azo 1 na Boguial")
    assert location.place in ("Boguia", "Boguila")
    a, b = places["Boguia"], places["Boguila"]
    assert location.precision_m >= haversine_m(a.lat, a.lon, b.lat, b.lon)


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
