"""Language detection on short, misspelled messages."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Les hommes armés sont arrivés au village ce matin svp aidez nous", "fr"),
        ("Armed men arrived in the village this morning please help", "en"),
        ("Watu wenye silaha wamefika kijijini asubuhi, tafadhali saidia", "sw"),
        ("Bato ya mandoki bakoti na mboka lelo na tongo", "ln"),
        ("Azo ti bira asi na kodro ndapre so, ala yeke fa zo", "sg"),
        ("مسلحين دخلو القريه الصباح ساعدونا", "ar"),
        ("Gen bandi ki antre nan zone nou an, tanpri ede nou", "ht"),
    ],
)
def test_detects_each_language(parser, text, language):
    assert parser.parse(text).understanding.detected_language == language


def test_preferred_language_wins(parser):
    from app.understanding.service import ReporterContext

    result = parser.parse("Hommes armés à Bria", reporter=ReporterContext(language="sg"))
    assert result.understanding.language == "sg" and result.understanding.detected_language == "fr"


def test_forced_language_wins_over_everything(parser):
    from app.understanding.service import ReporterContext

    result = parser.parse("Hommes armés à Bria", language="en", reporter=ReporterContext(language="sg"))
    assert result.understanding.language == "en"


def test_nothing_recognisable_is_unknown(parser):
    u = parser.parse("12345 !!!").understanding
    assert u.detected_language is None and u.language_confidence == 0
