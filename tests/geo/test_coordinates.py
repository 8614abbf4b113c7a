"""Explicit coordinates in messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.geo.coordinates import find_coordinates


@pytest.mark.parametrize(
    ("text", "lat", "lon"),
    [
        ("attaque ici 6.5423, 21.9863 svp", 6.5423, 21.9863),
        ("position 6.5423 21.9863", 6.5423, 21.9863),
        ("lat 4.3667 lon 18.5833", 4.3667, 18.5833),
        ("lon: 18.5833 lat: 4.3667", 4.3667, 18.5833),
        ("N 6.5423 E 21.9863", 6.5423, 21.9863),
        ("21.9863E 6.5423N", 6.5423, 21.9863),
        ("6°32'32\"N 21°59'11\"E", 6.542222, 21.986389),
        ("21°59'11\"E, 6°32'32\"N", 6.542222, 21.986389),
        ("4°21'N 18°35'E", 4.35, 18.583333),
        ("-4.32 15.31", -4.32, 15.31),
        ("4.32S 15.31E", -4.32, 15.31),
        ("12.65N 8.0W", 12.65, -8.0),
        ("12.65N 8.0O", 12.65, -8.0),
        ("18.5833, 4.3667", 4.3667, 18.5833),  # no letters, but 18.58 then 4.37 fits only lon, lat? no: both fit
    ],
)
def test_finds_coordinates(text, lat, lon):
    found = find_coordinates(text)
    assert found is not None
    if text.startswith("18.5833"):
        # Without hemisphere letters the first number is read as latitude when it can be one.
        assert (found.lat, found.lon) == (18.5833, 4.3667)
        return
    assert found.lat == pytest.approx(lat, abs=1e-5) and found.lon == pytest.approx(lon, abs=1e-5)


def test_precision_follows_the_notation():
    assert find_coordinates("6.5423, 21.9863").precision_m <= 50
    assert find_coordinates("6.54, 21.99").precision_m == 1100
    assert find_coordinates("6°32'N 21°59'E").precision_m == 2000


@pytest.mark.parametrize(
    "text",
    ["13 km de Bria", "3 morts et 2 blessés", "le 12.05 a 14h", "tel 75 12 34 56", "100.5, 200.5", ""],
)
def test_numbers_that_are_not_coordinates(text):
    assert find_coordinates(text) is None


def test_longitude_first_when_the_first_number_cannot_be_a_latitude():
    found = find_coordinates("121.50, 14.60")
    assert (found.lat, found.lon) == (14.6, 121.5)


@given(st.text(max_size=200))
def test_any_text_yields_valid_coordinates_or_none(text):
    found = find_coordinates(text)
    if found is not None:
        assert -90 <= found.lat <= 90 and -180 <= found.lon <= 180 and found.precision_m > 0
