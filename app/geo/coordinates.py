"""Explicit coordinates in free text: decimal or degrees-minutes-seconds, either order, hemisphere letters (pure)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

_COMPONENT = re.compile(
    r"""
    (?P<label>\b(?:lat(?:itude)?|lon(?:g(?:itude)?)?)\b\s*[:=]?\s*)?
    (?P<pre>\b[NSEWO]\b\.?\s*)?
    (?P<deg>[+-]?\d{1,3}(?:[.,]\d+)?)\s*(?P<degsym>°|º|˚|deg\b)?\s*
    (?:(?P<min>\d{1,2}(?:[.,]\d+)?)\s*(?:'|’|′)\s*)?
    (?:(?P<sec>\d{1,2}(?:[.,]\d+)?)\s*(?:"|”|″|''|’’)\s*)?
    (?P<post>[NSEWO](?![A-Za-z]))?
    """,
    re.VERBOSE | re.IGNORECASE,
)
MAX_GAP = 12  # characters allowed between the latitude and the longitude


@dataclass(frozen=True)
class Coordinates:
    """A point read from the text, with the precision its notation allows and the text it came from."""

    lat: float
    lon: float
    precision_m: float
    text: str


@dataclass(frozen=True)
class _Component:
    value: float
    axis: str | None  # "lat", "lon" or None when only the order tells
    precision_m: float
    start: int
    end: int


def _precision(deg: str, minutes: str | None, seconds: str | None) -> float:
    if seconds:
        return 50.0
    if minutes:
        return 2000.0
    decimals = len(deg.replace(",", ".").partition(".")[2])
    return {0: 100_000.0, 1: 11_000.0, 2: 1_100.0, 3: 150.0}.get(decimals, 50.0)


def _component(match: re.Match[str]) -> _Component | None:
    deg, minutes, seconds = match.group("deg"), match.group("min"), match.group("sec")
    hemisphere = (match.group("pre") or match.group("post") or "").strip(" .").upper()
    label = (match.group("label") or "").strip().lower()
    is_decimal = "." in deg or "," in deg
    if not (
        hemisphere or match.group("degsym") or label or (is_decimal and len(deg.replace(",", ".").split(".")[1]) >= 2)
    ):
        return None  # a bare number ("13 km") is not a coordinate
    value = abs(float(deg.replace(",", ".")))
    value += float((minutes or "0").replace(",", ".")) / 60 + float((seconds or "0").replace(",", ".")) / 3600
    if deg.startswith("-") or hemisphere in ("S", "W", "O"):
        value = -value
    axis = "lat" if hemisphere in ("N", "S") or label.startswith("lat") else None
    axis = "lon" if hemisphere in ("E", "W", "O") or label.startswith("lon") else axis
    return _Component(value, axis, _precision(deg, minutes, seconds), match.start(), match.end())


def find_coordinates(text: str) -> Coordinates | None:
    """The first latitude/longitude pair written in the text, or None."""
    components = [c for m in _COMPONENT.finditer(text) if m.group("deg") and (c := _component(m))]
    for first, second in itertools.pairwise(components):
        if second.start - first.end > MAX_GAP:
            continue
        lat, lon = _assign(first, second)
        if lat is None or lon is None or not (-90 <= lat.value <= 90 and -180 <= lon.value <= 180):
            continue
        return Coordinates(
            round(lat.value, 6),
            round(lon.value, 6),
            max(first.precision_m, second.precision_m),
            text[first.start : second.end].strip(),
        )
    return None


def _assign(a: _Component, b: _Component) -> tuple[_Component | None, _Component | None]:
    if a.axis == "lon" or b.axis == "lat":
        return b, a
    if a.axis == "lat" or b.axis == "lon":
        return a, b
    # No letters: latitude first, unless the first number cannot be a latitude.
    return (b, a) if abs(a.value) > 90 >= abs(b.value) else (a, b)
