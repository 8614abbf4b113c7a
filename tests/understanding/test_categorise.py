"""Category, negation, counts, weapons and severity on realistic messages."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Les seleka ont brulé 30 maisons a Bouca", "burning"),
        ("Enlèvement de 2 femmes à Zemio par la LRA hier soir", "abduction"),
        ("des femmes ont ete violees par les hommes armes a Bambari", "sexual_violence"),
        ("Pillage du marché de Bossangoa par hommes armés", "looting"),
        ("Coups de feu entendus à Ndélé depuis 2h", "gunfire"),
        ("Armed men attacked the village and killed 4 people", "attack_civilians"),
        ("Les anti-balaka menacent d'attaquer le quartier demain", "threat"),
        ("la population fuit vers la brousse", "displacement"),
        ("Watu wenye silaha wameshambulia kijiji, watu 5 wameuawa", "attack_civilians"),
        ("Bato ya mandoki batumbi ndako na mboka", "burning"),
    ],
)
def test_categories(parser, text, category):
    assert parser.parse(text).understanding.category == category


@pytest.mark.parametrize(
    "text",
    [
        "pas d'attaque a Sibut, tout est calme",
        "No attack today in Bria, all is quiet",
        "hakuna shambulio, hali ni shwari",
    ],
)
def test_negated_or_calm_reports_are_other_and_minor(parser, text):
    understanding = parser.parse(text).understanding
    assert (understanding.category, understanding.negated, understanding.severity) == ("other", True, "minor")


def test_counts_read_numbers_and_number_words(parser):
    u = parser.parse("attaque a Bria: 3 morts, deux blessés, une vingtaine d'hommes armés").understanding
    assert (u.counts.dead, u.counts.wounded, u.counts.armed) == (3, 2, 20)


def test_distances_and_times_are_not_counts(parser):
    u = parser.parse("attaque 13 km de Bria depuis 2 h, 4 morts").understanding
    assert u.counts.dead == 4 and u.counts.armed is None and u.counts.wounded is None


def test_noun_first_languages_count_after_the_noun(parser):
    assert parser.parse("babomi bato misato na Bangassou").understanding.counts.dead == 3


def test_weapons(parser):
    u = parser.parse("hommes armés avec kalachnikov et machettes, une roquette tirée").understanding
    assert u.weapons == ["bladed", "firearm", "heavy"]


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("attaque a Bria 5 morts", "extreme"),
        ("attaque a Bria", "severe"),
        ("coups de feu entendus a Bria", "moderate"),
        ("coups de feu a Bria, 1 mort", "severe"),
        ("hommes armés signalés près de Bria", "moderate"),
        ("", "unknown"),
    ],
)
def test_severity(parser, text, severity):
    assert parser.parse(text).understanding.severity == severity


def test_misspellings_still_match(parser):
    assert parser.parse("les rebels ont atake le vilage et brule les maizon").understanding.category in (
        "attack_civilians",
        "burning",
    )
